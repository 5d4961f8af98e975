"""Watchdogs for silent breakage: a run whose items lose their date, source or body.

Sina changes templates without notice; the crawl then "succeeds" while storing hollow
articles. This extension counts, for every item that reached the pipelines (stored or dropped,
duplicates aside), which watched fields were empty, and at the end says whether coverage fell
below what the settings allow. The run summary turns a problem into a warning and a non-zero
exit (see ``sinacrawl.extensions.summary``).

Settings:

- ``SINACRAWL_COVERAGE_FIELDS`` — watched fields (default ``published_at, source, body_text``).
- ``SINACRAWL_COVERAGE_MAX_MISSING`` — largest tolerated share of items missing a field
  (default ``0.2``; ``0`` or less switches the watchdog off).
- ``SINACRAWL_COVERAGE_MIN_ITEMS`` — judge only runs with at least this many items
  (default ``5``), so one odd article in a quiet run does not page anyone.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import NotConfigured

from sinacrawl.exceptions import DuplicateArticle

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector
    from typing_extensions import Self

logger = logging.getLogger(__name__)

STATS_PREFIX = "sinacrawl/coverage"
DEFAULT_FIELDS = ("published_at", "source", "body_text")


def is_missing(value: Any) -> bool:
    """Whether a field value counts as absent.

    >>> [is_missing(v) for v in (None, "", "  ", [], "新京报", ["a"])]
    [True, True, True, True, False, False]
    """
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, dict)):
        return not value
    return False


def coverage_problems(
    items: int, missing: dict[str, int], max_missing: float, min_items: int
) -> list[str]:
    """One human sentence per watched field whose missing share exceeds ``max_missing``.

    >>> coverage_problems(10, {"source": 3, "body_text": 2}, 0.2, 5)
    ['30% of 10 items have no source (limit 20%)']
    >>> coverage_problems(3, {"source": 3}, 0.2, 5)
    []
    """
    if items < max(min_items, 1):
        return []
    return [
        f"{count / items:.0%} of {items} items have no {name} (limit {max_missing:.0%})"
        for name, count in missing.items()
        if count / items > max_missing
    ]


class CoverageWatchdog:
    """Counts empty watched fields per item; ``problems()`` is read by the run summary."""

    def __init__(
        self, stats: StatsCollector, fields: list[str], max_missing: float, min_items: int
    ) -> None:
        self.stats = stats
        self.fields = fields
        self.max_missing = max_missing
        self.min_items = min_items
        self.items = 0
        self.missing: dict[str, int] = dict.fromkeys(fields, 0)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        max_missing = settings.getfloat("SINACRAWL_COVERAGE_MAX_MISSING", 0.2)
        if max_missing <= 0:
            raise NotConfigured("SINACRAWL_COVERAGE_MAX_MISSING is 0: coverage watchdog off")
        fields = settings.getlist("SINACRAWL_COVERAGE_FIELDS") or list(DEFAULT_FIELDS)
        min_items = settings.getint("SINACRAWL_COVERAGE_MIN_ITEMS", 5)
        watchdog = cls(crawler.stats, fields, max_missing, min_items)
        crawler.signals.connect(watchdog.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(watchdog.item_dropped, signal=signals.item_dropped)
        return watchdog

    def item_scraped(self, item: Any, **kwargs: Any) -> None:
        self._count(item)

    def item_dropped(self, item: Any, exception: BaseException, **kwargs: Any) -> None:
        # A duplicate says nothing about extraction; the first copy was already counted.
        if not isinstance(exception, DuplicateArticle):
            self._count(item)

    def _count(self, item: Any) -> None:
        self.items += 1
        self.stats.inc_value(f"{STATS_PREFIX}/items")
        for name in self.fields:
            try:
                value = item[name]
            except (KeyError, TypeError):
                value = None
            if is_missing(value):
                self.missing[name] += 1
                self.stats.inc_value(f"{STATS_PREFIX}/missing/{name}")

    def problems(self) -> list[str]:
        found = coverage_problems(self.items, self.missing, self.max_missing, self.min_items)
        for problem in found:
            logger.warning("coverage watchdog: %s", problem)
        return found

    def report(self) -> dict[str, Any]:
        """The coverage block of the run summary."""
        return {
            "items": self.items,
            "missing": dict(self.missing),
            "max_missing": self.max_missing,
            "min_items": self.min_items,
        }
