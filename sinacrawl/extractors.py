"""Article extraction off the reactor thread: worker processes, one set per crawler.

A crawl is one Python thread; parsing a 120 KB page costs more CPU than downloading it. With
``EXTRACT_PROCESSES`` ≥ 1 the spiders hand each page to worker processes that run exactly
``sinacrawl.loaders.build_article`` (the code path of ``python -m sinacrawl.extract``), so
the reactor thread only downloads, schedules and stores.

``EXTRACT_PROCESSES``: ``auto`` (default) is 1 worker on a machine with 2 or more CPUs,
unless ``REDIS_URL`` is set (distributed workers are parallel processes already); ``0``
extracts inline in the reactor thread. ``EXTRACT_TIMEOUT`` (seconds, default 30) bounds
the wait for one page.

Workers are plain child processes fed through pipes that the event loop itself reads and
writes: ``concurrent.futures`` would add helper threads to the crawl process, and their
fight with the reactor thread for the GIL cost more than the extraction saved.

Failure handling: a worker that dies or does not answer in time costs no article — the
pages it held are extracted inline — and it is replaced (stat
``sinacrawl/extract_pool/restarted/<why>``); after ``MAX_RESTARTS`` replacements the pool is
switched off for the rest of the run (``sinacrawl/extract_pool/disabled``). Workers exit on
their own when the crawl process dies, even by ``kill -9``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import logging
import os
import pickle
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Sequence
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
PIPE_BYTES = 1024 * 1024
TEMPLATE_KEY = "_template"  # travels beside the item's fields from a worker (see _result)


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


def extract_in_worker(*args: Any) -> tuple[str, Any, list[tuple[str, int, str]]]:
    """Run ``build_article`` on :func:`_build_inline`'s arguments; return ``(outcome, value,
    log records)``.

    Outcomes: ``("item", dict)``, ``("drop", (reason, message))`` or
    ``("error", (repr, traceback))`` — exceptions travel as data, since not every exception
    survives pickling with its attributes (DropArticle's ``reason``).
    """
    _capture.records = []
    try:
        item = _build_inline(*args)
        template = getattr(item, "_template", None)  # see loaders.set_template
        return "item", {**item, TEMPLATE_KEY: template}, _capture.records
    except DropArticle as exc:
        return "drop", (exc.reason, str(exc)), _capture.records
    except Exception as exc:
        return "error", (repr(exc), traceback.format_exc()), _capture.records


def worker_main() -> None:
    """A worker: frames in on stdin, frames out on the original stdout, until stdin ends.

    Frame: 4-byte big-endian length, then a pickle. In: ``(job id, extract_in_worker
    arguments)``; out: ``(job id, outcome, value, log records)``.
    """
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print() must not corrupt the frames
    init_worker(os.getppid())
    source = sys.stdin.buffer
    while True:
        header = source.read(4)
        if len(header) < 4:
            return  # the crawl closed the pipe, or died
        job, args = pickle.loads(source.read(int.from_bytes(header, "big")))
        outcome, value, records = extract_in_worker(*args)
        frame = pickle.dumps((job, outcome, value, records), pickle.HIGHEST_PROTOCOL)
        out.write(len(frame).to_bytes(4, "big") + frame)
        out.flush()


# --- the crawl side -----------------------------------------------------------------------


class RemoteExtractionError(Exception):
    """``build_article`` raised in a worker; the message carries the worker's traceback."""


class WorkerFailed(Exception):
    """A worker died or did not answer; the pages it held are extracted inline."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class _Reader(asyncio.Protocol):
    """Reads a worker's answer frames in the event loop's own thread: no helper threads
    in the crawl process to fight the reactor for the GIL."""

    def __init__(self, worker: _Worker) -> None:
        self.worker = worker
        self.buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= 4:
            size = int.from_bytes(self.buffer[:4], "big")
            if len(self.buffer) < 4 + size:
                return
            frame = bytes(self.buffer[4 : 4 + size])
            del self.buffer[: 4 + size]
            self.worker.answered(pickle.loads(frame))

    def connection_lost(self, exc: Exception | None) -> None:
        self.worker.fail("broken")


class _Worker:
    """One worker process and the pages it holds."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        env = dict(os.environ)
        # The crawl found sinacrawl via scrapy.cfg, not necessarily via PYTHONPATH.
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from sinacrawl.extractors import worker_main; worker_main()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
        )
        for pipe in (self.process.stdin, self.process.stdout):
            _widen(pipe)
        self.pending: dict[int, asyncio.Future] = {}
        self.dead = False
        self.writer: asyncio.WriteTransport | None = None
        self.reader: asyncio.ReadTransport | None = None
        self.ready = asyncio.ensure_future(self._connect())

    async def _connect(self) -> None:
        assert self.process.stdout is not None and self.process.stdin is not None
        self.reader, _ = await self.loop.connect_read_pipe(
            lambda: _Reader(self), self.process.stdout
        )
        self.writer, _ = await self.loop.connect_write_pipe(asyncio.Protocol, self.process.stdin)

    async def run(self, job: int, args: tuple) -> tuple:
        future = self.loop.create_future()
        self.pending[job] = future
        await self.ready
        if self.dead:
            raise WorkerFailed("broken")
        frame = pickle.dumps((job, args), pickle.HIGHEST_PROTOCOL)
        assert self.writer is not None
        self.writer.write(len(frame).to_bytes(4, "big") + frame)
        return await future

    def answered(self, answer: tuple) -> None:
        job, *result = answer
        future = self.pending.pop(job, None)
        if future is not None and not future.done():
            future.set_result(tuple(result))

    def fail(self, why: str) -> None:
        self.dead = True
        pending, self.pending = self.pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(WorkerFailed(why))

    def stop(self, *, kill: bool = False) -> None:
        """Close the pipes (the worker then exits by itself) or kill it at once."""
        self.fail("stopped")
        if kill and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)  # SIGKILL is not ignored, not even by a stopped process
        for transport in (self.writer, self.reader):
            if transport is not None:
                transport.close()
        if self.writer is None and self.process.stdin is not None:
            self.process.stdin.close()

    async def stopped(self, grace: float = 5.0) -> None:
        """Wait (without blocking the loop) until the worker has exited; kill it after
        ``grace`` seconds."""
        deadline = self.loop.time() + grace
        while self.process.poll() is None and self.loop.time() < deadline:
            await asyncio.sleep(0.02)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


def _widen(pipe: Any) -> None:
    """A pipe that holds a whole page (Linux): one write per page instead of a 64 KB
    write, a wake-up and the rest later."""
    with contextlib.suppress(AttributeError, OSError):
        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)


class ExtractionPool:
    """Extraction for one crawler: in worker processes, or inline when there are none."""

    def __init__(
        self,
        processes: int,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        stats=None,
    ) -> None:
        self.processes = processes
        self.timeout = timeout
        self.stats = stats
        self.restarts = 0
        self._workers: list[_Worker] = []
        self._jobs = itertools.count()

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
        crawler.signals.connect(pool.aclose, signal=signals.spider_closed)
        if processes:
            logger.info("Extracting articles in %d worker process(es)", processes)
        return pool

    @property
    def inline(self) -> bool:
        return self.processes == 0

    def _inc(self, key: str) -> None:
        if self.stats is not None:
            self.stats.inc_value(STATS + key)

    def _worker(self) -> _Worker:
        """The least busy live worker of this event loop, starting workers as needed."""
        loop = asyncio.get_running_loop()
        live = [w for w in self._workers if not w.dead and w.loop is loop]
        for worker in self._workers:
            if worker not in live:
                worker.stop(kill=True)
        self._workers = live
        if len(live) < self.processes:
            worker = _Worker(loop)
            self._workers.append(worker)
            return worker
        return min(live, key=lambda w: len(w.pending))

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
            worker = self._worker()
            try:
                outcome, value, records = await asyncio.wait_for(
                    worker.run(next(self._jobs), args), self.timeout
                )
            except (TimeoutError, asyncio.TimeoutError):
                self._replace(worker, "timeout", url)
            except WorkerFailed as exc:
                self._replace(worker, exc.why, url)
            else:
                self._inc("pages")
                return _result(outcome, value, records)
        return _build_inline(*args)

    def _replace(self, worker: _Worker, why: str, url: str | None) -> None:
        """Stop a dead or stuck worker (once, however many pages notice it); the page that
        noticed is extracted inline, later pages go to a new worker."""
        self._inc(f"fallback/{why}")
        if worker not in self._workers:
            return  # already replaced by another page's fallback
        self._workers.remove(worker)
        worker.stop(kill=True)
        self.restarts += 1
        self._inc(f"restarted/{why}")
        if self.restarts >= MAX_RESTARTS:
            logger.warning(
                "Extraction worker %s at %s; %d workers failed, extracting inline from now on",
                why,
                url,
                self.restarts,
            )
            self._inc("disabled")
            self.processes = 0
            self.stop()
        else:
            logger.warning(
                "Extraction worker %s at %s; page extracted inline, starting a new worker",
                why,
                url,
            )

    def stop(self) -> list[_Worker]:
        """Tell every worker to exit; returns them, to wait for."""
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.stop()
        return workers

    async def aclose(self) -> None:
        """Stop the workers and wait until they have exited (a spider_closed handler)."""
        await asyncio.gather(*(w.stopped() for w in self.stop()))


def _result(outcome: str, value: Any, records: list[tuple[str, int, str]]) -> Article:
    from sinacrawl.items import Article
    from sinacrawl.loaders import set_template

    for name, level, message in records:
        logging.getLogger(name).log(level, "%s", message)
    if outcome == "item":
        template = value.pop(TEMPLATE_KEY, None)
        item = Article(value)
        set_template(item, template)
        return item
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
