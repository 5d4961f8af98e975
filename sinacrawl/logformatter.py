"""Log lines for dropped and failed items that name the article, not the whole item.

Scrapy logs a dropped item, and an item a pipeline failed on, with the item's full text
(the body of an article is many kilobytes) and, for a failure, a traceback each time. When
the disk fills up every article fails the same way, and the log grew by megabytes a second.
Here a drop or failure is one line with the doc_id and the reason, and a traceback is kept
only for the first failure of each distinct kind (exception type and errno) in a process.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scrapy.logformatter import LogFormatter

if TYPE_CHECKING:
    from scrapy.logformatter import LogFormatterResult

SCRAPER_LOGGER = "scrapy.core.scraper"


def item_name(item: Any) -> str:
    """How a log line names an item: its doc_id (else its URL, else its type)."""
    get = getattr(item, "get", None)
    if get is not None:
        for key in ("doc_id", "url"):
            value = get(key)
            if value:
                return str(value)[:200]
    return type(item).__name__


def error_kind(exc: BaseException) -> tuple[str, Any]:
    """What makes two errors "the same": the type, and the errno for OS errors.

    >>> error_kind(OSError(28, "No space left")) == error_kind(OSError(28, "No space"))
    True
    """
    return type(exc).__qualname__, getattr(exc, "errno", None) or str(exc)[:80]


class OneTracebackPerKind(logging.Filter):
    """Drops the traceback of a log record whose error kind was already shown once."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[tuple[str, Any]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            kind = error_kind(record.exc_info[1])
            if kind in self.seen:
                record.exc_info = None
                record.exc_text = None
            else:
                self.seen.add(kind)
        return True


def install_traceback_filter(name: str = SCRAPER_LOGGER) -> None:
    """Put one :class:`OneTracebackPerKind` on a logger (idempotent)."""
    target = logging.getLogger(name)
    if not any(isinstance(f, OneTracebackPerKind) for f in target.filters):
        target.addFilter(OneTracebackPerKind())


class ShortLogFormatter(LogFormatter):
    """Scrapy's log formatter, with items named by doc_id in drop and error lines."""

    def __init__(self) -> None:
        super().__init__()
        install_traceback_filter()

    def dropped(self, item: Any, exception: BaseException, *args: Any) -> LogFormatterResult:
        result = super().dropped(item, exception, *args)
        return _naming(result, "Dropped %(item)s: %(exception)s", item, exception)

    def item_error(self, item: Any, exception: BaseException, *args: Any) -> LogFormatterResult:
        result = super().item_error(item, exception, *args)
        return _naming(result, "Error processing %(item)s: %(exception)r", item, exception)


def _naming(
    result: LogFormatterResult, msg: str, item: Any, exception: BaseException
) -> LogFormatterResult:
    """Scrapy's log line with ``msg`` instead, the item named by :func:`item_name`."""
    result["msg"] = msg
    result["args"] = {"item": item_name(item), "exception": exception}
    return result
