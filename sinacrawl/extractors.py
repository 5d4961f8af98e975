"""Article extraction off the reactor thread: a one-per-crawler process pool.

A crawl is one Python thread; parsing a 120 KB page costs more CPU than downloading it. With
``EXTRACT_PROCESSES`` ≥ 1 the spiders hand each page to worker processes that run exactly
``sinacrawl.loaders.build_article`` (the code path of ``python -m sinacrawl.extract``), so
the reactor thread only downloads, schedules and stores.

``EXTRACT_PROCESSES``: ``auto`` (default) is 1 worker on a machine with 2 or more CPUs,
unless ``REDIS_URL`` is set (distributed workers are parallel processes already); ``0``
extracts inline in the reactor thread. ``EXTRACT_TIMEOUT`` (seconds, default 30) bounds
the wait for one page.

Failure handling: a worker that dies (``BrokenProcessPool``) or does not answer in time
costs no article — that page is extracted inline — and the pool is replaced (stat
``sinacrawl/extract_pool/restarted/<why>``); after ``MAX_RESTARTS`` replacements it is
switched off for the rest of the run (``sinacrawl/extract_pool/disabled``). Workers exit on
their own when the crawl process dies, even by ``kill -9``.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
import traceback
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from typing import TYPE_CHECKING, Any

from scrapy import signals

from sinacrawl.exceptions import DropArticle

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from sinacrawl.items import Article
    from sinacrawl.parsing.listing import ListingEntry

logger = logging.getLogger(__name__)

STATS = "sinacrawl/extract_pool/"
MAX_RESTARTS = 3
DEFAULT_TIMEOUT = 30.0
PARENT_POLL_SECONDS = 0.5
# spawn, never fork: the crawl process runs an event loop and threads that a fork would copy
# in whatever state they are in.
START_METHOD = "spawn"


def pool_size(value: Any, *, cpus: int | None, distributed: bool) -> int:
    """Worker processes for an ``EXTRACT_PROCESSES`` value.

    >>> pool_size("auto", cpus=2, distributed=False), pool_size("auto", cpus=1, distributed=False)
    (1, 0)
    >>> pool_size("auto", cpus=8, distributed=True), pool_size("2", cpus=1, distributed=True)
    (0, 2)
    """
    text = "auto" if value is None else str(value).strip().lower()
    if text in ("auto", ""):
        return 1 if (cpus or 1) >= 2 and not distributed else 0
    try:
        number = int(text)
    except ValueError:
        raise ValueError(f"EXTRACT_PROCESSES={value!r}: expected auto or a whole number") from None
    if number < 0:
        raise ValueError(f"EXTRACT_PROCESSES={value!r}: expected auto or a whole number ≥ 0")
    return number


# --- the worker side ----------------------------------------------------------------------


class _Capture(logging.Handler):
    """Keeps the log records of one extraction so the crawl process can log them itself."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.records.append((record.name, record.levelno, record.getMessage()))
        except Exception:  # a record whose arguments do not format: keep its template
            self.records.append((record.name, record.levelno, str(record.msg)))


_capture = _Capture()


def _watch_parent(parent: int) -> None:
    """Exit as soon as the crawl process is gone (kill -9 runs no cleanup in it)."""
    while True:
        time.sleep(PARENT_POLL_SECONDS)
        if os.getppid() != parent:
            os._exit(0)


def init_worker(parent: int) -> None:
    """Worker start-up: watch the parent, route sinacrawl's log records to the capture."""
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    root = logging.getLogger("sinacrawl")
    root.setLevel(logging.INFO)
    root.addHandler(_capture)
    root.propagate = False
    import sinacrawl.loaders  # noqa: F401 -- imported now, not on the first page


def extract_in_worker(
    body: bytes,
    url: str | None,
    content_type: str | None,
    listing: ListingEntry | None,
    categories: Sequence[str],
    crawled_at: datetime | None,
) -> tuple[str, Any, list[tuple[str, int, str]]]:
    """Run ``build_article``; return ``(outcome, value, log records)``.

    Outcomes: ``("item", dict)``, ``("drop", (reason, message))`` or
    ``("error", (repr, traceback))`` — exceptions travel as data, since not every exception
    survives pickling with its attributes (DropArticle's ``reason``).
    """
    from sinacrawl.loaders import build_article

    _capture.records = []
    try:
        item = build_article(
            body,
            url,
            content_type=content_type,
            listing=listing,
            categories=categories,
            crawled_at=crawled_at,
        )
        return "item", dict(item), _capture.records
    except DropArticle as exc:
        return "drop", (exc.reason, str(exc)), _capture.records
    except Exception as exc:
        return "error", (repr(exc), traceback.format_exc()), _capture.records


# --- the crawl side -----------------------------------------------------------------------


class RemoteExtractionError(Exception):
    """``build_article`` raised in a worker; the message carries the worker's traceback."""


class ExtractionPool:
    """Extraction for one crawler: in worker processes, or inline when there are none."""

    def __init__(self, processes: int, *, timeout: float = DEFAULT_TIMEOUT, stats=None) -> None:
        self.processes = processes
        self.timeout = timeout
        self.stats = stats
        self.restarts = 0
        self._executor: ProcessPoolExecutor | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ExtractionPool:
        settings = crawler.settings
        processes = pool_size(
            settings.get("EXTRACT_PROCESSES", "auto"),
            cpus=os.cpu_count(),
            distributed=bool(settings.get("REDIS_URL")),
        )
        timeout = settings.getfloat("EXTRACT_TIMEOUT", DEFAULT_TIMEOUT)
        pool = cls(processes, timeout=timeout, stats=crawler.stats)
        crawler.signals.connect(pool.close, signal=signals.spider_closed)
        if processes:
            logger.info("Extracting articles in %d worker process(es)", processes)
        return pool

    @property
    def inline(self) -> bool:
        return self.processes == 0

    def _inc(self, key: str) -> None:
        if self.stats is not None:
            self.stats.inc_value(STATS + key)

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.processes,
                mp_context=multiprocessing.get_context(START_METHOD),
                initializer=init_worker,
                initargs=(os.getpid(),),
            )
        return self._executor

    async def extract(
        self,
        body: bytes,
        url: str | None,
        *,
        content_type: str | None = None,
        listing: ListingEntry | None = None,
        categories: Sequence[str] = (),
        crawled_at: datetime | None = None,
    ) -> Article:
        """The page's Article, like ``build_article``; raises what ``build_article`` raises
        (DropArticle as is, other errors as :class:`RemoteExtractionError`)."""
        args = (body, url, content_type, listing, list(categories), crawled_at)
        if not self.inline:
            executor = self._pool()
            try:
                future = executor.submit(extract_in_worker, *args)
                outcome, value, records = await asyncio.wait_for(
                    asyncio.wrap_future(future), self.timeout
                )
            except (BrokenProcessPool, TimeoutError, asyncio.TimeoutError) as exc:
                why = "timeout" if not isinstance(exc, BrokenProcessPool) else "broken"
                self._replace(executor, why, url)
            else:
                self._inc("pages")
                return _result(outcome, value, records)
        return _build_inline(*args)

    def _replace(self, executor: ProcessPoolExecutor, why: str, url: str | None) -> None:
        """Drop a broken or stuck pool (once, however many pages notice it); the page that
        noticed is extracted inline."""
        self._inc(f"fallback/{why}")
        if executor is not self._executor:
            return  # already replaced by another page's fallback
        self._executor = None
        self.restarts += 1
        _terminate(executor)
        self._inc(f"restarted/{why}")
        if self.restarts >= MAX_RESTARTS:
            logger.warning(
                "Extraction worker %s at %s; %d pools failed, extracting inline from now on",
                why,
                url,
                self.restarts,
            )
            self._inc("disabled")
            self.processes = 0
        else:
            logger.warning(
                "Extraction worker %s at %s; page extracted inline, starting a new worker",
                why,
                url,
            )

    def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


def _terminate(executor: ProcessPoolExecutor) -> None:
    """Stop a pool whose worker may be stuck: its processes are killed, not waited for."""
    processes = list((getattr(executor, "_processes", None) or {}).values())
    for process in processes:
        if process.is_alive():
            process.kill()
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.join(timeout=5)


def _result(outcome: str, value: Any, records: list[tuple[str, int, str]]) -> Article:
    from sinacrawl.items import Article

    for name, level, message in records:
        logging.getLogger(name).log(level, "%s", message)
    if outcome == "item":
        return Article(value)
    if outcome == "drop":
        reason, message = value
        exc = DropArticle(reason)
        exc.args = (message,)
        raise exc
    text, trace = value
    raise RemoteExtractionError(f"{text}\n(in the extraction worker)\n{trace}")


def _build_inline(
    body: bytes,
    url: str | None,
    content_type: str | None,
    listing: ListingEntry | None,
    categories: Sequence[str],
    crawled_at: datetime | None,
) -> Article:
    # Looked up on every call so that tests can replace the extractor.
    from sinacrawl.loaders import build_article

    return build_article(
        body,
        url,
        content_type=content_type,
        listing=listing,
        categories=categories,
        crawled_at=crawled_at,
    )
