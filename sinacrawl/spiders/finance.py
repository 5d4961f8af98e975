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
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import scrapy
from scrapy import signals
from scrapy.exceptions import DontCloseSpider, UsageError

from sinacrawl.channels import Channel, HtmlSource, RollSource, Source, UnknownChannel, get_channels
from sinacrawl.config import problems
from sinacrawl.exceptions import DropArticle
from sinacrawl.extensions.accounting import failure_reason, report, report_relisted
from sinacrawl.extractors import ExtractionPool
from sinacrawl.guards import listing_limit, note_listing_problems
from sinacrawl.loaders import template_of
from sinacrawl.parsing.dates import BEIJING, parse_stored
from sinacrawl.parsing.listing import (
    LidCheck,
    ListingEntry,
    ListingError,
    ListingPage,
    parse_html_listing,
    parse_roll_api,
)
from sinacrawl.parsing.urls import doc_id_from_url
from sinacrawl.yesno import yes_no

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)

SINA_DOMAINS = ["sina.com.cn", "sina.cn"]
LISTING_PRIORITY = 10  # listings first: they decide what else is fetched
LISTINGS = "sinacrawl/listings/"
TEMPLATES = "sinacrawl/templates/"  # pages read per template (generic: the fallback)


# --- argument parsing (shared with the article spider) ---------------------------------------


def parse_bool(name: str, value: Any) -> bool:
    """``-a refresh=1`` → True; anything not clearly yes/no is a usage error.

    >>> parse_bool("refresh", "yes"), parse_bool("refresh", None)
    (True, False)
    """
    answer = yes_no(value)
    if answer is not None:
        return answer
    raise UsageError(f"-a {name}={value!r}: expected 1/0, true/false, yes/no")


def parse_int(name: str, value: Any, *, default: int, low: int, high: int) -> int:
    """An integer argument within [low, high]; a clear usage error otherwise."""
    if value is None or str(value).strip() == "":
        return default
    try:
        number = int(str(value).strip())
    except ValueError:
        raise UsageError(f"-a {name}={value!r}: expected a whole number") from None
    if not low <= number <= high:
        raise UsageError(f"-a {name}={number}: expected {low} to {high}")
    return number


def parse_when(name: str, value: Any) -> datetime | None:
    """A date or datetime in Beijing time (an explicit offset is honoured).

    >>> parse_when("since", "2026-11-01").isoformat()
    '2026-11-01T00:00:00+08:00'
    >>> parse_when("until", "2026-11-01 08:30").isoformat()
    '2026-11-01T08:30:00+08:00'
    >>> parse_when("since", "2026-11-01T00:00:00Z").isoformat()
    '2026-11-01T08:00:00+08:00'
    """
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip().replace("/", "-")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"-a {name}={value!r}: expected a date or datetime such as 2026-11-01 or "
            "2026-11-01T08:00 (Beijing time)"
        ) from None
    if when.tzinfo is None:
        return when.replace(tzinfo=BEIJING)
    return when.astimezone(BEIJING)


@dataclass(frozen=True)
class Window:
    """``[since, until)`` in Beijing time; either end may be open."""

    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def from_args(cls, since: Any, until: Any) -> Window:
        window = cls(parse_when("since", since), parse_when("until", until))
        if window.since and window.until and window.since >= window.until:
            raise UsageError(
                f"-a since={since} is not before -a until={until}: the window is empty"
            )
        return window

    def position(self, when: datetime | None) -> int:
        """-1 before the window, 0 inside (or unknown), 1 at or after its end."""
        if when is None:
            return 0
        if self.since is not None and when < self.since:
            return -1
        if self.until is not None and when >= self.until:
            return 1
        return 0

    def __str__(self) -> str:
        since = self.since.isoformat() if self.since else "…"
        until = self.until.isoformat() if self.until else "…"
        return f"[{since}, {until})"


def published_at(item: Any) -> datetime | None:
    """The item's ``published_at`` (an ISO string) as a datetime, None when absent or bad."""
    return parse_stored(item.get("published_at") if hasattr(item, "get") else None)


def check_no_unknown_args(spider: str, kwargs: dict[str, Any], valid: Iterable[str]) -> None:
    """A misspelled ``-a`` argument (``chanels=``) must not be silently ignored.

    Names starting with ``_`` (scrapyd's ``_job``) and ``name`` are Scrapy's own.
    """
    unknown = sorted(k for k in kwargs if not k.startswith("_") and k != "name")
    if unknown:
        raise UsageError(
            f"{spider} spider: unknown argument{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(f'-a {k}=' for k in unknown)}; valid: "
            f"{', '.join(f'-a {k}=' for k in valid)}"
        )


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


@dataclass(frozen=True)
class Stream:
    """One listing source of one channel, read page by page."""

    index: int
    channel: Channel
    source: Source


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
        self._listed: set[str] = set()  # doc_ids requested in this run
        self._lid_check = LidCheck()
        # per channel: listing pages read, entries seen, article requests made
        self.tally: dict[str, Counter[str]] = {c.name: Counter() for c in self.channels}

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> FinanceSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.spider_idle, signal=signals.spider_idle)
        return spider  # type: ignore[return-value]

    @classmethod
    def handles_request(cls, request: scrapy.Request) -> bool:
        """Listing pages on Sina hosts; article pages belong to ``article`` (``scrapy shell``
        asks every spider, and logs an error when two say yes)."""
        # Not the spiders built on this one (stock): they need arguments a shell cannot give.
        if cls is not FinanceSpider:
            return False
        return super().handles_request(request) and doc_id_from_url(request.url) is None

    async def start(self) -> AsyncIterator[Any]:
        self.logger.info(
            "Channels %s, window %s, up to %d listing pages each",
            ", ".join(c.name for c in self.channels),
            self.window,
            self.max_pages,
        )
        request = self._start_stream(0)
        if request is not None:
            yield request

    # --- listings ---

    def listing_request(self, stream: Stream, page: int, url: str | None = None):
        if url is None:
            source = stream.source
            url = source.page_url(page, self.num) if isinstance(source, RollSource) else source.url
        return scrapy.Request(
            url,
            callback=self.parse_listing,
            errback=self.listing_failed,
            priority=LISTING_PRIORITY,
            dont_filter=True,  # listings are re-read on every run
            meta={"listing_page": page, "channel": stream.channel.name, "stream": stream.index},
        )

    def _start_stream(self, index: int):
        """The first listing request of stream ``index`` (None past the last stream)."""
        if index >= len(self.streams):
            return None
        self._started.add(index)
        return self.listing_request(self.streams[index], 1)

    def _end_stream(self, index: int) -> Iterator[Any]:
        """A stream is done: start the next one unless it has started already."""
        if index + 1 < len(self.streams) and index + 1 not in self._started:
            yield self._start_stream(index + 1)

    def parse_listing(self, response: Response) -> Iterator[Any]:
        stream = self.streams[response.meta["stream"]]
        page_no = int(response.meta["listing_page"])
        self._answered.add(stream.index)
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
            yield from self._end_stream(stream.index)
            return
        note_listing_problems(self.crawler, page, response.url)
        stats = self.crawler.stats
        stats.inc_value(LISTINGS + "pages")
        stats.inc_value(LISTINGS + "entries", len(page.entries))
        tally = self.tally[stream.channel.name]
        tally.update(pages=1, entries=len(page.entries))
        if page.skipped:
            stats.inc_value(LISTINGS + "entries_skipped", page.skipped)
        older = 0
        for entry in page.entries:
            position = self.window.position(entry.ctime)
            if position < 0:
                older += 1
            if position != 0:
                stats.inc_value(LISTINGS + "out_of_window")
                continue
            if not entry.doc_id:
                stats.inc_value(LISTINGS + "entries_skipped")
                continue
            request = self._request_once(entry, stream.channel)
            tally["requested" if request is not None else "relisted"] += 1
            if request is not None:
                yield request
        next_request = self._next_page(stream, page, page_no, older)
        if next_request is not None:
            yield next_request
        else:
            yield from self._end_stream(stream.index)

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
        if key in self._listed:
            report_relisted(self.crawler, key)
            return None
        self._listed.add(key)
        return self.article_request(entry, channel.name, channel.categories)

    def _next_page(self, stream: Stream, page: ListingPage, page_no: int, older: int):
        if older:  # newest first: the rest of this listing is older than the window
            return None
        if not page.has_more:
            return None
        if page_no >= self.max_pages:
            self.logger.info(
                "Channel %s: stopped after max_pages=%d; the listing goes on",
                stream.channel.name,
                self.max_pages,
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
        reason = failure_reason(failure.value)
        self.crawler.stats.inc_value(f"{LISTINGS}failed/{reason}")
        self.logger.error(
            "Listing %s (channel %s) failed (%s): %s",
            request.url,
            request.meta.get("channel"),
            reason,
            failure.value,
        )
        yield from self._end_stream(index)

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

    def spider_idle(self) -> None:
        """Start a channel whose first listing never went out (e.g. a middleware dropped the
        request that would have started it)."""
        for stream in self.streams:
            if stream.index in self._answered:
                continue
            attempts = self._idle_starts.get(stream.index, 0)
            if attempts >= 2:
                continue
            self._idle_starts[stream.index] = attempts + 1
            request = self._start_stream(stream.index)
            if request is not None:
                self.crawler.engine.crawl(request)
                raise DontCloseSpider
