"""History bookkeeping: the roll API's day windows, which days are complete, which gaps are open.

A channel's listing only reaches back so far (``max_pages`` pages; Sina's own listing stops
at about 50). Older articles are read one Beijing day at a time through the roll API's day
windows (SPEC §2): ``etime`` is the day's start in Unix seconds, ``stime`` = ``ctime`` its
end, ``date`` the day. The spider does the navigation; this module keeps the books:

- :class:`HistoryState` — per channel source, in ``<run-state folder>/history.json``:
  the days known complete (every entry ended stored, known, or dropped/failed for a
  permanent reason), the newest listing time the last clean run reached, and the gaps
  found and not closed yet. Written atomically after every change, so ``kill -9`` at any
  moment leaves the last good version.
- :class:`DayTracker` — during a run, which article requests of which day are still out.
- gap arithmetic and the backfill command that fills a gap.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sinacrawl.channels import ROLL_API, RollSource
from sinacrawl.parsing.dates import BEIJING

logger = logging.getLogger(__name__)

DAY_SECONDS = 86400
STATE_FILE = "history.json"
# Failures a retry in a later run would meet again: the day counts as complete without them.
PERMANENT_FAILURES = frozenset(
    {
        "http_404",
        "http_410",
        "extract_error",
        "offsite",
        "offsite_redirect",
        "redirect_loop",
        "too_many_redirects",
        "too_large",
        "robots",
    }
)

Gap = tuple[int, int]
"""``[from, to)`` in Unix seconds."""


def state_dir(settings: Any) -> Path:
    """The run-state folder (see :mod:`sinacrawl.runstate`)."""
    from sinacrawl.runstate import state_dir as folder

    return folder(settings)


# --- days ------------------------------------------------------------------------------------


def day_of(epoch: float) -> date:
    """The Beijing day of a Unix time.

    >>> day_of(1637573630)
    datetime.date(2021, 11, 22)
    """
    return datetime.fromtimestamp(epoch, BEIJING).date()


def day_start(day: date) -> int:
    """Unix seconds of a Beijing day's midnight.

    >>> day_start(date(2021, 11, 22))
    1637510400
    """
    return int(datetime(day.year, day.month, day.day, tzinfo=BEIJING).timestamp())


def days_between(low: int, high: int) -> list[date]:
    """The Beijing days that overlap ``[low, high)``, newest first.

    >>> days_between(day_start(date(2026, 11, 1)), day_start(date(2026, 11, 3)) + 1)
    [datetime.date(2026, 11, 3), datetime.date(2026, 11, 2), datetime.date(2026, 11, 1)]
    """
    if high <= low:
        return []
    first, last = day_of(low), day_of(high - 1)
    return [last - timedelta(days=n) for n in range((last - first).days + 1)]


def day_url(source: RollSource, day: date, page: int, num: int) -> str:
    """One page of a roll API day window (``etime`` the start, ``stime``/``ctime`` the end).

    >>> day_url(RollSource(155, 1686), date(2021, 11, 22), 2, 50)  # doctest: +ELLIPSIS
    '...?pageid=155&lid=1686&etime=1637510400&stime=1637596800&ctime=1637596800&date=2021-11-22&k=&num=50&page=2'
    """
    start = day_start(day)
    query = {
        "pageid": source.pageid,
        "lid": source.lid,
        "etime": start,
        "stime": start + DAY_SECONDS,
        "ctime": start + DAY_SECONDS,
        "date": day.isoformat(),
        "k": "",
        "num": num,
        "page": page,
    }
    return f"{ROLL_API}?{urlencode(query)}"


def outside_day(times: Iterable[datetime | None], day: date) -> tuple[int, int]:
    """How many of ``times`` fall outside ``day``, and how many were dated at all."""
    start = day_start(day)
    dated = [t.timestamp() for t in times if t is not None]
    return sum(not start <= t < start + DAY_SECONDS for t in dated), len(dated)


# --- gaps ------------------------------------------------------------------------------------


def merge(gaps: Iterable[Gap]) -> list[Gap]:
    """Sorted, with overlapping or touching gaps joined.

    >>> merge([(5, 9), (1, 3), (3, 4), (8, 12)])
    [(1, 4), (5, 12)]
    """
    merged: list[Gap] = []
    for low, high in sorted(g for g in gaps if g[0] < g[1]):
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def subtract(gaps: Iterable[Gap], low: int, high: int) -> list[Gap]:
    """What remains of ``gaps`` once ``[low, high)`` is covered.

    >>> subtract([(1, 10), (20, 30)], 5, 25)
    [(1, 5), (25, 30)]
    """
    left: list[Gap] = []
    for a, b in gaps:
        left += [(a, min(b, low)), (max(a, high), b)]
    return merge(left)


def whole_days(gap: Gap) -> tuple[date, date]:
    """The ``since`` and ``until`` dates of the whole days that cover a gap."""
    since = day_of(gap[0])
    last = day_of(gap[1] - 1)
    return since, last + timedelta(days=1)


def backfill_command(channel: str, gap: Gap) -> str:
    """The command that fills ``gap`` of ``channel``.

    >>> backfill_command("china", (day_start(date(2026, 10, 1)) + 600, day_start(date(2026, 10, 20))))
    'scrapy crawl finance -a channels=china -a since=2026-10-01 -a until=2026-10-20'
    """
    since, until = whole_days(gap)
    return f"scrapy crawl finance -a channels={channel} -a since={since} -a until={until}"


def describe(gap: Gap) -> dict[str, str]:
    """A gap for the run summary: its Beijing times."""
    return {
        "from": datetime.fromtimestamp(gap[0], BEIJING).isoformat(),
        "to": datetime.fromtimestamp(gap[1], BEIJING).isoformat(),
    }


# --- what survives the run -------------------------------------------------------------------


class HistoryState:
    """Per listing source: complete days, the newest time a clean run reached, open gaps."""

    def __init__(self, path: Path | None, data: dict[str, Any] | None = None) -> None:
        self.path = path
        self.streams: dict[str, dict[str, Any]] = (data or {}).get("streams", {})

    @classmethod
    def load(cls, path: Path) -> HistoryState:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("streams", {}), dict):
                raise ValueError("not a history state object")
        except FileNotFoundError:
            data = {}
        except (OSError, ValueError) as exc:
            logger.warning("ignoring unreadable %s (%s): no day counts as complete", path, exc)
            data = {}
        return cls(path, data)

    def _stream(self, key: str) -> dict[str, Any]:
        stream = self.streams.setdefault(key, {})
        if not isinstance(stream, dict):
            stream = self.streams[key] = {}
        return stream

    def complete_days(self, key: str) -> set[str]:
        days = self._stream(key).get("complete", [])
        return {str(d) for d in days} if isinstance(days, list) else set()

    def is_complete(self, key: str, day: date) -> bool:
        return day.isoformat() in self.complete_days(key)

    def mark_complete(self, key: str, day: date) -> None:
        days = self.complete_days(key) | {day.isoformat()}
        self._stream(key)["complete"] = sorted(days)
        self.save()

    def newest_clean(self, key: str) -> int | None:
        value = self._stream(key).get("newest_clean")
        return int(value) if isinstance(value, (int, float)) and value > 0 else None

    def set_newest_clean(self, key: str, epoch: int) -> None:
        self._stream(key)["newest_clean"] = int(epoch)

    def gaps(self, key: str) -> list[Gap]:
        raw = self._stream(key).get("gaps", [])
        found = (
            [(int(g[0]), int(g[1])) for g in raw if isinstance(g, list) and len(g) == 2]
            if isinstance(raw, list)
            else []
        )
        return merge(found)

    def set_gaps(self, key: str, gaps: Iterable[Gap]) -> None:
        self._stream(key)["gaps"] = [list(g) for g in merge(gaps)]

    def save(self) -> None:
        if self.path is None:
            return
        from sinacrawl.archive import atomic_write

        data = json.dumps({"streams": self.streams}, ensure_ascii=False, sort_keys=True)
        try:
            atomic_write(self.path, data.encode("utf-8"), 0o644)  # makes a missing folder
        except OSError as exc:
            logger.error("cannot record history state in %s: %s", self.path, exc)


# --- during the run --------------------------------------------------------------------------


@dataclass
class Bucket:
    """The article requests one day (or one stretch of a listing walk) of one source made."""

    pending: set[str] = field(default_factory=set)
    pages_done: bool = False
    failed: int = 0
    """Articles that failed for a reason a later run may not meet again."""


BucketKey = tuple[int, str]
"""(stream index, day as ISO date, or "walk")."""


class DayTracker:
    """Which article requests of which bucket are still out; calls ``on_done`` once a
    bucket's pages are all read and every article it requested has an outcome."""

    def __init__(self, on_done: Callable[[BucketKey, Bucket], None]) -> None:
        self.on_done = on_done
        self.open: dict[BucketKey, Bucket] = {}
        self.owner: dict[str, BucketKey] = {}
        self.pending = Counter[int]()  # per stream
        self.failed = Counter[int]()  # per stream: transient failures, whatever the bucket

    def bucket(self, key: BucketKey) -> Bucket:
        return self.open.setdefault(key, Bucket())

    def add(self, key: BucketKey, doc_id: str) -> None:
        """An article request for ``doc_id`` is on its way."""
        if doc_id in self.owner:
            return
        self.bucket(key).pending.add(doc_id)
        self.owner[doc_id] = key
        self.pending[key[0]] += 1

    def pages_done(self, key: BucketKey) -> None:
        """Every listing page of the bucket was read: nothing more will be added."""
        self.bucket(key).pages_done = True
        self._check(key)

    def resolve(self, doc_id: str, outcome: str) -> int | None:
        """An article ended (``outcome`` as the accounting counts it: ``stored``,
        ``failed/timeout``…); the stream it belonged to, None when not tracked."""
        key = self.owner.pop(doc_id, None)
        if key is None:
            return None
        bucket = self.open[key]
        bucket.pending.discard(doc_id)
        self.pending[key[0]] -= 1
        group, _, reason = outcome.partition("/")
        if group == "failed" and reason not in PERMANENT_FAILURES:
            bucket.failed += 1
            self.failed[key[0]] += 1
        self._check(key)
        return key[0]

    def _check(self, key: BucketKey) -> None:
        bucket = self.open.get(key)
        if bucket is not None and bucket.pages_done and not bucket.pending:
            del self.open[key]
            self.on_done(key, bucket)

    def unfinished(self, stream: int) -> list[str]:
        """Buckets of ``stream`` still open (the run ends before they did)."""
        return sorted(day for (index, day) in self.open if index == stream)
