"""The ``live`` spider: Sina Finance's 7×24 flashes (SPEC §7), newest first, incrementally.

::

    scrapy crawl live                                  # feed 152, every tag
    scrapy crawl live -a feed=152 -a tags=A股,宏观 -a since=2026-09-04 -a max_pages=20
    scrapy crawl live -a page_size=20 -a catchup_size=100  # the defaults
    scrapy crawl live -O flashes.jsonl                 # also as JSON Lines

It reads feed pages newest first and yields each flash the stores do not hold yet (or hold in
an older ``update_time``). It stops at the newest flash the last clean run saw (the anchor,
kept in ``<ARCHIVE_DIR>/.sinacrawl/7x24/run-<feed>.json``); without an anchor (a first run)
it reads as far back as the feed reaches, or ``max_pages``. When the feed ends before the
anchor (the crawler was off for longer than the feed reaches back, about 900 flashes), the
flashes in between are gone for good: that gap is one log line, an entry in the run summary's
``gaps`` list and exit status 9 (``gap``). The anchor moves forward only at the end of a run
without failures, so a killed or failed run is read again by the next one.

``-a tags=`` keeps flashes carrying at least one of the named tags; the whole feed is read,
and runs with other tags (or none) keep their anchors apart, so a filtered run never makes
an unfiltered one skip what it left out.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import scrapy

from sinacrawl.archive import atomic_write, file_mode
from sinacrawl.extensions.accounting import failure_reason
from sinacrawl.flashes import when
from sinacrawl.flashposts import day_key
from sinacrawl.items import Flash
from sinacrawl.parsing.flash import FeedError, FeedPage, feed_url, is_feed_url, parse_feed
from sinacrawl.posts import safe_component
from sinacrawl.runstate import flash_dir
from sinacrawl.spiderargs import check_no_unknown_args, parse_int, parse_when
from sinacrawl.spiders.finance import SINA_DOMAINS, check_settings
from sinacrawl.state import KnownArticles

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)

CHANNEL = "7x24"
FLASHES = "sinacrawl/flashes/"
LISTINGS = "sinacrawl/listings/"
ARGS = ("feed", "tags", "since", "max_pages", "page_size", "catchup_size")


class LiveSpider(scrapy.Spider):
    """Pages the 7×24 feed; yields ``Flash`` items."""

    name = "live"
    allowed_domains = SINA_DOMAINS
    custom_settings = {
        # The article skip works on article requests; flashes are skipped by the spider.
        "SPIDER_MIDDLEWARES": {"sinacrawl.incremental.IncrementalMiddleware": None},
        "SINACRAWL_COVERAGE_FIELDS": ["published_at", "text"],
        # Run every minute: a run that cannot finish in 50 s leaves the rest to the next one.
        "CLOSESPIDER_TIMEOUT": 50,
    }

    @classmethod
    def handles_request(cls, request: Any) -> bool:
        """Only the feed's own pages (``scrapy shell`` asks every spider; one may say yes)."""
        return is_feed_url(request.url)

    def __init__(
        self,
        feed: Any = None,
        tags: Any = None,
        since: Any = None,
        max_pages: Any = None,
        page_size: Any = None,
        catchup_size: Any = None,
        **kwargs: Any,
    ) -> None:
        check_no_unknown_args(self.name, kwargs, ARGS)
        super().__init__(**kwargs)
        self.feed = parse_int("feed", feed, default=152, low=1, high=10**6)
        self.tags = {t.strip() for t in str(tags or "").replace("，", ",").split(",") if t.strip()}
        self.since = parse_when("since", since)
        self.max_pages = parse_int("max_pages", max_pages, default=20, low=1, high=1000)
        # The first page is small (a minute brings a few flashes); a run that must read
        # further goes on in pages of catchup_size, from the top again (the overlap is
        # skipped), so a first run or one after an outage takes ten requests, not fifty.
        self.page_size = parse_int("page_size", page_size, default=20, low=1, high=100)
        self.catchup_size = parse_int(
            "catchup_size", catchup_size, default=100, low=self.page_size, high=100
        )
        self._pages_read = 0
        self.known = KnownArticles()
        self.anchor: dict[str, Any] = {}
        self.newest: tuple[int, str] | None = None  # (id, published_at) seen in this run
        self.oldest_seen: str | None = None
        self._seen: set[int] = set()  # ids of every entry handled in this run
        self.gaps: list[dict[str, Any]] = []
        self._clean = True

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> LiveSpider:
        check_settings(crawler)
        return super().from_crawler(crawler, *args, **kwargs)

    # --- the anchor: the newest flash of the last clean run ---

    @property
    def state_path(self) -> Path:
        """The anchor's file; a tag-filtered run has its own, as it stores only some flashes."""
        name = f"run-{day_key(self.feed)}"
        if self.tags:
            name += "-" + safe_component(",".join(sorted(self.tags)))
        return flash_dir(self.settings) / f"{name}.json"

    def _load_anchor(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            self.logger.warning(
                "ignoring unreadable %s (%s): reading the whole feed", self.state_path, exc
            )
            return {}
        ok = isinstance(data, dict) and isinstance(data.get("newest_id"), int)
        return data if ok else {}

    def _save_anchor(self) -> None:
        assert self.newest is not None
        newest_id, newest_at = self.newest
        if self.anchor and self.anchor["newest_id"] >= newest_id:
            return
        data = {"feed": self.feed, "newest_id": newest_id, "newest_at": newest_at}
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.state_path, json.dumps(data).encode() + b"\n", file_mode())

    # --- crawling ---

    async def start(self):
        self.anchor = self._load_anchor()
        self.known = KnownArticles.from_crawler(self.crawler)
        self.logger.info(
            "7x24 feed %d: %s, %d known flashes, up to %d pages of %d",
            self.feed,
            f"reading back to flash {self.anchor['newest_id']} ({self.anchor.get('newest_at')})"
            if self.anchor
            else "no earlier clean run: reading as far back as the feed reaches",
            len(self.known),
            self.max_pages,
            self.page_size,
        )
        yield self.page_request(1, self.page_size)

    def page_request(self, page: int, size: int) -> scrapy.Request:
        return scrapy.Request(
            feed_url(self.feed, page, size),
            callback=self.parse_page,
            errback=self.page_failed,
            dont_filter=True,
            meta={"listing_page": page, "page_size": size, "channel": CHANNEL},
        )

    def parse_page(self, response: Response) -> Iterator[Any]:
        page_no = int(response.meta["listing_page"])
        size = int(response.meta["page_size"])
        self._pages_read += 1
        stats = self.crawler.stats
        crawled = datetime.now(timezone.utc).isoformat()
        try:
            page = parse_feed(response.body, feed=self.feed, crawled_at=crawled)
        except FeedError as exc:
            stats.inc_value(LISTINGS + "failed/malformed")
            self.logger.error("Malformed 7x24 feed page %s: %s", response.url, exc)
            self._clean = False
            return
        stats.inc_value(LISTINGS + "pages")
        stats.inc_value(FLASHES + "listed", page.entries)
        for ident, reason in page.rejected:
            if self._first_sight(ident):
                stats.inc_value(FLASHES + "scheduled")
                stats.inc_value(f"{FLASHES}dropped/{reason}")
        self._note_range(page)
        for fields in page.flashes:
            if self._first_sight(int(fields["id"])):
                item = self._wanted(fields)
                if item is not None:
                    yield item
        next_page = self._next_page(page, page_no, size)
        if next_page is not None:
            yield self.page_request(*next_page)

    def _note_range(self, page: FeedPage) -> None:
        for fields in page.flashes:
            ident = int(fields["id"])
            if self.newest is None or ident > self.newest[0]:
                self.newest = (ident, fields["published_at"])
        if page.oldest is not None:
            oldest = page.oldest.isoformat()
            if self.oldest_seen is None or oldest < self.oldest_seen:
                self.oldest_seen = oldest

    def _first_sight(self, ident: int | None) -> bool:
        """False for an entry this run has handled: pages overlap when the catch-up starts
        from the top, or when a flash went out while we paged (the rest shifted down)."""
        if ident is None:
            return True
        if ident in self._seen:
            return False
        self._seen.add(ident)
        return True

    def _wanted(self, fields: dict[str, Any]) -> Flash | None:
        """The item for a flash this run should store, None (counted) for the others."""
        stats = self.crawler.stats
        published = when(fields["published_at"])
        if self.since is not None and published is not None and published < self.since:
            stats.inc_value(LISTINGS + "out_of_window")
            return None
        if self.tags and not self.tags.intersection(fields["tags"]):
            stats.inc_value(FLASHES + "filtered_tags")
            return None
        if self.known.is_current(fields["id"], when(fields["updated_at"])):
            stats.inc_value(FLASHES + "skipped_known")
            return None
        stats.inc_value(FLASHES + "scheduled")
        return Flash(**fields)

    def _next_page(self, page: FeedPage, page_no: int, size: int) -> tuple[int, int] | None:
        """The next page to read, or None when this one was the last needed (or possible)."""
        anchor_id = self.anchor.get("newest_id")
        if anchor_id is not None and page.ids and min(page.ids) <= anchor_id:
            return None  # back at the last clean run's newest flash
        if self.since is not None and page.oldest is not None and page.oldest < self.since:
            return None
        # Without an anchor, stored flashes on a page prove nothing about older pages: a
        # killed first run stored the newest pages only. Read on as far as the feed reaches.
        if not page.ids or page_no >= (page.pages or page_no):
            self._gap("the feed reaches back no further")
            return None
        if self._pages_read >= self.max_pages:
            self.crawler.stats.inc_value(LISTINGS + "max_pages_reached")
            self._gap(f"stopped after max_pages={self.max_pages}")
            return None
        if size < self.catchup_size:
            return 1, self.catchup_size
        return page_no + 1, size

    def _gap(self, why: str) -> None:
        """The feed ended before the anchor: report what cannot be fetched any more."""
        anchor_at = self.anchor.get("newest_at")
        if not self.anchor:
            return
        if self.since is not None and (when(anchor_at) or self.since) < self.since:
            return  # the anchor is older than what this run was asked for
        # Nothing can fill it (the feed has no day windows): no command, unlike listing gaps.
        self.gaps.append(
            {
                "channel": CHANNEL,
                "feed": self.feed,
                "from": anchor_at,
                "to": self.oldest_seen,
                "command": None,
            }
        )
        self.logger.error(
            "7x24 feed %d: gap from %s to %s (%s): flashes in between are no longer listed "
            "and cannot be fetched; run `scrapy crawl live` more often to avoid it",
            self.feed,
            anchor_at,
            self.oldest_seen,
            why,
        )

    def history_report(self, reason: str = "finished") -> dict[str, Any]:
        """What the run summary asks every spider with history: the gaps it found."""
        return {"gaps": list(self.gaps)}

    def page_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        reason = failure_reason(failure.value)
        self.crawler.stats.inc_value(f"{LISTINGS}failed/{reason}")
        self.logger.error("7x24 feed page %s failed (%s): %s", request.url, reason, failure.value)
        self._clean = False

    def closed(self, reason: str) -> None:
        stats = self.crawler.stats.get_stats()
        failed = any(
            k.startswith((FLASHES + "failed", "sinacrawl/storage/")) and v for k, v in stats.items()
        )
        if reason != "finished" or failed or not self._clean:
            self.logger.info(
                "7x24 feed %d: run not clean (%s); the next run reads back to the same flash",
                self.feed,
                reason,
            )
            return
        if self.newest is not None:
            self._save_anchor()
