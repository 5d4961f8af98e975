"""Incremental runs: articles already stored are not downloaded again (SPEC §6).

A spider middleware between the spiders and the scheduler. An article request (its meta
carries ``listing``, a ListingEntry, and ``doc_id``) for an article every store already holds
is dropped and counted as ``sinacrawl/articles/skipped_known``, unless the listing's ``mtime``
is newer than the stored one or the spider runs with ``-a refresh=1``.

When every article request one listing page produced was skipped, that page's next-page
request (meta ``listing_page``) is dropped too: the rest of the listing is older and stored
already (setting ``STOP_ON_KNOWN_PAGE``, default True). That shortcut is only safe when the
previous run of the channel went through without a failed or unfinished article: otherwise an
article on a later page that failed (or a run killed before reaching it) would never be
fetched. So each channel's last run is recorded as clean or not in
``<ARCHIVE_DIR>/.sinacrawl/channels.json``; the file says "not clean" while a run is going,
so a killed run leaves its channels unclean and the next run reads all ``max_pages``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import Request, signals

from sinacrawl.archive import atomic_write
from sinacrawl.runstate import channels_file
from sinacrawl.state import KnownArticles
from sinacrawl.yesno import yes_no

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

SKIPPED = "sinacrawl/articles/skipped_known"
CHANGED = "sinacrawl/articles/refetched_changed"
STOPPED = "sinacrawl/listings/stopped_known_page"
FAILED_PREFIX = "sinacrawl/articles/failed/"


def truthy(value: Any) -> bool:
    """``-a refresh=1`` arrives as a string; ``refresh=True`` as a bool.

    >>> truthy("1"), truthy("0"), truthy(True), truthy(None)
    (True, False, True, False)
    """
    return bool(yes_no(value))


class _PageOutcome:
    """Bookkeeping for one callback's output."""

    def __init__(self, response: Response | None) -> None:
        meta = _meta(response)
        self.channel = meta.get("channel")
        self.page = meta.get("listing_page")
        self.articles = 0
        self.skipped = 0
        self.next_pages: list[Request] = []

    def is_next_page(self, request: Request) -> bool:
        """A later page of the listing being parsed (not, say, another channel's first page)."""
        page = request.meta.get("listing_page")
        return (
            isinstance(self.page, int)
            and isinstance(page, int)
            and page > self.page
            and request.meta.get("channel") == self.channel
        )

    @property
    def all_known(self) -> bool:
        return self.articles > 0 and self.skipped == self.articles


class IncrementalMiddleware:
    """Skips known articles and stops paginating past a fully known listing page."""

    def __init__(
        self,
        crawler: Crawler,
        known: KnownArticles,
        stop_on_known_page: bool,
        state_file: Path | None = None,
    ) -> None:
        self.crawler = crawler
        self.known = known
        self.stop_on_known_page = stop_on_known_page
        self.state_file = state_file
        self.clean_before: dict[str, bool] = {}  # each channel's previous run, as recorded
        self.channels_seen: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> IncrementalMiddleware:
        mw = cls(
            crawler,
            KnownArticles.from_crawler(crawler),
            crawler.settings.getbool("STOP_ON_KNOWN_PAGE", True),
            channels_file(crawler.settings),
        )
        crawler.signals.connect(mw.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(mw.spider_closed, signal=signals.spider_closed)
        return mw

    def spider_opened(self, spider: Any = None) -> None:
        self.clean_before = self._read_state()
        # Until this run ends well, none of its channels may take the shortcut next time.
        self._write_state(dict.fromkeys(self.clean_before, False))

    def spider_closed(self, spider: Any = None, reason: str = "finished") -> None:
        stats = self.crawler.stats.get_stats() if self.crawler.stats is not None else {}
        failed = sum(v for k, v in stats.items() if k.startswith(FAILED_PREFIX))
        clean_now = reason == "finished" and not failed
        state = dict(self.clean_before)
        state.update(dict.fromkeys(self.channels_seen, clean_now))
        self._write_state(state)

    def _read_state(self) -> dict[str, bool]:
        if self.state_file is None:
            return {}
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
            return {str(k): bool(v) for k, v in data.get("clean", {}).items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, AttributeError) as exc:
            logger.warning(
                "ignoring unreadable %s (%s): reading every listing page", self.state_file, exc
            )
            return {}

    def _write_state(self, clean: dict[str, bool]) -> None:
        if self.state_file is None:
            return
        data = json.dumps({"clean": clean}, ensure_ascii=False, sort_keys=True).encode()
        try:
            atomic_write(self.state_file, data, 0o644)
        except OSError as exc:
            logger.warning("cannot record channel state in %s: %s", self.state_file, exc)

    @property
    def refresh(self) -> bool:
        return truthy(getattr(self.crawler.spider, "refresh", False))

    # Scrapy calls the async variant for async callbacks and the plain one otherwise.
    def process_spider_output(self, response: Response, result: Iterable[Any]) -> Iterator[Any]:
        outcome = _PageOutcome(response)
        for obj in result:
            if self._keep(obj, outcome):
                yield obj
        yield from self._finish(response, outcome)

    async def process_spider_output_async(
        self, response: Response, result: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        outcome = _PageOutcome(response)
        async for obj in result:
            if self._keep(obj, outcome):
                yield obj
        for obj in self._finish(response, outcome):
            yield obj

    async def process_start(self, start: AsyncIterator[Any]) -> AsyncIterator[Any]:
        # Start requests are listing pages or URLs the user named: never skipped.
        async for obj in start:
            yield obj

    def _keep(self, obj: Any, outcome: _PageOutcome) -> bool:
        if not isinstance(obj, Request):
            return True
        if self.stop_on_known_page and outcome.is_next_page(obj):
            outcome.next_pages.append(obj)  # decided once the whole page has been seen
            return False
        listing = obj.meta.get("listing")
        if listing is None:
            return True
        doc_id = obj.meta.get("doc_id") or getattr(listing, "doc_id", None)
        if not doc_id:
            return True
        outcome.articles += 1
        mtime = getattr(listing, "mtime", None)
        stored = self.known.stored_mtime(doc_id)
        if stored is not None and not self.refresh:
            if self.known.is_current(doc_id, mtime):
                outcome.skipped += 1
                self._inc(SKIPPED)
                return False
            self._inc(CHANGED)
        self.known.expect(doc_id, mtime)
        return True

    def _finish(self, response: Response, outcome: _PageOutcome) -> list[Request]:
        if outcome.channel:
            self.channels_seen.add(outcome.channel)
        if not self.clean_before.get(outcome.channel or ""):
            if outcome.next_pages and outcome.all_known:
                logger.info(
                    "every article on %s is stored, but the last run of channel %r did not end "
                    "cleanly: reading on",
                    response.url,
                    outcome.channel,
                )
            return outcome.next_pages
        if outcome.next_pages and outcome.all_known:
            logger.info(
                "every article on %s is stored already: not following %d next page(s)",
                response.url,
                len(outcome.next_pages),
            )
            self._inc(STOPPED, len(outcome.next_pages))
            return []
        return outcome.next_pages

    def _inc(self, key: str, count: int = 1) -> None:
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value(key, count)


def _meta(response: Response | None) -> dict[str, Any]:
    try:
        return response.meta if response is not None else {}
    except AttributeError:  # a response not tied to a request (tests, tools)
        return {}
