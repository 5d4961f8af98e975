"""Flash accounting, beside the article accounting: every flash a run took up ends as stored,
dropped, failed or duplicate.

Stats::

    sinacrawl/flashes/scheduled          flashes the spider took up (new or edited ones, and
                                         feed entries it could not use)
    sinacrawl/flashes/stored             Flash items that went through every pipeline
    sinacrawl/flashes/dropped/<reason>   unusable feed entries (no_id, no_time, deleted…) and
                                         items a pipeline dropped
    sinacrawl/flashes/failed/<reason>    items a pipeline failed on (pipeline_error)
    sinacrawl/flashes/duplicate          (kept for the balance: an entry listed twice in a
                                         run is handled once and not counted again)
    sinacrawl/flashes/skipped_known      already stored in that version: not taken up

so that ``scheduled == stored + dropped + failed + duplicate``. The spider counts what it
decides; this extension counts what the pipelines did.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scrapy import signals

from sinacrawl.exceptions import DropArticle
from sinacrawl.items import Flash

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

PREFIX = "sinacrawl/flashes/"


class FlashAccounting:
    """Counts the pipelines' outcome of each Flash item; logs the balance at the end."""

    def __init__(self, crawler: Crawler) -> None:
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FlashAccounting:
        ext = cls(crawler)
        crawler.signals.connect(ext.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(ext.item_dropped, signal=signals.item_dropped)
        crawler.signals.connect(ext.item_error, signal=signals.item_error)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def item_scraped(self, item: Any, **kwargs: Any) -> None:
        if isinstance(item, Flash):
            self.stats.inc_value(PREFIX + "stored")

    def item_dropped(self, item: Any, exception: BaseException, **kwargs: Any) -> None:
        if isinstance(item, Flash):
            reason = exception.reason if isinstance(exception, DropArticle) else "unspecified"
            self.stats.inc_value(f"{PREFIX}dropped/{reason}")

    def item_error(self, item: Any, **kwargs: Any) -> None:
        if isinstance(item, Flash):
            self.stats.inc_value(PREFIX + "failed/pipeline_error")

    def spider_closed(self, spider: Any, reason: str) -> None:
        stats = self.stats.get_stats()
        scheduled = stats.get(PREFIX + "scheduled", 0)
        if not scheduled and not stats.get(PREFIX + "listed"):
            return  # not a flash run

        def total(group: str) -> int:
            key = PREFIX + group
            return sum(v for k, v in stats.items() if k == key or k.startswith(key + "/"))

        parts = {g: total(g) for g in ("stored", "dropped", "failed", "duplicate")}
        line = (
            f"Flashes: {scheduled} taken up = {parts['stored']} stored + {parts['dropped']} "
            f"dropped + {parts['failed']} failed + {parts['duplicate']} duplicate; "
            f"{stats.get(PREFIX + 'skipped_known', 0)} already stored"
        )
        if sum(parts.values()) == scheduled:
            logger.info(line)
        else:
            logger.warning("%s -- does not add up", line)
