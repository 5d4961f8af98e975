"""The MongoDB store (SPEC §5): batched bulk upserts keyed by doc_id that lose nothing.

Settings: ``MONGO_URI`` (database from its path, default ``sina``), ``MONGO_COLLECTION``
(``articles``), ``MONGO_SPOOL_DIR`` (default: the run-state folder's ``mongo-spool``, see
sinacrawl/runstate.py), ``MONGO_TIMEOUT_MS`` (3000: server selection and connect), and the
batching settings of :class:`~sinacrawl.stores.mongo.lane.Lane`.

The pieces, one job each: ``redact.py`` keeps the URI's password out of logs, errors, stats
and spool files; ``documents.py`` turns an item into its document (one adapter per item kind,
naming its collection); ``writer.py`` writes batches with retries and a circuit breaker;
``spool.py`` is the local journal and spool; ``lane.py`` runs one kind's batches through them.
This module is the :class:`~sinacrawl.stores.Store`: one client, one lane per item kind.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import timezone
from typing import TYPE_CHECKING, Any

from bson.codec_options import CodecOptions

from sinacrawl.runstate import spool_dir
from sinacrawl.state import to_epoch
from sinacrawl.stores import ARTICLE, Record
from sinacrawl.stores.mongo.documents import ArticleDocuments, Documents
from sinacrawl.stores.mongo.lane import Lane
from sinacrawl.stores.mongo.redact import PYMONGO_LOGGERS, RedactingFilter, Redactor
from sinacrawl.stores.mongo.writer import MongoWriter, connect, write_concerns

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

DEFAULT_DATABASE = "sina"
CODECS = CodecOptions(tz_aware=True, tzinfo=timezone.utc)


def kinds(settings: Any) -> dict[str, Documents]:
    """The item kinds this store keeps, each with its collection (a new kind goes here).

    The first kind's spool is the spool folder itself; every other kind spools into a
    subfolder named after it, so each lane replays only its own documents.
    """
    return {ARTICLE: ArticleDocuments(settings.get("MONGO_COLLECTION") or "articles")}


class MongoStore:
    """The :class:`~sinacrawl.stores.Store` writing each item to its kind's collection."""

    name = "mongo"

    def __init__(self, crawler: Crawler, uri: str) -> None:
        settings = crawler.settings
        self.redact = Redactor(uri)
        self.client = connect(uri, self.redact, settings.getint("MONGO_TIMEOUT_MS", 3000))
        self.database = self.client.get_default_database(DEFAULT_DATABASE)
        fast, durable = write_concerns(self.client)
        self.lanes: dict[str, Lane] = {}
        spool = spool_dir(settings)
        for n, (kind, documents) in enumerate(kinds(settings).items()):
            name = documents.collection
            collection = self.database.get_collection(name, CODECS, write_concern=fast)
            writer = MongoWriter(
                collection,
                self.redact,
                durable=self.database.get_collection(name, CODECS, write_concern=durable),
                retries=settings.getint("MONGO_RETRY_TIMES", 3),
                backoff=settings.getfloat("MONGO_RETRY_BACKOFF", 0.5),
                probe_seconds=settings.getfloat("MONGO_PROBE_SECONDS", 10.0),
            )
            self.lanes[kind] = Lane(
                crawler,
                documents,
                writer,
                spool if n == 0 else spool / kind,
                group_commit=fast is not durable,
                where=f"{self.redact(uri)} → {self.database.name}.{name}",
            )
        self._filter = RedactingFilter(self.redact)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> MongoStore:
        return cls(crawler, crawler.settings["MONGO_URI"])

    def known_ids(self) -> Iterator[tuple[str, int]]:
        """(doc_id, listing mtime) of every stored document of every kind, read with a
        projection from the URI's database.

        MongoDB being unreachable is not fatal here: writing reports it, and treating
        nothing as known only costs downloads.
        """
        for lane in self.lanes.values():
            try:
                found = lane.writer.collection.find(
                    {}, {"_id": 1, "listing_mtime": 1}, batch_size=10000
                )
                for doc in found:
                    yield str(doc["_id"]), to_epoch(doc.get("listing_mtime"))
            except Exception as exc:  # anything the driver raises: see MongoWriter.write
                logger.warning(
                    "could not read known %ss from MongoDB: %s",
                    lane.documents.kind,
                    type(exc).__name__,
                )

    async def open(self) -> None:
        for name in PYMONGO_LOGGERS:
            logging.getLogger(name).addFilter(self._filter)
        for lane in self.lanes.values():
            await lane.open()

    async def put(self, batch: Sequence[Record]) -> None:
        for record in batch:
            await self.lanes[record.kind].put(record)

    async def flush(self) -> None:
        for lane in self.lanes.values():
            await lane.flush()

    async def close(self) -> None:
        try:
            for lane in self.lanes.values():
                await lane.close()
        finally:
            self.client.close()
            for name in PYMONGO_LOGGERS:
                logging.getLogger(name).removeFilter(self._filter)
