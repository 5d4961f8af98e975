"""The ``finance`` spider: walks the listings of named channels, requests each new article.

Navigation only: listings are parsed by :mod:`sinacrawl.parsing.listing`, pages by the
extractor (``sinacrawl.loaders.build_article``). Arguments (all optional)::

    -a channels=china,macro   channel names, in priority order (default: china)
    -a since=2026-11-01       Beijing time, inclusive; a date means its midnight
    -a until=2026-11-27T12:00 Beijing time, exclusive
    -a max_pages=3            listing pages read per channel source
    -a num=50                 entries per roll API page
    -a refresh=1              download articles even when already stored

Channels are read one after another, so an article listed in two channels is requested once
(a later listing of its doc_id is counted as a duplicate, not requested) and carries the
first channel's categories.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

import scrapy
from scrapy import signals
from scrapy.exceptions import DontCloseSpider, UsageError

from sinacrawl.channels import Channel, HtmlSource, RollSource, Source, UnknownChannel, get_channels
from sinacrawl.config import problems
from sinacrawl.exceptions import DropArticle
from sinacrawl.extensions.accounting import (
    article_counted,
    failure_reason,
    report,
    report_relisted,
)
from sinacrawl.extractors import ExtractionPool
from sinacrawl.guards import listing_limit, note_listing_problems
from sinacrawl.history import (
    DAY_SECONDS,
    STATE_FILE,
    Bucket,
    BucketKey,
    DayTracker,
    Gap,
    HistoryState,
    backfill_command,
    day_start,
    day_url,
    describe,
    state_dir,
)
from sinacrawl.loaders import template_of
from sinacrawl.parsing.dates import parse_stored
from sinacrawl.parsing.flash import is_feed_url
from sinacrawl.parsing.listing import (
    LidCheck,
    ListingEntry,
    ListingError,
    ListingPage,
    parse_html_listing,
    parse_roll_api,
)
from sinacrawl.parsing.urls import doc_id_from_url
from sinacrawl.spiderargs import Window, check_no_unknown_args, parse_bool, parse_int
from sinacrawl.state import CompactIdSet, KnownArticles
from sinacrawl.walks import DayOutcome, Limits, Plan, Step, Stream, StreamRun

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)

SINA_DOMAINS = ["sina.com.cn", "sina.cn"]
LISTING_PRIORITY = 10  # listings first: they decide what else is fetched
LISTINGS = "sinacrawl/listings/"
HISTORY = "sinacrawl/history/"
TEMPLATES = "sinacrawl/templates/"  # pages read per template (generic: the fallback)


# --- helpers ---------------------------------------------------------------------------------


def published_at(item: Any) -> datetime | None:
    """The item's ``published_at`` (an ISO string) as a datetime, None when absent or bad."""
    return parse_stored(item.get("published_at") if hasattr(item, "get") else None)


def check_settings(crawler: Crawler) -> None:
    """Settings a spider depends on, validated before anything is fetched (the ``crawl``
    command has checked them already; other ways of starting a crawl have not)."""
    bad = list(problems(crawler.settings))
    if bad:
        raise UsageError("; ".join(bad))


# --- the shared article step ------------------------------------------------------------------


class ArticleSpiderBase(scrapy.Spider):
    """Article requests, the extraction call and failure reporting shared by both spiders."""

    allowed_domains = SINA_DOMAINS
    refresh: bool = False
    window: Window = Window()

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> ArticleSpiderBase:
        check_settings(crawler)
        return super().from_crawler(crawler, *args, **kwargs)

    def article_request(self, entry: ListingEntry, channel: str, categories: Iterable[str]):
        return scrapy.Request(
            entry.url,
            callback=self.parse_article,
            errback=self.article_failed,
            meta={
                "listing": entry,
                "doc_id": entry.doc_id,
                "channel": channel,
                "categories": list(categories),
            },
        )

    @property
    def extraction(self) -> ExtractionPool:
        """This crawl's extraction pool (worker processes, or inline), made on first use."""
        pool = getattr(self, "_extraction", None)
        if pool is None:
            pool = self._extraction = ExtractionPool.from_crawler(self.crawler)
        return pool

    async def parse_article(self, response: Response) -> AsyncIterator[Any]:
        meta = response.meta
        content_type = response.headers.get(b"Content-Type")
        try:
            item = await self.extraction.extract(
                response.body,
                response.url,
                content_type=content_type.decode("latin-1") if content_type else None,
                listing=meta.get("listing"),
                categories=meta.get("categories") or (),
                crawled_at=datetime.now(timezone.utc),
            )
        except DropArticle as exc:
            self.logger.warning("Dropped %s: %s", response.url, exc)
            report(self.crawler, response.request, "dropped", exc.reason)
            return
        except Exception as exc:
            # One unreadable page must not stop the crawl; it is counted and shown in full.
            self.logger.error("Could not extract %s: %r", response.url, exc, exc_info=True)
            report(self.crawler, response.request, "failed", "extract_error")
            return
        template = template_of(item)
        if template:
            self.crawler.stats.inc_value(TEMPLATES + template)
        when = published_at(item)
        if self.window.position(when) != 0:
            self.logger.info(
                "Skipped %s: published %s, outside %s", response.url, when, self.window
            )
            report(self.crawler, response.request, "dropped", "out_of_window")
            return
        yield item

    def article_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        reason = failure_reason(failure.value)
        self.logger.warning("Article %s failed (%s): %s", request.url, reason, failure.value)
        report(self.crawler, request, "failed", reason)


# --- the finance spider -----------------------------------------------------------------------


class FinanceSpider(ArticleSpiderBase):
    """Crawl the listings of the named channels and every new article they announce."""

    name = "finance"

    def __init__(
        self,
        channels: str | None = None,
        since: str | None = None,
        until: str | None = None,
        max_pages: str | int | None = None,
        num: str | int | None = None,
        refresh: str | bool | None = None,
        **kwargs: Any,
    ) -> None:
        check_no_unknown_args(
            self.name, kwargs, ("channels", "since", "until", "max_pages", "num", "refresh")
        )
        super().__init__(**kwargs)
        try:
            self.channels = get_channels(channels)
        except UnknownChannel as exc:
            raise UsageError(str(exc)) from None
        self.window = Window.from_args(since, until)
        self.max_pages = parse_int("max_pages", max_pages, default=3, low=1, high=1000)
        # The roll API serves at most 50 a page; asking for more would skew its paging.
        self.num = parse_int("num", num, default=50, low=1, high=50)
        self.refresh = parse_bool("refresh", refresh)
        self.streams = [
            Stream(i, channel, source)
            for i, (channel, source) in enumerate((c, s) for c in self.channels for s in c.sources)
        ]
        self._started: set[int] = set()
        self._answered: set[int] = set()
        self._idle_starts: dict[int, int] = {}
        # doc_ids requested in this run, at 8 bytes each: a year's backfill is 70,000 of them
        self._listed = CompactIdSet()
        self._lid_check = LidCheck()
        # per channel: listing pages read, entries seen, article requests made
        self.tally: dict[str, Counter[str]] = {c.name: Counter() for c in self.channels}
        self.plan = Plan(self.window, Limits(max_pages=self.max_pages))
        self._runs: list[StreamRun] = []
        self.tracker = DayTracker(self._bucket_done)
        self.history = HistoryState(None)
        self._warned_windows: set[int] = set()
        self._report: dict[str, Any] | None = None

    @property
    def backfill(self) -> bool:
        """A since= run reaches back through day windows; a cron run closes gaps with them."""
        return self.plan.backfill

    @property
    def runs(self) -> list[StreamRun]:
        """Each stream's progress in this run (a subclass may set its own ``streams``)."""
        while len(self._runs) < len(self.streams):
            self._runs.append(StreamRun())
        return self._runs

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> FinanceSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(spider.article_counted, signal=article_counted)
        settings = crawler.settings
        spider.history = HistoryState.load(state_dir(settings) / STATE_FILE)
        limits = Limits.from_settings(settings, max_pages=spider.max_pages, num=spider.num)
        spider.plan = Plan(spider.window, limits)
        return spider  # type: ignore[return-value]

    @classmethod
    def handles_request(cls, request: scrapy.Request) -> bool:
        """Listing pages on Sina hosts; article pages belong to ``article`` (``scrapy shell``
        asks every spider, and logs an error when two say yes)."""
        # Not the spiders built on this one (stock): they need arguments a shell cannot give.
        if cls is not FinanceSpider:
            return False
        return (
            super().handles_request(request)
            and doc_id_from_url(request.url) is None
            and not is_feed_url(request.url)  # the live spider's
        )

    async def start(self) -> AsyncIterator[Any]:
        self.logger.info(
            "Channels %s, window %s, up to %d listing pages each%s",
            ", ".join(c.name for c in self.channels),
            self.window,
            self.max_pages,
            ", older days through day windows" if self.backfill else "",
        )
        request = self._start_stream(0)
        if request is not None:
            yield request

    # --- listings ---

    def listing_request(self, stream: Stream, page: int, url: str | None = None, **meta: Any):
        if url is None:
            source = stream.source
            url = source.page_url(page, self.num) if isinstance(source, RollSource) else source.url
        return scrapy.Request(
            url,
            callback=self.parse_listing,
            errback=self.listing_failed,
            priority=LISTING_PRIORITY,
            dont_filter=True,  # listings are re-read on every run
            meta={
                "listing_page": page,
                "channel": stream.channel.name,
                "stream": stream.index,
                **meta,
            },
        )

    def _start_stream(self, index: int):
        """The first listing request of stream ``index`` (None past the last stream)."""
        if index >= len(self.streams):
            return None
        self._started.add(index)
        self.runs[index].awaiting = True
        return self.listing_request(self.streams[index], 1)

    def _end_stream(self, index: int) -> Iterator[Any]:
        """A stream is done: start the next one unless it has started already."""
        self.runs[index].phase = "done"
        if index + 1 < len(self.streams) and index + 1 not in self._started:
            yield self._start_stream(index + 1)

    def parse_listing(self, response: Response) -> Iterator[Any]:
        stream = self.streams[response.meta["stream"]]
        run = self.runs[stream.index]
        deeper = "deeper_page" in response.meta
        page_no = int(response.meta["deeper_page" if deeper else "listing_page"])
        self._answered.add(stream.index)
        run.awaiting = False
        try:
            page = self._parse_page(stream.source, response, page_no)
            if isinstance(stream.source, RollSource):
                self._lid_check(stream.channel.name, stream.source.lid, page)
        except ListingError as exc:
            self.crawler.stats.inc_value(LISTINGS + "failed/malformed")
            self.logger.error(
                "Malformed listing %s (channel %s, page %d): %s",
                response.url,
                stream.channel.name,
                page_no,
                exc,
            )
            yield from self._listing_lost(stream.index)
            return
        note_listing_problems(self.crawler, page, response.url)
        stats = self.crawler.stats
        stats.inc_value(LISTINGS + "pages")
        stats.inc_value(LISTINGS + "entries", len(page.entries))
        tally = self.tally[stream.channel.name]
        tally.update(pages=1, entries=len(page.entries))
        if page.skipped:
            stats.inc_value(LISTINGS + "entries_skipped", page.skipped)
        run.note_page(page, page_no, deeper)
        waiting = self.tracker.pending[stream.index]  # articles of earlier pages still out
        older = 0
        bucket = (stream.index, "deeper" if deeper else "walk")
        for entry in page.entries:
            position = self.plan.position(run, entry.ctime, deeper)
            if position < 0:
                older += 1
            if position != 0:
                stats.inc_value(LISTINGS + "out_of_window")
                continue
            request = self._entry_request(entry, stream, bucket)
            if request is not None:
                yield request
        if deeper:
            yield from self._deeper_next(stream, page, page_no, older)
            return
        next_request = self._next_page(stream, page, page_no, older)
        if next_request is None:
            yield from self._after_walk(stream.index, run.walk_ended)
        elif run.send_or_hold(next_request, waiting, self.plan.limits.low_water):
            yield next_request

    def _entry_request(self, entry: ListingEntry, stream: Stream, bucket: BucketKey):
        """The article request for a listing entry (None: no doc_id, or listed before),
        tracked in ``bucket`` unless the incremental middleware will skip it as stored."""
        if not entry.doc_id:
            self.crawler.stats.inc_value(LISTINGS + "entries_skipped")
            return None
        tally = self.tally[stream.channel.name]
        request = self._request_once(entry, stream.channel)
        tally["requested" if request is not None else "relisted"] += 1
        if request is not None and not self._known(entry):
            self.tracker.add(bucket, entry.doc_id)
        return request

    def _known(self, entry: ListingEntry) -> bool:
        """What the incremental middleware will decide: stored and unchanged."""
        if self.refresh or not entry.doc_id:
            return False
        return KnownArticles.from_crawler(self.crawler).is_current(entry.doc_id, entry.mtime)

    def _parse_page(self, source: Source, response: Response, page_no: int) -> ListingPage:
        limit = listing_limit(self.crawler.settings)
        if isinstance(source, RollSource):
            return parse_roll_api(response.body, page=page_no, num=self.num, limit=limit)
        text = response.text if isinstance(response, scrapy.http.TextResponse) else response.body
        return parse_html_listing(text, response.url, limit=limit)

    def _request_once(self, entry: ListingEntry, channel: Channel):
        """The article request, or None (reported as a duplicate) for a doc_id listed before
        in this run: the first listing, in channel order, decides its categories."""
        key = entry.doc_id or entry.url
        if not self._listed.add(key):
            report_relisted(self.crawler, key)
            return None
        return self.article_request(entry, channel.name, channel.categories)

    def _next_page(self, stream: Stream, page: ListingPage, page_no: int, older: int):
        """The walk's next listing request, None when the walk stops here."""
        run = self.runs[stream.index]
        if not self.plan.walk_on(run, page, page_no, older):
            if run.walk_ended == "max_pages":
                self.logger.info(
                    "Channel %s: stopped after max_pages=%d; the listing goes on%s",
                    stream.channel.name,
                    self.max_pages,
                    "" if self.backfill else " (gaps are closed through day windows)",
                )
                self.crawler.stats.inc_value(LISTINGS + "max_pages_reached")
            return None
        if isinstance(stream.source, HtmlSource):
            if not page.next_url:
                return None
            return self.listing_request(stream, page_no + 1, page.next_url)
        return self.listing_request(stream, page_no + 1)

    def listing_failed(self, failure: Failure) -> Iterator[Any]:
        request = failure.request  # type: ignore[attr-defined]
        index = request.meta["stream"]
        self._answered.add(index)
        self.runs[index].awaiting = False
        reason = failure_reason(failure.value)
        self.crawler.stats.inc_value(f"{LISTINGS}failed/{reason}")
        day = request.meta.get("day")
        self.logger.error(
            "Listing %s (channel %s%s) failed (%s): %s",
            request.url,
            request.meta.get("channel"),
            f", day window {day}" if day else "",
            reason,
            failure.value,
        )
        if day:
            yield from self._day_lost(index, date.fromisoformat(day))
        else:
            yield from self._listing_lost(index)

    def _listing_lost(self, index: int) -> Iterator[Any]:
        """A listing page could not be read: what it would have led to is a gap."""
        run = self.runs[index]
        run.listing_failed = True
        if run.phase == "walk":
            run.walk_ended = "failed"
            yield from self._after_walk(index, "failed")
        else:  # a deeper page: the rest of the range stays unread
            run.gaps.append(run.rest())
            yield from self._advance(index)

    # --- history: the part of the range the walk did not reach ---

    def _after_walk(self, index: int, why: str) -> Iterator[Any]:
        """The walk is over: read what it did not reach (day windows, or deeper pages), else
        end the stream."""
        stream, run = self.streams[index], self.runs[index]
        if run.phase != "walk":
            return
        self.tracker.pages_done((index, "walk"))
        now = int(datetime.now(timezone.utc).timestamp())
        span = self.plan.history_range(run, why, self.history.newest_clean(stream.key), now)
        if span is None or span[0] >= span[1]:
            yield from self._end_stream(index)
            return
        run.low, run.high = span
        if why == "failed":
            # The listing is unreliable right now. Reported, not stored: the mark of the
            # last clean run stays where it was, and the next run finds the same gap again.
            run.unread = span
            yield from self._end_stream(index)
            return
        if not self.backfill:
            self.logger.info(
                "Channel %s: the listing does not reach back to where the last clean run "
                "stopped (%s): closing the gap",
                stream.channel.name,
                describe(span)["from"],
            )
        if not isinstance(stream.source, RollSource):
            yield from self._go_deeper(
                index, "it has no day windows (an HTML listing)", level=logging.INFO
            )
            return
        days = self.plan.plan_days(run, self.history.complete_days(stream.key))
        self.crawler.stats.inc_value(HISTORY + "days_total", run.days_total)
        if days > run.days_total:
            self.logger.info(
                "Channel %s: %d of %d days complete from earlier runs, not read again",
                stream.channel.name,
                days - run.days_total,
                days,
            )
        yield from self._advance(index)

    def _advance(self, index: int) -> Iterator[Any]:
        """The stream's next listing request (a held walk page, a day window, a deeper
        page) once its queue has drained enough; the next stream's start once it has
        nothing left to list."""
        stream, run = self.streams[index], self.runs[index]
        step = run.next_step(self.tracker.pending[index], self.plan.limits.low_water)
        if step is Step.HELD:
            yield run.take_held()
        elif step is Step.DAY:
            yield self.day_request(stream, run.take_day(), 1)
        elif step is Step.DEEPER:
            yield self.deeper_request(stream, run.take_deeper_page())
        elif step is Step.END:
            if run.phase == "deeper":
                self.tracker.pages_done((index, "deeper"))
            yield from self._end_stream(index)

    def day_request(self, stream: Stream, day: date, page: int):
        assert isinstance(stream.source, RollSource)
        return scrapy.Request(
            day_url(stream.source, day, page, self.num),
            callback=self.parse_day,
            errback=self.listing_failed,
            priority=LISTING_PRIORITY,
            dont_filter=True,
            meta={
                "channel": stream.channel.name,
                "stream": stream.index,
                "day": day.isoformat(),
                "day_page": page,
            },
        )

    def parse_day(self, response: Response) -> Iterator[Any]:
        stream = self.streams[response.meta["stream"]]
        run = self.runs[stream.index]
        day = date.fromisoformat(response.meta["day"])
        page_no = int(response.meta["day_page"])
        stats = self.crawler.stats
        try:
            page = self._parse_page(stream.source, response, page_no)
        except ListingError as exc:
            stats.inc_value(LISTINGS + "failed/malformed")
            self.logger.error(
                "Malformed day window %s (channel %s, %s page %d): %s",
                response.url,
                stream.channel.name,
                day,
                page_no,
                exc,
            )
            yield from self._day_lost(stream.index, day)
            return
        note_listing_problems(self.crawler, page, response.url)
        stats.inc_value(LISTINGS + "pages")
        stats.inc_value(HISTORY + "day_pages")
        self.tally[stream.channel.name].update(pages=1, entries=len(page.entries))
        if run.ignores_windows((e.ctime for e in page.entries), day):
            yield from self._windows_ignored(stream, day, page)
            return
        bucket = (stream.index, day.isoformat())
        start = day_start(day)
        for entry in page.entries:
            when = entry.ctime.timestamp() if entry.ctime is not None else None
            if when is not None and not start <= when < start + DAY_SECONDS:
                stats.inc_value(HISTORY + "entries_outside_day")
                continue
            if self.window.position(entry.ctime) != 0:
                stats.inc_value(LISTINGS + "out_of_window")
                continue
            request = self._entry_request(entry, stream, bucket)
            if request is not None:
                yield request
        if page.has_more and page_no < self.plan.limits.history_max_pages:
            yield self.day_request(stream, day, page_no + 1)
            return
        run.awaiting = False
        self.tracker.pages_done(bucket)
        yield from self._advance(stream.index)

    def _day_lost(self, index: int, day: date) -> Iterator[Any]:
        """A page of a day window could not be read: the day stays incomplete."""
        run = self.runs[index]
        run.awaiting = False
        bucket = self.tracker.bucket((index, day.isoformat()))
        bucket.failed += 1
        self.tracker.pages_done((index, day.isoformat()))
        yield from self._advance(index)

    def _windows_ignored(self, stream: Stream, day: date, page: ListingPage) -> Iterator[Any]:
        """The source answered a day window with other days: walk its listing instead."""
        times = sorted(e.ctime for e in page.entries if e.ctime is not None)
        self.crawler.stats.inc_value(HISTORY + "windows_ignored")
        self.runs[stream.index].drop_days()
        yield from self._go_deeper(
            stream.index,
            f"it ignores day windows (asked for {day}, got entries from "
            f"{times[0]:%Y-%m-%d %H:%M} to {times[-1]:%Y-%m-%d %H:%M})",
        )

    def _go_deeper(self, index: int, why: str, level: int = logging.WARNING) -> Iterator[Any]:
        """Walk on, newest first, from the walk's last page back to ``low`` (page cap
        ``SINACRAWL_HISTORY_MAX_PAGES``)."""
        stream, run = self.streams[index], self.runs[index]
        if index not in self._warned_windows:
            self._warned_windows.add(index)
            self.logger.log(
                level,
                "Channel %s (%s): %s; walking its listing newest first back to %s instead "
                "(up to %d pages)",
                stream.channel.name,
                stream.source.describe(),
                why,
                describe((run.low, run.high))["from"],
                self.plan.limits.history_max_pages,
            )
        run.phase = "deeper"
        yield from self._deeper_next(stream, None, run.last_page, 0)

    def _deeper_next(
        self, stream: Stream, page: ListingPage | None, page_no: int, older: int
    ) -> Iterator[Any]:
        """After deeper page ``page_no`` (0: none yet): note the next one, which ``_advance``
        sends once the stream's queue has drained, or what is left unread."""
        run = self.runs[stream.index]
        html = isinstance(stream.source, HtmlSource)
        if self.plan.deeper_step(run, page, page_no, older, html) == "max_pages":
            self.logger.error(
                "Channel %s: SINACRAWL_HISTORY_MAX_PAGES=%d pages read without reaching %s",
                stream.channel.name,
                self.plan.limits.history_max_pages,
                describe((run.low, run.high))["from"],
            )
        yield from self._advance(stream.index)

    def deeper_request(self, stream: Stream, page: int):
        """Page ``page`` of a walk past ``max_pages`` (not a "next page" that the
        incremental middleware may cut short: the part before was another run's)."""
        url = self.runs[stream.index].next_url if isinstance(stream.source, HtmlSource) else None
        request = self.listing_request(stream, page, url if page > 1 else None)
        request.meta["deeper_page"] = request.meta.pop("listing_page")
        return request

    # --- bookkeeping ---

    def article_counted(self, doc_id: str, key: str) -> None:
        """An article ended: its day may be complete, and its stream may list more."""
        if self._report is not None:  # closing: the books are closed, nothing more to send
            return
        index = self.tracker.resolve(doc_id, key)
        if index is None or self.crawler.engine is None:
            return
        for request in self._advance(index):
            self.crawler.engine.crawl(request)

    def _bucket_done(self, key: BucketKey, bucket: Bucket) -> None:
        """A day (or a walk) has every article ended: count the day, record it complete."""
        index, name = key
        outcome = self.plan.bucket_done(self.runs[index], name, bucket.failed)
        if outcome is DayOutcome.LISTING:
            return
        stats = self.crawler.stats
        stats.inc_value(HISTORY + "days_done")
        if outcome is DayOutcome.INCOMPLETE:
            stats.inc_value(HISTORY + "days_incomplete")
        elif outcome is DayOutcome.COMPLETE:
            stats.inc_value(HISTORY + "days_complete")
            self.history.mark_complete(self.streams[index].key, date.fromisoformat(name))

    def closed(self, reason: str) -> None:
        for name, tally in self.tally.items():
            self.logger.info(
                "Channel %s: %d listing pages, %d entries, %d in the window, "
                "%d of them listed earlier in this run",
                name,
                tally["pages"],
                tally["entries"],
                tally["requested"] + tally["relisted"],
                tally["relisted"],
            )
        self.history_report(reason)

    def history_report(self, reason: str = "finished") -> dict[str, Any]:
        """Per channel: days complete / incomplete, and every gap still open (with the
        command that fills it); records what this run covered. Computed once, at close."""
        if self._report is not None:
            return self._report
        channels: dict[str, Counter[str]] = {}
        gaps: list[dict[str, Any]] = []
        for stream, run in zip(self.streams, self.runs, strict=True):
            found = self._close_stream(stream, run, reason)
            entry = channels.setdefault(stream.channel.name, Counter())
            entry.update(run.day_counts())
            for gap in found:
                command = backfill_command(stream.channel.name, gap)
                gaps.append({"channel": stream.channel.name, **describe(gap), "command": command})
                self.logger.error(
                    "Gap in channel %s from %s to %s: fill it with: %s",
                    stream.channel.name,
                    describe(gap)["from"],
                    describe(gap)["to"],
                    command,
                )
        self.history.save()
        self._report = {"channels": {n: dict(c) for n, c in channels.items()}, "gaps": gaps}
        return self._report

    def _close_stream(self, stream: Stream, run: StreamRun, reason: str) -> list[Gap]:
        """The stream's open gaps after this run (stored for the next runs)."""
        closing = self.plan.close(
            run,
            unfinished=self.tracker.unfinished(stream.index),
            known=self.history.gaps(stream.key),
            newest_clean=self.history.newest_clean(stream.key),
            articles_failed=bool(self.tracker.failed[stream.index]),
            reason=reason,
        )
        self.history.set_gaps(stream.key, closing.stored)
        if closing.newest_clean is not None:
            self.history.set_newest_clean(stream.key, closing.newest_clean)
        return closing.open

    def spider_idle(self) -> None:
        """Start a channel whose first listing never went out (e.g. a middleware dropped the
        request that would have started it); go on with streams whose next page the
        incremental middleware dropped (every article on the page was stored already), and
        with history listings held back while the queue drained."""
        requests: list[Any] = []
        for stream in self.streams:
            if stream.index in self._answered:
                continue
            attempts = self._idle_starts.get(stream.index, 0)
            if attempts >= 2:
                continue
            self._idle_starts[stream.index] = attempts + 1
            request = self._start_stream(stream.index)
            if request is not None:
                requests.append(request)
                break
        for stream, run in zip(self.streams, self.runs, strict=True):
            if stream.index not in self._answered or run.phase == "done":
                continue
            if run.phase == "walk" and run.awaiting and run.held is None:
                run.awaiting = False
                requests += self._after_walk(stream.index, "known")
            for doc_id in [d for d, key in self.tracker.owner.items() if key[0] == stream.index]:
                # Nothing is in flight when the spider is idle: these will never end.
                self.tracker.resolve(doc_id, "failed/unfinished")
            requests += self._advance(stream.index)
        if requests:
            for request in requests:
                self.crawler.engine.crawl(request)
            raise DontCloseSpider
