"""Which stock symbols listed each article: recorded beside the stores (the ``stock`` spider).

An article is stored once, under the first symbol that lists it; every symbol that lists it,
in this run or a later one, and even when the article itself is not downloaded again, is
recorded as a ``(doc_id, symbol)`` pair:

- in ``<ARCHIVE_DIR>/.sinacrawl/symbols.sqlite`` beside the archive index (always), and
- with ``MONGO_URI`` set, in the stored document's ``symbols`` array (``$addToSet``; the
  article pipeline's ``$set`` updates leave the field alone). A pair whose document MongoDB
  does not hold yet (its write still spooled, or the download failed) stays pending in the
  local file and is tried again at the end of the next run.

Kept apart from the store pipelines on purpose: it is the one store-side piece of per-stock
news and touches nothing the pipelines own.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

from sinacrawl.runstate import state_dir
from sinacrawl.stores import configured_stores

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

FILE = "symbols.sqlite"
STATS = "sinacrawl/symbols/"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS symbols (
    doc_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    in_mongo INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (doc_id, symbol)
) WITHOUT ROWID
"""
# Pending MongoDB pairs tried per run: a bound on what a long MongoDB outage can pile up.
MONGO_BATCH = 50_000


class SymbolLinks:
    """The ``(doc_id, symbol)`` pairs of one run, saved when the run closes."""

    def __init__(
        self, path: Path, mongo: tuple[str, str] | None = None, *, timeout_ms: int = 3000
    ) -> None:
        self.path = path
        self.mongo = mongo
        """``(MONGO_URI, collection)`` when MongoDB is a store of this run."""
        self.timeout_ms = timeout_ms
        self.pairs: dict[tuple[str, str], None] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SymbolLinks:
        settings = crawler.settings
        mongo = None
        if "mongo" in configured_stores(settings):
            mongo = (settings["MONGO_URI"], settings.get("MONGO_COLLECTION") or "articles")
        timeout_ms = settings.getint("MONGO_TIMEOUT_MS", 3000)
        return cls(state_dir(settings) / FILE, mongo, timeout_ms=timeout_ms)

    def add(self, doc_id: str, symbol: str) -> None:
        self.pairs.setdefault((doc_id, symbol), None)

    def save(self) -> dict[str, int]:
        """Write this run's pairs locally, then every pending pair to MongoDB; counts by
        outcome (``new``, ``mongo_recorded``, ``mongo_pending``, ``failed``)."""
        counts = {"new": 0, "mongo_recorded": 0, "mongo_pending": 0, "failed": 0}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(sqlite3.connect(self.path, timeout=30)) as db, db:
                db.execute(_SCHEMA)
                before = db.total_changes
                db.executemany(
                    "INSERT OR IGNORE INTO symbols (doc_id, symbol) VALUES (?, ?)", self.pairs
                )
                counts["new"] = db.total_changes - before
                if self.mongo is not None:
                    self._to_mongo(db, counts)
        except (sqlite3.Error, OSError) as exc:
            logger.error("could not record stock symbols in %s: %s", self.path, exc)
            counts["failed"] = len(self.pairs)
        return counts

    def _to_mongo(self, db: sqlite3.Connection, counts: dict[str, int]) -> None:
        from pymongo import UpdateOne
        from pymongo.errors import PyMongoError

        from sinacrawl.stores.mongo import DEFAULT_DATABASE
        from sinacrawl.stores.mongo.redact import Redactor
        from sinacrawl.stores.mongo.writer import connect

        rows = db.execute(
            "SELECT doc_id, symbol FROM symbols WHERE in_mongo = 0 LIMIT ?", (MONGO_BATCH,)
        ).fetchall()
        if not rows:
            return
        by_doc: dict[str, list[str]] = {}
        for doc_id, symbol in rows:
            by_doc.setdefault(doc_id, []).append(symbol)
        uri, name = self.mongo  # type: ignore[misc]
        try:
            client = connect(uri, Redactor(uri), self.timeout_ms)
        except ValueError as exc:  # an unusable URI: the store pipeline says so too
            logger.error("could not record stock symbols in MongoDB: %s", exc)
            counts["mongo_pending"] = len(rows)
            return
        try:
            collection = client.get_default_database(DEFAULT_DATABASE)[name]
            held = _held(collection, list(by_doc))
            writes = [
                UpdateOne({"_id": d}, {"$addToSet": {"symbols": {"$each": sorted(s)}}})
                for d, s in by_doc.items()
                if d in held
            ]
            if writes:
                collection.bulk_write(writes, ordered=False)
        except PyMongoError as exc:
            # The pairs stay pending; the next run tries them again.
            logger.error("could not record stock symbols in MongoDB: %s", type(exc).__name__)
            counts["mongo_pending"] = len(rows)
            return
        finally:
            client.close()
        done = [(d, s) for d, symbols in by_doc.items() if d in held for s in symbols]
        db.executemany("UPDATE symbols SET in_mongo = 1 WHERE doc_id = ? AND symbol = ?", done)
        counts["mongo_recorded"] = len(done)
        counts["mongo_pending"] = len(rows) - len(done)


def _held(collection, doc_ids: list[str]) -> set[str]:
    """The ids among ``doc_ids`` that MongoDB holds (asked in slices of a thousand)."""
    held: set[str] = set()
    for start in range(0, len(doc_ids), 1000):
        ids = doc_ids[start : start + 1000]
        held.update(str(d["_id"]) for d in collection.find({"_id": {"$in": ids}}, {"_id": 1}))
    return held


def symbols_of(path: Path, doc_ids: Iterable[str] | None = None) -> dict[str, list[str]]:
    """doc_id → its symbols (sorted), from a ``symbols.sqlite``; all of them by default."""
    if not path.exists():
        return {}
    found: dict[str, list[str]] = {}
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT doc_id, symbol FROM symbols ORDER BY doc_id, symbol")
        wanted = set(doc_ids) if doc_ids is not None else None
        for doc_id, symbol in rows:
            if wanted is None or doc_id in wanted:
                found.setdefault(doc_id, []).append(symbol)
    return found
