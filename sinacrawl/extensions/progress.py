"""Progress for people: a live status line on a terminal, a compact log line per minute in cron.

``SINACRAWL_PROGRESS``: ``auto`` (default: live line when stderr is a terminal, else log
lines), ``tty``, ``log`` or ``off``. ``SINACRAWL_PROGRESS_INTERVAL`` (default 1 s) paces the
live line, ``SINACRAWL_PROGRESS_LOG_INTERVAL`` (default 60 s) the log lines. It replaces
Scrapy's LogStats line, which knows nothing of stored/dropped/failed articles.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.asyncio import create_looping_call

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector
    from typing_extensions import Self

logger = logging.getLogger(__name__)

MODES = ("auto", "tty", "log", "off")
CLEAR_LINE = "\r\x1b[K"


def _total(stats: dict[str, Any], prefix: str) -> int:
    return sum(int(v) for k, v in stats.items() if k.startswith(prefix) and isinstance(v, int))


def progress_line(stats: dict[str, Any], elapsed: float) -> str:
    """One compact line: pages, items by outcome, rate, errors, elapsed time.

    >>> progress_line({"response_received_count": 120, "sinacrawl/articles/stored": 95,
    ...                "sinacrawl/articles/failed/http_500": 2, "log_count/ERROR": 1}, 60.0)
    'pages 120 (2.0/s) | stored 95, dropped 0, failed 2, duplicate 0, skipped 0 | errors 1 | 0:01:00'
    """
    pages = int(stats.get("response_received_count", 0))
    rate = pages / elapsed if elapsed > 0 else 0.0
    return (
        f"pages {pages} ({rate:.1f}/s) | "
        f"stored {int(stats.get('sinacrawl/articles/stored', 0))}, "
        f"dropped {_total(stats, 'sinacrawl/articles/dropped/')}, "
        f"failed {_total(stats, 'sinacrawl/articles/failed/')}, "
        f"duplicate {int(stats.get('sinacrawl/articles/duplicate', 0))}, "
        f"skipped {int(stats.get('sinacrawl/articles/skipped_known', 0))} | "
        f"errors {int(stats.get('log_count/ERROR', 0))} | "
        f"{_clock(elapsed)}{history_part(stats, elapsed)}"
    )


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


def history_part(stats: dict[str, Any], elapsed: float) -> str:
    """Days of a backfill done out of all, and when the rest should be done.

    >>> history_part({"sinacrawl/history/days_total": 60, "sinacrawl/history/days_done": 15,
    ...               "sinacrawl/history/days_incomplete": 1}, 300.0)
    ' | days 15/60 (1 incomplete), ETA 0:15:00'
    >>> history_part({}, 10.0)
    ''
    """
    total = int(stats.get("sinacrawl/history/days_total", 0))
    if not total:
        return ""
    done = int(stats.get("sinacrawl/history/days_done", 0))
    incomplete = int(stats.get("sinacrawl/history/days_incomplete", 0))
    eta = _clock(elapsed / done * (total - done)) if done else "?"
    failed = f" ({incomplete} incomplete)" if incomplete else ""
    return f" | days {done}/{total}{failed}, ETA {eta}"


class _ClearLineFilter(logging.Filter):
    """Wipes the live line before a log record is printed on the same terminal."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream

    def filter(self, record: logging.LogRecord) -> bool:
        with contextlib.suppress(OSError, ValueError):
            self.stream.write(CLEAR_LINE)
        return True


class Progress:
    def __init__(self, stats: StatsCollector, live: bool, interval: float, stream: TextIO) -> None:
        self.stats = stats
        self.live = live
        self.interval = interval
        self.stream = stream
        self.started = time.monotonic()
        self.task: Any = None
        self._filter = _ClearLineFilter(stream)
        self._handlers: list[logging.Handler] = []

    @classmethod
    def from_crawler(cls, crawler: Crawler, stream: TextIO | None = None) -> Self:
        settings = crawler.settings
        mode = (settings.get("SINACRAWL_PROGRESS") or "auto").lower()
        if mode not in MODES:
            raise NotConfigured(f"SINACRAWL_PROGRESS must be one of {', '.join(MODES)}")
        if mode == "off":
            raise NotConfigured
        stream = stream or sys.stderr
        live = mode == "tty" or (mode == "auto" and _isatty(stream))
        interval = settings.getfloat(
            "SINACRAWL_PROGRESS_INTERVAL" if live else "SINACRAWL_PROGRESS_LOG_INTERVAL",
            1.0 if live else 60.0,
        )
        if interval <= 0:
            raise NotConfigured
        assert crawler.stats is not None
        ext = cls(crawler.stats, live, interval, stream)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider: Any) -> None:
        self.started = time.monotonic()
        if self.live:
            for handler in logging.getLogger().handlers:
                if getattr(handler, "stream", None) is self.stream:
                    handler.addFilter(self._filter)
                    self._handlers.append(handler)
        self.task = create_looping_call(self.tick)
        self.task.start(self.interval, now=False)

    def line(self) -> str:
        return progress_line(self.stats.get_stats(), time.monotonic() - self.started)

    def tick(self) -> None:
        if self.live:
            self._write(CLEAR_LINE + self.line())
        else:
            logger.info("progress: %s", self.line())

    def spider_closed(self, spider: Any, reason: str) -> None:
        if self.task is not None and self.task.running:
            self.task.stop()
        for handler in self._handlers:
            handler.removeFilter(self._filter)
        self._handlers.clear()
        if self.live:
            self._write(CLEAR_LINE + self.line() + f" | {reason}\n")

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            pass  # a closed terminal must not break the crawl


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
