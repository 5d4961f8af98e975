"""Batches of documents to one collection: plan, bulk upsert, retry, circuit-break.

A batch is written with one ``$in`` read of the stored content hashes (to tell new, unchanged
and revised articles apart) and one unordered bulk of ``UpdateOne`` upserts
(``$set``/``$setOnInsert``/``$inc`` only). Transient failures are retried with exponential
backoff; while MongoDB is known to be down only one probe is made every few seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pymongo import MongoClient, UpdateOne
from pymongo.errors import (
    BulkWriteError,
    ExecutionTimeout,
    OperationFailure,
    PyMongoError,
)
from pymongo.write_concern import WriteConcern

from sinacrawl.stores.mongo.documents import to_bson_date
from sinacrawl.stores.mongo.redact import Redactor

if TYPE_CHECKING:
    from pymongo.collection import Collection

logger = logging.getLogger(__name__)

# Server error codes that mean "try again later" rather than "this document is refused"
# (not primary, shutting down, network, write-concern trouble).
TRANSIENT_CODES = frozenset({6, 7, 64, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436})


@dataclass
class BatchResult:
    """What one batch did; counted into the stats by the pipeline (not from the thread)."""

    upserted: int = 0
    unchanged: int = 0
    revised: int = 0
    stale: int = 0
    rejected: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    spooled: int = 0

    def add(self, other: BatchResult) -> None:
        self.upserted += other.upserted
        self.unchanged += other.unchanged
        self.revised += other.revised
        self.stale += other.stale
        self.rejected += other.rejected
        self.spooled += other.spooled


class MongoUnavailable(Exception):
    """MongoDB could not take a batch (after retries); the message is already redacted."""


def _rounds(docs: Sequence[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Split a batch so no ``_id`` appears twice in one round, keeping their order.

    An unordered bulk may apply two updates of one document in any order, and the revision
    decision must see the first before the second.

    >>> [[d["_id"] for d in r] for r in _rounds([{"_id": "a"}, {"_id": "b"}, {"_id": "a"}])]
    [['a', 'b'], ['a']]
    """
    remaining = list(docs)
    while remaining:
        seen: set[str] = set()
        this_round, later = [], []
        for doc in remaining:
            (later if doc["_id"] in seen else this_round).append(doc)
            seen.add(doc["_id"])
        yield this_round
        remaining = later


def plan_update(doc: dict[str, Any], stored: dict[str, Any] | None) -> tuple[str, UpdateOne | None]:
    """The outcome for one document given what is stored under its id, and the write for it.

    Outcomes: ``upserted`` (new), ``unchanged`` (same title and body: only ``last_seen_at``,
    and a newer listing mtime, move), ``revised`` (title or body changed: every field set and
    ``revision`` raised), ``stale`` (an older version than the stored one, e.g. a spool replayed
    after a newer crawl: nothing written).
    """
    seen = doc["last_seen_at"]
    fields = {k: v for k, v in doc.items() if k != "_id"}
    key = {"_id": doc["_id"]}
    if stored is None:
        update = {"$set": fields, "$setOnInsert": {"first_seen_at": seen, "revision": 1}}
        return "upserted", UpdateOne(key, update, upsert=True)
    # last_seen_at only moves forward; decided here rather than with $max, which not every
    # wire-compatible server applies to dates.
    stored_seen = to_bson_date(stored.get("last_seen_at"))
    later = stored_seen is None or seen > stored_seen
    newer_mtime = doc["listing_mtime"] is not None and (
        stored.get("listing_mtime") is None
        or doc["listing_mtime"] > to_bson_date(stored["listing_mtime"])
    )
    if stored.get("content_hash") == doc["content_hash"]:
        moves = {"last_seen_at": seen} if later else {}
        if newer_mtime:
            moves["listing_mtime"] = doc["listing_mtime"]
        if not moves:
            return "unchanged", None
        # Upsert, with the whole document on insert, in case it was deleted in between.
        insert_only = {k: v for k, v in fields.items() if k not in moves}
        update = {
            "$set": moves,
            "$setOnInsert": {**insert_only, "first_seen_at": seen, "revision": 1},
        }
        return "unchanged", UpdateOne(key, update, upsert=True)
    if not later:
        return "stale", None
    if not newer_mtime:
        fields.pop("listing_mtime")  # keep the stored listing mtime
    update = {"$set": fields, "$inc": {"revision": 1}, "$setOnInsert": {"first_seen_at": seen}}
    return "revised", UpdateOne(key, update, upsert=True)


class MongoWriter:
    """Writes batches of documents to one collection: plan, bulk upsert, retry, circuit-break.

    Used from one thread at a time (the pipeline's writer thread).
    """

    def __init__(
        self,
        collection: Collection,
        redact: Redactor,
        *,
        durable: Collection | None = None,
        retries: int = 3,
        backoff: float = 0.5,
        probe_seconds: float = 10.0,
    ) -> None:
        self.collection = collection
        self.durable = durable if durable is not None else collection
        self.redact = redact
        self.retries = retries
        self.backoff = backoff
        self.probe_seconds = probe_seconds
        self._down_since: float | None = None
        self._last_probe = 0.0
        self._indexed = False
        self.retried = 0

    def ensure_indexes(self) -> None:
        """The unique url index (``_id`` is doc_id, unique by nature).

        A collection that cannot take the index (duplicate urls already stored, an index of
        that name with other options) is reported once and written to anyway; only a
        connection problem is raised, so the batch is retried and spooled.
        """
        try:
            self.collection.create_index("url", unique=True, name="url_unique")
        except OperationFailure as exc:
            if isinstance(exc, ExecutionTimeout) or exc.code not in (11000, 85, 86):
                raise
            logger.error("MongoDB: no unique url index: %s", self.redact(exc))
        self._indexed = True

    def write(self, docs: Sequence[dict[str, Any]], *, durable: bool = False) -> BatchResult:
        """Store the batch, retrying transient failures with exponential backoff.

        ``durable`` writes with the journaled write concern: its acknowledgement also means
        every earlier write of this client is on disk (the journal is written in order).

        Raises MongoUnavailable when MongoDB does not take it; while MongoDB is known to be
        down, only one attempt every ``probe_seconds`` is made, so an outage costs no time.
        """
        if self._down_since is not None:
            now = time.monotonic()
            if now - self._last_probe < self.probe_seconds:
                raise MongoUnavailable("MongoDB is down; not retried until the next probe")
            self._last_probe = now
            attempts = 1
        else:
            attempts = 1 + self.retries
        error: Exception | None = None
        planned: dict[str, str] = {}  # outcomes decided by earlier attempts of this batch
        for attempt in range(attempts):
            if attempt:
                self.retried += 1
                time.sleep(min(self.backoff * 2 ** (attempt - 1), 30.0))
            try:
                if not self._indexed:
                    self.ensure_indexes()
                target = self.durable if durable else self.collection
                result = self._write_once(docs, target, planned)
            except Exception as exc:
                # The driver raises more than PyMongoError
                # (a server's odd auth reply surfaces as KeyError); any of it must spool, not lose.
                error = exc
                logger.debug("MongoDB write attempt %d failed: %s", attempt + 1, self.redact(exc))
                continue
            if self._down_since is not None:
                logger.info("MongoDB is back after %.0f s", time.monotonic() - self._down_since)
                self._down_since = None
            return result
        if self._down_since is None:
            self._down_since = self._last_probe = time.monotonic()
        raise MongoUnavailable(
            f"MongoDB did not take {len(docs)} documents after {attempts} attempt(s): "
            f"{self.redact(error)}"
        ) from None

    def _write_once(
        self, docs: Sequence[dict[str, Any]], target: Collection, planned: dict[str, str]
    ) -> BatchResult:
        """One attempt: per round, one ``$in`` read of the stored hashes, then one bulk write.

        Planning again on every attempt keeps retries idempotent: a round that was partly
        applied before a connection broke reads back as unchanged, not revised twice (and is
        counted as what the first attempt found it to be).
        """
        result = BatchResult()
        for round_docs in _rounds(docs):
            ids = [d["_id"] for d in round_docs]
            projection = {"content_hash": 1, "last_seen_at": 1, "listing_mtime": 1}
            stored = {s["_id"]: s for s in self.collection.find({"_id": {"$in": ids}}, projection)}
            outcomes: list[str] = []
            ops: list[UpdateOne] = []
            op_docs: list[dict[str, Any]] = []
            for doc in round_docs:
                outcome, op = plan_update(doc, stored.get(doc["_id"]))
                if op is None and outcome == "unchanged" and doc["_id"] in planned:
                    outcome = planned[doc["_id"]]  # written by an earlier attempt
                planned.setdefault(doc["_id"], outcome)
                outcomes.append(outcome)
                if op is not None:
                    ops.append(op)
                    op_docs.append(doc)
            refused: set[int] = set()
            if ops:
                try:
                    target.bulk_write(ops, ordered=False)
                except BulkWriteError as exc:
                    refused = self._refused(exc, op_docs, result)
            refused_ids = {op_docs[i]["_id"] for i in refused}
            for doc, outcome in zip(round_docs, outcomes, strict=True):
                if doc["_id"] not in refused_ids:
                    setattr(result, outcome, getattr(result, outcome) + 1)
        return result

    def confirm(self, docs: Sequence[dict[str, Any]]) -> None:
        """One journaled write (``last_seen_at`` of these documents moved to now), so every
        earlier acknowledged write is known to be on disk. Raises MongoUnavailable."""
        now = to_bson_date(datetime.now(timezone.utc))
        ops = [UpdateOne({"_id": d["_id"]}, {"$set": {"last_seen_at": now}}) for d in docs]
        try:
            self.durable.bulk_write(ops, ordered=False)
        except Exception as exc:  # anything the driver raises, as in write()
            raise MongoUnavailable(f"MongoDB did not confirm: {self.redact(exc)}") from None

    def _refused(
        self, exc: BulkWriteError, op_docs: list[dict[str, Any]], result: BatchResult
    ) -> set[int]:
        """Record documents MongoDB refuses for good (e.g. a url another doc_id holds).

        A transient error anywhere re-raises, so the whole round is tried again.
        """
        details = exc.details or {}
        errors = details.get("writeErrors", [])
        if details.get("writeConcernErrors") or any(
            e.get("code") in TRANSIENT_CODES for e in errors
        ):
            raise exc
        refused = set()
        for error in errors:
            index = error.get("index", -1)
            if 0 <= index < len(op_docs):
                refused.add(index)
                reason = self.redact(f"code {error.get('code')}: {error.get('errmsg', '')}")
                result.rejected.append((op_docs[index], reason))
        return refused


def connect(uri: str, redact: Redactor, timeout_ms: int) -> MongoClient:
    """A client that fails fast when the server is down; errors never show the password."""
    options: dict[str, Any] = {"appname": "sinacrawl", "tz_aware": True}
    lowered = uri.lower()
    if "serverselectiontimeoutms" not in lowered:
        options["serverSelectionTimeoutMS"] = timeout_ms
    if "connecttimeoutms" not in lowered:
        options["connectTimeoutMS"] = timeout_ms
    try:
        return MongoClient(uri, **options)
    except (PyMongoError, ValueError, TypeError) as exc:
        raise ValueError(f"unusable MONGO_URI {redact(uri)}: {redact(exc)}") from None


def write_concerns(client: MongoClient) -> tuple[WriteConcern, WriteConcern]:
    """(fast, durable) write concerns: w:1 and journaled, unless the URI chose one (then
    every write uses it, and its acknowledgement is trusted as it is).

    A batch's local journal file is deleted only after a durable acknowledgement covers it.
    """
    chosen = client.write_concern
    if chosen.document:
        return chosen, chosen
    return WriteConcern(w=1), WriteConcern(w=1, j=True)
