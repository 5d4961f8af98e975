"""One item kind's documents on their way to its collection: journal, batches, spool.

Each document is appended to a local journal segment before it is buffered, so a run killed
at any moment leaves it on disk. Full batches go to a writer thread; every tenth batch and the
last one are written journaled, and a segment is deleted only once such a journaled write
covers it (group commit). When MongoDB stays unreachable after bounded retries the batch's
segment is fsync'ed and kept as a spool, which the next start replays.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy.utils.asyncio import create_looping_call, run_in_thread
from scrapy.utils.defer import deferred_from_coro

from sinacrawl.extensions.accounting import report_store_failed
from sinacrawl.scrapy_compat import sleep
from sinacrawl.stores.mongo.spool import (
    Journal,
    Segment,
    claim,
    read_spool,
    spool_files,
    write_rejected,
)
from sinacrawl.stores.mongo.writer import BatchResult, MongoUnavailable, MongoWriter

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

    from sinacrawl.stores import Record
    from sinacrawl.stores.mongo.documents import Documents
    from sinacrawl.stores.mongo.redact import Redactor

logger = logging.getLogger(__name__)

STAT = "sinacrawl/mongo/"
# Batches waiting for the writer thread before new items wait too (bounds memory).
MAX_QUEUED_BATCHES = 8
# Every this many full batches one is written journaled, confirming the ones before it.
CONFIRM_EVERY = 10


class Lane:
    """The documents of one item kind, from ``put`` to their collection (or the spool).

    Settings: ``MONGO_BATCH_SIZE`` (50), ``MONGO_FLUSH_SECONDS`` (5), ``MONGO_RETRY_TIMES``
    (3), ``MONGO_RETRY_BACKOFF`` (0.5 s, doubled each retry), ``MONGO_PROBE_SECONDS`` (10: how
    often a down MongoDB is tried again).

    A document MongoDB refuses for good (another doc_id holds its url) is refused only when
    its batch is written, after the item has left the pipelines and been counted as stored;
    the lane then reports it to the accounting, which counts the article once, as
    ``failed/mongo_rejected``, and the run exits with ``storage_failure``. The document is
    kept in ``rejected-<date>.jsonl`` beside the spool for a person to resolve. The Hexo post
    the archive store wrote for it stays: the archive is the default output (SPEC §4) and
    the post is correct, MongoDB's refusal says nothing against it, and deleting it would
    drop an article the archive had safely. As MongoDB does not hold the article, it is not
    "known" to the next run (known = held by every store), which fetches it again and leaves
    the unchanged post alone. A document refused while an earlier run's spool is replayed is
    no article of this run: it counts only as ``sinacrawl/mongo/rejected`` (also a storage
    failure).
    """

    def __init__(
        self,
        crawler: Crawler,
        documents: Documents,
        writer: MongoWriter,
        spool: Path,
        *,
        group_commit: bool,
        where: str,
    ) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.stats: StatsCollector = crawler.stats  # type: ignore[assignment]
        self.documents = documents
        self.writer = writer
        self.redact: Redactor = writer.redact
        self.where = where
        # Group commit: with the default concerns most batches are acknowledged by w:1 and
        # every CONFIRM_EVERY-th (and the last) one is journaled; a batch's local journal file
        # is deleted only once a journaled acknowledgement covers it.
        self.group_commit = group_commit
        self.batch_size = max(1, settings.getint("MONGO_BATCH_SIZE", 50))
        self.flush_seconds = settings.getfloat("MONGO_FLUSH_SECONDS", 5.0)
        self.spool_dir = spool
        self.journal = Journal(self.spool_dir)
        self.spooled = 0
        self._pending: list[dict[str, Any]] = []
        self._queue: deque[tuple[Segment | None, list[dict[str, Any]], bool]] = deque()
        # Written with w:1, waiting for a journaled write to confirm them (writer thread only).
        self._unconfirmed: list[tuple[Segment | None, list[dict[str, Any]]]] = []
        self._sealed = 0
        self._draining = False
        self._drainer: Any = None
        self._timer: Any = None
        self._last_seal = time.monotonic()

    async def open(self) -> None:
        """Indexes, then what earlier runs spooled, then the flush timer."""
        logger.info("MongoDB: storing %ss in %s", self.documents.kind, self.where)
        try:
            await run_in_thread(self.writer.ensure_indexes)
        except Exception as exc:  # anything the driver raises: see MongoWriter.write
            logger.warning("MongoDB unreachable at start (%s); items will spool", self.redact(exc))
        await self.replay()
        self._timer = create_looping_call(self._on_timer)
        self._timer.start(max(0.1, self.flush_seconds / 2), now=False)

    async def put(self, record: Record) -> None:
        """Journal the record's document and buffer it; returns once it is on disk locally."""
        doc = self.documents.document(record.item, datetime.now(timezone.utc), record.listing_mtime)
        self.journal.append(doc)
        self._pending.append(doc)
        if len(self._pending) >= self.batch_size:
            self._seal_and_drain(durable=self._sealed % CONFIRM_EVERY == CONFIRM_EVERY - 1)
        # A MongoDB slower than the crawl holds items back here (and so, through Scrapy's
        # scraper slot, the downloads) rather than piling batches up in memory.
        while len(self._queue) > MAX_QUEUED_BATCHES and self._draining:
            await sleep(0.05)

    async def flush(self) -> None:
        """Write every buffered document (durably) and wait for the writer."""
        self._seal_and_drain(durable=True)
        while self._draining:
            await sleep(0.02)

    async def close(self) -> None:
        """Flush, keep what could not be written, confirm the last fast writes."""
        if self._timer is not None and self._timer.running:
            self._timer.stop()
        await self.flush()
        for segment, docs, _ in self._queue:  # only after an unexpected error in the drain
            if segment is not None:
                segment.keep()
            self._count(BatchResult(spooled=len(docs)))
        self._queue.clear()
        if self._unconfirmed:  # the last batch was full and written with w:1
            await run_in_thread(self._confirm)
        if self.spooled:
            logger.error(
                "MongoDB: %d items spooled to %s; they are written at the next start",
                self.spooled,
                self.spool_dir,
            )

    async def replay(self) -> None:
        """Write what earlier runs spooled (or left in the journal when killed), oldest first."""
        for path in spool_files(self.spool_dir):
            replayed = await run_in_thread(self._replay_file, path)
            if replayed is None:
                logger.warning("MongoDB unreachable; spool replay left for a later run")
                return
            result, count, unreadable = replayed
            self._finish(result, replayed=True)
            if count:
                self.stats.inc_value(STAT + "replayed", count)
                logger.info("MongoDB: replayed %d spooled items from %s", count, path.name)
            if unreadable:
                self.stats.inc_value(STAT + "spool_unreadable", unreadable)
                logger.warning("%s: %d unreadable spool lines skipped", path.name, unreadable)

    def _replay_file(self, path: Path) -> tuple[BatchResult, int, int] | None:
        """Writer thread: one spool file to MongoDB, deleted once all of it is stored.

        None when MongoDB does not take it (the file stays). A file a live process still holds
        is skipped. Replaying twice is harmless: what is stored already reads back unchanged.
        """
        with claim(path) as mine:
            if not mine:
                return BatchResult(), 0, 0
            docs, unreadable = read_spool(path)
            total = BatchResult()
            for start in range(0, len(docs), self.batch_size):
                try:
                    chunk = docs[start : start + self.batch_size]
                    total.add(self.writer.write(chunk, durable=True))
                except MongoUnavailable as exc:
                    logger.warning("%s: %s", path.name, exc)
                    return None
            path.unlink()
            return total, len(docs), unreadable

    def _on_timer(self) -> None:
        if self._pending and time.monotonic() - self._last_seal >= self.flush_seconds:
            self._seal_and_drain(durable=True)

    def _seal_and_drain(self, *, durable: bool) -> None:
        self._last_seal = time.monotonic()
        if self._pending:
            self._queue.append((self.journal.seal(), self._pending, durable))
            self._pending = []
            self._sealed += 1
        if self._queue and not self._draining:
            self._draining = True
            self._drainer = deferred_from_coro(self._drain())
            self._drainer.addErrback(self._drain_failed)

    async def _drain(self) -> None:
        try:
            while self._queue:
                segment, docs, durable = self._queue[0]
                result = await run_in_thread(self._store, segment, docs, durable)
                self._queue.popleft()
                self._finish(result)
        finally:
            self._draining = False

    def _drain_failed(self, failure: Any) -> None:
        logger.error("MongoDB writer stopped: %s", self.redact(failure.getErrorMessage()))

    def _store(
        self, segment: Segment | None, docs: list[dict[str, Any]], durable: bool
    ) -> BatchResult:
        """Writer thread: one batch to MongoDB, or to the spool when MongoDB does not take it."""
        durable = durable or not self.group_commit
        try:
            result = self.writer.write(docs, durable=durable)
        except MongoUnavailable as exc:
            if segment is not None:
                segment.keep()
            # Written but unconfirmed batches stay on disk too; replaying them is harmless.
            self._release_unconfirmed(keep=True)
            logger.warning("%s; %d items spooled", exc, len(docs))
            return BatchResult(spooled=len(docs))
        self._unconfirmed.append((segment, docs))
        if durable:
            self._release_unconfirmed(keep=False)
        return result

    def _confirm(self) -> None:
        """Writer thread, at close: a journaled write covering the unconfirmed batches."""
        try:
            self.writer.confirm(self._unconfirmed[-1][1])
        except MongoUnavailable as exc:
            logger.warning("%s; the last batches stay in the spool for the next start", exc)
            self._release_unconfirmed(keep=True)
            return
        self._release_unconfirmed(keep=False)

    def _release_unconfirmed(self, *, keep: bool) -> None:
        for segment, _ in self._unconfirmed:
            if segment is None:
                continue
            if keep:
                segment.keep()
            else:
                segment.discard()
        self._unconfirmed.clear()

    def _finish(self, result: BatchResult, *, replayed: bool = False) -> None:
        if result.rejected:
            path = write_rejected(self.spool_dir, result.rejected)
            for doc, reason in result.rejected:
                logger.error("MongoDB refused %s (%s): %s", doc["_id"], doc.get("url"), reason)
                if not replayed:
                    report_store_failed(self.crawler, doc["_id"], "mongo_rejected")
            logger.error("refused documents kept in %s", path)
        self._count(result)

    def _count(self, result: BatchResult) -> None:
        for name in ("upserted", "unchanged", "revised", "stale", "spooled"):
            value = getattr(result, name)
            if value:
                self.stats.inc_value(STAT + name, value)
        self.spooled += result.spooled
        if result.rejected:
            self.stats.inc_value(STAT + "rejected", len(result.rejected))
        retried, self.writer.retried = self.writer.retried, 0
        if retried:
            self.stats.inc_value(STAT + "retries", retried)
