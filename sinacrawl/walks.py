"""Where a listing stream goes next, and what its run covered: the finance spider's decisions.

A stream (one listing source of one channel) is first *walked*: its newest pages, up to
``max_pages``. The part of the range the walk did not reach is then read through the roll
API's *day windows* (one Beijing day at a time), or, for a source without them, by walking
on *deeper*. The spider only navigates: it asks a :class:`Plan` what to do with a
:class:`StreamRun` and sends the request the answer names. Everything here is plain data
(no crawler, no requests), so each decision has a unit test of its own.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any

from sinacrawl.channels import Channel, RollSource, Source
from sinacrawl.history import (
    DAY_SECONDS,
    Gap,
    day_start,
    days_between,
    merge,
    outside_day,
    subtract,
)
from sinacrawl.parsing.dates import BEIJING
from sinacrawl.parsing.listing import ListingPage
from sinacrawl.spiderargs import Window

WALK, DAYS, DEEPER, DONE = "walk", "days", "deeper", "done"
LISTING_BUCKETS = (WALK, DEEPER)
"""Tracker buckets of listing pages rather than days."""


class Step(Enum):
    """What a stream does next (see :meth:`StreamRun.next_step`)."""

    WAIT = "wait"
    """Nothing now: its queue is still full, a listing request is out, or it is walking."""
    HELD = "held"
    """Send the walk's next page, held back until the queue drained."""
    DAY = "day"
    """Read the next day window."""
    DEEPER = "deeper"
    """Read the next page of the deeper walk."""
    END = "end"
    """Nothing left to list: the stream is done."""


class DayOutcome(Enum):
    """How a tracker bucket ended (see :meth:`Plan.bucket_done`)."""

    LISTING = "listing"
    """A walk's or deeper walk's bucket: no day to count."""
    INCOMPLETE = "incomplete"
    """A day with an article that may succeed next time: it stays a gap."""
    READ = "read"
    """A day read completely, but not one that counts as complete (partial or not over)."""
    COMPLETE = "complete"
    """A day read completely that later runs need not read again."""


@dataclass(frozen=True)
class Limits:
    """How far a stream goes, and how much of it is queued at once."""

    max_pages: int = 3
    """Listing pages the walk reads (``-a max_pages``)."""
    catchup_days: int = 7
    """Day windows a cron run reads to close a gap (``SINACRAWL_CATCHUP_DAYS``)."""
    history_max_pages: int = 200
    """Pages of one day window, or of a deeper walk (``SINACRAWL_HISTORY_MAX_PAGES``)."""
    low_water: int = 32
    """A stream's next listing page or day goes out once this few of its articles are left."""

    @classmethod
    def from_settings(cls, settings: Any, *, max_pages: int, num: int) -> Limits:
        """The limits of a crawl; ``num`` is the roll API's page size."""
        return cls(
            max_pages=max_pages,
            catchup_days=max(0, settings.getint("SINACRAWL_CATCHUP_DAYS", 7)),
            history_max_pages=max(1, settings.getint("SINACRAWL_HISTORY_MAX_PAGES", 200)),
            # The queue holds a few pages or about one day, never the whole range.
            low_water=max(2 * num, 2 * settings.getint("CONCURRENT_REQUESTS", 16)),
        )


@dataclass(frozen=True)
class Stream:
    """One listing source of one channel, read page by page."""

    index: int
    channel: Channel
    source: Source

    @property
    def key(self) -> str:
        """How the history state names this source: ``china/155-1686``."""
        if isinstance(self.source, RollSource):
            return f"{self.channel.name}/{self.source.pageid}-{self.source.lid}"
        return f"{self.channel.name}/html"


@dataclass
class StreamRun:
    """How far one stream got in this run: the listing walk, then day windows or a
    deeper walk for the part of the range the walk did not reach."""

    phase: str = WALK
    """walk (the newest pages), days (day windows), deeper (walking on), done."""
    newest: int | None = None
    """Newest listing time on the first page (Unix seconds)."""
    reach: int | None = None
    """Oldest listing time the walk reached."""
    last_page: int = 0
    next_url: str | None = None
    low: int = 0
    """The history part, ``[low, high)``: what the walk did not reach."""
    high: int = 0
    days: deque[date] = field(default_factory=deque)
    held: Any = None
    """The walk's next page, held back until the stream's queue has drained."""
    deeper_page: int | None = None
    """The next page of a walk past ``max_pages``, sent once the queue has drained."""
    awaiting: bool = False
    """A listing request of this stream is out."""
    windows: bool | None = None
    """Whether the source honours day windows; None until its first day page."""
    listing_failed: bool = False
    walk_ended: str = ""
    gaps: list[Gap] = field(default_factory=list)
    unread: Gap | None = None
    """The range a failed walk left unread (found again by the next run)."""
    covered: list[Gap] = field(default_factory=list)
    """What this run read completely (complete days, a deeper walk that reached ``low``)."""
    days_total: int = 0
    days_complete: int = 0
    days_incomplete: list[str] = field(default_factory=list)

    def note_page(self, page: ListingPage, page_no: int, deeper: bool) -> None:
        """A listing page was read: how far back (and, on the first, how new) it went."""
        times = [int(e.ctime.timestamp()) for e in page.entries if e.ctime is not None]
        self.last_page = page_no
        self.next_url = page.next_url
        if not times:
            return
        if page_no == 1 and not deeper:
            self.newest = max(times)
        self.reach = min(times) if self.reach is None else min(self.reach, *times)

    def rest(self) -> Gap:
        """The part of ``[low, high)`` older than what the stream reached."""
        return self.low, self.reach or self.high

    def day_part(self, day: date) -> Gap:
        """The part of ``[low, high)`` that lies in ``day``."""
        start = day_start(day)
        return max(start, self.low), min(start + DAY_SECONDS, self.high)

    def send_or_hold(self, request: Any, pending: int, low_water: int) -> bool:
        """The walk's next page is out (True: send it now) or held while more than
        ``low_water`` of the stream's articles are ``pending``: listings go first
        (priority), so sent now, every page's entries would be queued before the first
        article is fetched."""
        self.awaiting = True
        if pending > low_water:
            self.held = request
            return False
        return True

    def ignores_windows(self, times: Iterable[datetime | None], day: date) -> bool:
        """Whether the source ignores day windows, judged once, by the first day page with
        dated entries (``times``): most of them lie outside the ``day`` it asked for."""
        if self.windows is not None:
            return False
        outside, dated = outside_day(times, day)
        if not dated:
            return False
        self.windows = outside * 2 <= dated
        return not self.windows

    def drop_days(self) -> None:
        """The source ignores day windows: none will be read."""
        self.awaiting = False
        self.days.clear()
        self.days_total = 0

    def next_step(self, pending: int, low_water: int) -> Step:
        """What the stream does now that ``pending`` of its articles are still out."""
        if pending > low_water:
            return Step.WAIT
        if self.held is not None:
            return Step.HELD
        if self.phase not in (DAYS, DEEPER) or self.awaiting:
            return Step.WAIT
        if self.phase == DAYS and self.days:
            return Step.DAY
        if self.phase == DEEPER and self.deeper_page is not None:
            return Step.DEEPER
        return Step.END

    def take_held(self) -> Any:
        """The held walk page, no longer held."""
        request, self.held = self.held, None
        return request

    def take_day(self) -> date:
        """The next day window to read (its request is then out)."""
        self.awaiting = True
        return self.days.popleft()

    def take_deeper_page(self) -> int:
        """The next deeper page to read (its request is then out)."""
        assert self.deeper_page is not None
        page, self.deeper_page = self.deeper_page, None
        self.awaiting = True
        return page

    def day_counts(self) -> dict[str, int]:
        """Days complete, incomplete (or never read) and planned, for the run summary."""
        return {
            "days_complete": self.days_complete,
            "days_incomplete": len(self.days_incomplete) + len(self.days),
            "days_total": self.days_total,
        }


@dataclass(frozen=True)
class Closing:
    """A stream's books at the end of the run."""

    stored: list[Gap]
    """The gaps to record for later runs."""
    open: list[Gap]
    """The gaps to report (also what a failed walk left unread)."""
    newest_clean: int | None
    """The new mark of the newest clean run, None to leave it where it was."""


@dataclass(frozen=True)
class Plan:
    """The decisions of one crawl's streams: its window and its limits."""

    window: Window = field(default_factory=Window)
    limits: Limits = Limits()

    @property
    def backfill(self) -> bool:
        """A since= run reaches back through day windows; a cron run closes gaps with them."""
        return self.window.since is not None

    # --- the walk ---

    def position(self, run: StreamRun, when: datetime | None, deeper: bool) -> int:
        """Where a listing time lies: -1 older than the window (on a deeper walk, than the
        ``low`` it reads back to), 0 to be read (or unknown), 1 newer than the window."""
        if deeper and when is not None and when.timestamp() < run.low:
            return -1
        return self.window.position(when)

    def walk_on(self, run: StreamRun, page: ListingPage, page_no: int, older: int) -> bool:
        """Whether the walk reads the page after ``page_no``; if not, ``run.walk_ended``
        says why (``older``, ``end``, ``ahead``, ``max_pages``)."""
        if older:  # newest first: the rest of this listing is older than the window
            run.walk_ended = "older"
            return False
        run.walk_ended = "end"
        if not page.has_more:
            return False
        until = self.window.until
        if self.backfill and until is not None and run.reach and run.reach >= until.timestamp():
            run.walk_ended = "ahead"  # the whole range is older: day windows go straight there
            return False
        if page_no >= self.limits.max_pages:
            run.walk_ended = "max_pages"
            return False
        return True

    def history_range(
        self, run: StreamRun, why: str, newest_clean: int | None, now: int
    ) -> Gap | None:
        """``[low, high)`` still to read after a walk that ended for ``why``, or None.

        A backfill reads its whole window; a cron run reads back to where the last clean
        run stopped (``newest_clean``), unless the walk met articles already stored.
        """
        if why == "older":
            return None
        if self.backfill:
            assert self.window.since is not None
            high = int(self.window.until.timestamp()) if self.window.until else None
            if run.reach is not None:
                high = run.reach if high is None else min(high, run.reach)
            if high is None:  # the first page said nothing: the whole range
                high = now
            return int(self.window.since.timestamp()), high
        if newest_clean is None or why == "known":
            return None
        high = run.reach if run.reach is not None else now
        return (newest_clean, high) if high > newest_clean else None

    def plan_days(self, run: StreamRun, complete: set[str]) -> int:
        """Queue the day windows of ``[low, high)``, skipping days ``complete`` in earlier
        runs; a cron run reads at most ``catchup_days`` and records the rest as a gap.
        Returns how many days the range has (after that cap)."""
        days = days_between(run.low, run.high)
        if not self.backfill and len(days) > self.limits.catchup_days:
            kept = days[: self.limits.catchup_days]
            oldest = day_start(kept[-1]) if kept else run.high
            run.gaps.append((run.low, oldest))
            days = kept
        for day in days:
            if day.isoformat() in complete:
                run.covered.append((day_start(day), day_start(day) + DAY_SECONDS))
        run.days = deque(d for d in days if d.isoformat() not in complete)
        run.days_total = len(run.days)
        run.phase = DAYS
        return len(days)

    def deeper_step(
        self, run: StreamRun, page: ListingPage | None, page_no: int, older: int, html: bool
    ) -> str:
        """After deeper page ``page_no`` (0 and None: none yet): ``next`` (``run.deeper_page``
        names it), ``reached`` (``low`` or the listing's true end), ``short`` (the listing
        stops before ``low``), ``max_pages`` or ``no_next`` (an HTML page without a next
        link); all but ``next`` leave the rest a gap unless it was reached."""
        run.deeper_page = None
        if older or (page is not None and not page.has_more):
            if older or (page is not None and page.entries):
                run.covered.append((run.low, run.high))
                return "reached"
            run.gaps.append(run.rest())  # an empty page before ``low``
            return "short"
        if page_no >= self.limits.history_max_pages:
            run.gaps.append(run.rest())
            return "max_pages"
        if html and page_no and not run.next_url:
            run.gaps.append(run.rest())
            return "no_next"
        run.deeper_page = page_no + 1
        return "next"

    # --- the books ---

    def bucket_done(self, run: StreamRun, name: str, failed: int) -> DayOutcome:
        """A tracker bucket (``walk``, ``deeper`` or an ISO day) ended with ``failed``
        articles a later run may read: what the run covered, and how the day counts."""
        walked = not (failed or run.listing_failed or run.reach is None)
        if name == WALK and walked and run.newest is not None:
            assert run.reach is not None
            run.covered.append((run.reach, run.newest + 1))  # every page read and done
        if name in LISTING_BUCKETS:
            return DayOutcome.LISTING
        day = date.fromisoformat(name)
        if failed:
            run.days_incomplete.append(name)
            run.gaps.append(run.day_part(day))
            return DayOutcome.INCOMPLETE
        start = day_start(day)
        # Complete only when it lies wholly in the range, and is over (later entries exist).
        whole = self.window.position(datetime.fromtimestamp(start, BEIJING)) == 0 and (
            self.window.until is None or start + DAY_SECONDS <= self.window.until.timestamp()
        )
        over = run.newest is not None and start + DAY_SECONDS <= run.newest
        run.covered.append(run.day_part(day))
        if whole and over:
            run.days_complete += 1
            return DayOutcome.COMPLETE
        return DayOutcome.READ

    def close(
        self,
        run: StreamRun,
        *,
        unfinished: Iterable[str],
        known: Iterable[Gap],
        newest_clean: int | None,
        articles_failed: bool,
        reason: str,
    ) -> Closing:
        """The stream's books when the run ends for ``reason``: ``unfinished`` buckets and
        days never read are gaps, added to the ``known`` ones, less what the run covered.
        The newest-clean mark moves only after a clean walk (no listing or article failed)."""
        for name in unfinished:
            if name not in LISTING_BUCKETS:
                run.days_incomplete.append(name)
                run.gaps.append(run.day_part(date.fromisoformat(name)))
        for day in run.days:  # never listed: the run ended first
            run.gaps.append(run.day_part(day))
        if run.phase in (WALK, DEEPER) and run.low < run.high and reason != "finished":
            run.gaps.append(run.rest())
        stored = merge([*known, *run.gaps])
        for low, high in merge(run.covered):
            stored = subtract(stored, low, high)
        found = merge([*stored, run.unread]) if run.unread is not None else stored
        clean = (
            run.newest is not None
            and not run.listing_failed
            and not articles_failed
            and reason == "finished"
        )
        last = newest_clean
        # A cron run closed or recorded every gap behind its walk; a backfill may have
        # jumped over the newest part, so it moves the mark only when its walk reached it.
        moves = not self.backfill or (
            last is not None and run.reach is not None and run.reach <= last
        )
        mark = None
        if clean and moves and run.newest is not None and (last is None or run.newest > last):
            mark = run.newest
        return Closing(stored, found, mark)
