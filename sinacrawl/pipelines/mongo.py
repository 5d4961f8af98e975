"""Store articles in MongoDB (SPEC §5): batched bulk upserts keyed by doc_id that lose nothing.

Each item is appended to a local journal segment before it is buffered, so a run killed at any
moment leaves it on disk. A batch is written with one ``$in`` read of the stored content hashes
(to tell new, unchanged and revised articles apart) and one unordered bulk of ``UpdateOne``
upserts (``$set``/``$setOnInsert``/``$inc`` only), acknowledged by ``w: 1``; every tenth
batch and the last one are journaled, and a segment is deleted only once such a journaled
write covers it (group commit). When MongoDB stays unreachable after bounded retries the
batch's segment is fsync'ed and kept as a spool, which the next start replays. The URI's
password is redacted from everything this module logs, raises or counts.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus

from bson import json_util
from bson.codec_options import CodecOptions
from dateutil import parser as dateparser
from itemadapter import ItemAdapter
from pymongo import MongoClient, UpdateOne
from pymongo.errors import (
    BulkWriteError,
    ExecutionTimeout,
    OperationFailure,
    PyMongoError,
)
from pymongo.write_concern import WriteConcern
from scrapy.exceptions import NotConfigured
from scrapy.utils.asyncio import create_looping_call, run_in_thread
from scrapy.utils.defer import deferred_from_coro

from sinacrawl.archive import state_dir
from sinacrawl.exceptions import DropArticle
from sinacrawl.extensions.accounting import report_store_failed
from sinacrawl.items import FIELDS, empty_article
from sinacrawl.scrapy_compat import sleep
from sinacrawl.state import KnownArticles, from_epoch

if TYPE_CHECKING:
    from pymongo.collection import Collection
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)

DEFAULT_DATABASE = "sina"
DATE_FIELDS = ("published_at", "crawled_at")
# What "the article changed" means for the revision counter (SPEC §5: title or body).
HASHED_FIELDS = ("title", "body_html")
STAT = "sinacrawl/mongo/"
# Loggers of pymongo that may print connection details; they get the redacting filter.
PYMONGO_LOGGERS = (
    "pymongo",
    "pymongo.client",
    "pymongo.command",
    "pymongo.connection",
    "pymongo.serverSelection",
    "pymongo.topology",
)
# Server error codes that mean "try again later" rather than "this document is refused"
# (not primary, shutting down, network, write-concern trouble).
TRANSIENT_CODES = frozenset({6, 7, 64, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436})
# Spool lines: relaxed extended JSON keeps dates as dates and stays readable for a person.
EXTENDED_JSON = json_util.JSONOptions(
    json_mode=json_util.JSONMode.RELAXED, tz_aware=True, tzinfo=timezone.utc
)
SPOOL_GLOB = "spool-*.jsonl"
# Batches waiting for the writer thread before new items wait too (bounds memory).
MAX_QUEUED_BATCHES = 8
# Every this many full batches one is written journaled, confirming the ones before it.
CONFIRM_EVERY = 10


# --- credentials -------------------------------------------------------------------------

_USERINFO = re.compile(r"(?i)(mongodb(?:\+srv)?://[^:@/\s]*):[^@\s]*@")


class Redactor:
    """Removes the MongoDB password (raw and URL-escaped) from any text.

    >>> redact = Redactor("mongodb://bob:p%40ss@db.example:27017/sina")
    >>> redact("auth failed for mongodb://bob:p%40ss@db.example:27017/sina (p@ss)")
    'auth failed for mongodb://bob:***@db.example:27017/sina (***)'
    """

    def __init__(self, uri: str) -> None:
        secrets: set[str] = set()
        password = _password_of(uri)
        if password:
            plain = unquote_plus(password)
            secrets |= {password, plain, unquote(password), quote_plus(plain), quote(plain, "")}
        # Longest first, so a secret that contains another is removed whole.
        self._secrets = sorted((s for s in secrets if s), key=len, reverse=True)

    def __call__(self, text: object) -> str:
        text = _USERINFO.sub(r"\1:***@", str(text))
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def _password_of(uri: str) -> str | None:
    """The raw password part of a MongoDB URI, also for malformed (unescaped) ones.

    >>> _password_of("mongodb://u:a@b/c@host/db"), _password_of("mongodb://host/db")
    ('a@b/c', None)
    """
    _, sep, rest = uri.partition("://")
    at = rest.rfind("@")
    if not sep or at < 0:
        return None
    userinfo = rest[:at]
    return userinfo.split(":", 1)[1] if ":" in userinfo else None


class _RedactingFilter(logging.Filter):
    """Rewrites a pymongo log record without the password before any handler sees it."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


# --- items to documents --------------------------------------------------------------------


def to_bson_date(value: object) -> datetime | None:
    """An ISO string or datetime as an aware UTC datetime (what BSON stores); None if unusable.

    >>> to_bson_date("2021-11-22T17:33:50+08:00")
    datetime.datetime(2021, 11, 22, 9, 33, 50, tzinfo=datetime.timezone.utc)
    >>> to_bson_date("yesterday") is None, to_bson_date(None) is None
    (True, True)
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            try:
                value = dateparser.isoparse(value)
            except (ValueError, OverflowError):
                return None
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:  # naive values in items and BSON mean UTC
        value = value.replace(tzinfo=timezone.utc)
    # BSON dates have millisecond precision; truncate now so comparisons stay exact.
    value = value.astimezone(timezone.utc)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def content_hash(doc: dict[str, Any]) -> str:
    """SHA-256 over the fields whose change raises the revision (title and body).

    >>> content_hash({"title": "t", "body_html": "<p>b</p>"})[:12]
    '92a5200d2096'
    """
    digest = hashlib.sha256()
    for name in HASHED_FIELDS:
        digest.update((doc.get(name) or "").encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


def to_document(
    item: Any, seen_at: datetime, listing_mtime: datetime | None = None
) -> dict[str, Any]:
    """The MongoDB document for an item: every item field plus the bookkeeping fields.

    The Article item has no listing mtime; the pipeline passes the one the listing announced
    (see ``KnownArticles``). An item that carries a ``listing_mtime`` key (a dict item) wins.
    """
    adapter = ItemAdapter(item)
    doc = empty_article()
    for name in FIELDS:
        value = adapter.get(name)
        if value is not None:
            doc[name] = list(value) if isinstance(value, (tuple, set, frozenset)) else value
    if not doc["doc_id"]:
        raise DropArticle("no_doc_id", f"cannot key a MongoDB document for {doc['url']!r}")
    for name in DATE_FIELDS:
        raw = doc[name]
        doc[name] = to_bson_date(raw)
        if raw is not None and doc[name] is None:
            logger.warning("%s: unusable %s %r stored as null", doc["doc_id"], name, raw)
    doc["_id"] = doc["doc_id"]
    doc["listing_mtime"] = to_bson_date(adapter.get("listing_mtime") or listing_mtime)
    doc["content_hash"] = content_hash(doc)
    doc["last_seen_at"] = to_bson_date(seen_at)
    return doc


# --- writing batches -----------------------------------------------------------------------


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


# --- journal and spool ---------------------------------------------------------------------


def _encode(doc: dict[str, Any]) -> bytes:
    return (json_util.dumps(doc, json_options=EXTENDED_JSON, ensure_ascii=False) + "\n").encode()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Segment:
    """One journal file of extended-JSON lines, locked while this process owns it.

    The lock tells a starting run which files belong to a live process (skip) and which were
    left by a finished or killed one (replay).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def append(self, doc: dict[str, Any]) -> None:
        # One write() of the whole line: a killed process leaves whole lines in the page cache.
        os.write(self.fd, _encode(doc))

    def discard(self) -> None:
        """The batch is in MongoDB: the file is no longer needed."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self.fd)

    def keep(self) -> None:
        """The batch is not in MongoDB: make the file durable for the next start's replay."""
        os.fsync(self.fd)
        _fsync_dir(self.path.parent)
        os.close(self.fd)


class Journal:
    """Creates segments in the spool directory; one per batch."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self._seq = 0
        self._current: Segment | None = None

    def append(self, doc: dict[str, Any]) -> None:
        if self._current is None:
            self._seq += 1
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
            name = f"spool-{stamp}-{os.getpid()}-{self._seq:06d}.jsonl"
            self._current = Segment(self.directory / name)
        self._current.append(doc)

    def seal(self) -> Segment | None:
        """End the current segment; its batch goes to MongoDB next."""
        segment, self._current = self._current, None
        return segment


def spool_files(directory: Path) -> list[Path]:
    """Spool files left by earlier runs (oldest first)."""
    return sorted(directory.glob(SPOOL_GLOB)) if directory.is_dir() else []


@contextlib.contextmanager
def _claim(path: Path) -> Iterator[bool]:
    """Lock a spool file for replay; False when a live process still writes it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def read_spool(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The documents of a spool file and the number of unreadable lines (a torn last line)."""
    docs, bad = [], 0
    with path.open("rb") as handle:
        for line in handle:
            try:
                doc = json_util.loads(line.decode("utf-8"), json_options=EXTENDED_JSON)
            except (ValueError, UnicodeDecodeError):
                bad += 1
                continue
            if isinstance(doc, dict) and "_id" in doc:
                docs.append(doc)
            else:
                bad += 1
    return docs, bad


def write_rejected(directory: Path, rejected: Iterable[tuple[dict[str, Any], str]]) -> Path:
    """Keep documents MongoDB refused for good beside the spool, for a person to look at."""
    path = directory / f"rejected-{time.strftime('%Y%m%d', time.gmtime())}.jsonl"
    with path.open("ab") as handle:
        for doc, reason in rejected:
            handle.write(_encode({"reason": reason, "document": doc}))
        handle.flush()
        os.fsync(handle.fileno())
    return path


# --- the pipeline --------------------------------------------------------------------------


class MongoPipeline:
    """Item pipeline (priority 400): every item to MongoDB, when ``MONGO_URI`` is set.

    Settings: ``MONGO_URI`` (database from its path, default ``sina``), ``MONGO_COLLECTION``
    (``articles``), ``MONGO_BATCH_SIZE`` (50), ``MONGO_FLUSH_SECONDS`` (5),
    ``MONGO_SPOOL_DIR`` (``<ARCHIVE_DIR>/.sinacrawl/mongo-spool``, or ``./.sinacrawl/…``
    without an archive), ``MONGO_RETRY_TIMES`` (3),
    ``MONGO_RETRY_BACKOFF`` (0.5 s, doubled each retry), ``MONGO_PROBE_SECONDS`` (10: how often
    a down MongoDB is tried again), ``MONGO_TIMEOUT_MS`` (3000: server selection and connect).

    A document MongoDB refuses for good (another doc_id holds its url) is refused only when
    its batch is written, after the item has left the pipelines and been counted as stored;
    the pipeline then reports it to the accounting, which counts the article once, as
    ``failed/mongo_rejected``, and the run exits with ``storage_failure``. The document is
    kept in ``rejected-<date>.jsonl`` beside the spool for a person to resolve. The Hexo post
    the archive pipeline wrote for it stays: the archive is the default output (SPEC §4) and
    the post is correct, MongoDB's refusal says nothing against it, and deleting it would
    drop an article the archive had safely. As MongoDB does not hold the article, it is not
    "known" to the next run (known = held by every store), which fetches it again and leaves
    the unchanged post alone. A document refused while an earlier run's spool is replayed is
    no article of this run: it counts only as ``sinacrawl/mongo/rejected`` (also a storage
    failure).
    """

    def __init__(self, crawler: Crawler, uri: str) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.stats: StatsCollector = crawler.stats  # type: ignore[assignment]
        self.redact = Redactor(uri)
        self.batch_size = max(1, settings.getint("MONGO_BATCH_SIZE", 50))
        self.flush_seconds = settings.getfloat("MONGO_FLUSH_SECONDS", 5.0)
        # Beside the archive's own state; in the working folder for MongoDB-only runs.
        spool = settings.get("MONGO_SPOOL_DIR") or state_dir(settings) / "mongo-spool"
        self.spool_dir = Path(spool)
        self.client = connect(uri, self.redact, settings.getint("MONGO_TIMEOUT_MS", 3000))
        database = self.client.get_default_database(DEFAULT_DATABASE)
        fast, durable = write_concerns(self.client)
        # Group commit: with the default concerns most batches are acknowledged by w:1 and
        # every CONFIRM_EVERY-th (and the last) one is journaled; a batch's local journal file
        # is deleted only once a journaled acknowledgement covers it.
        self.group_commit = fast is not durable
        name = settings.get("MONGO_COLLECTION") or "articles"
        codecs = CodecOptions(tz_aware=True, tzinfo=timezone.utc)
        self.collection = database.get_collection(name, codec_options=codecs, write_concern=fast)
        self.where = f"{self.redact(uri)} → {database.name}.{self.collection.name}"
        self.writer = MongoWriter(
            self.collection,
            self.redact,
            durable=database.get_collection(name, codec_options=codecs, write_concern=durable),
            retries=settings.getint("MONGO_RETRY_TIMES", 3),
            backoff=settings.getfloat("MONGO_RETRY_BACKOFF", 0.5),
            probe_seconds=settings.getfloat("MONGO_PROBE_SECONDS", 10.0),
        )
        self.journal = Journal(self.spool_dir)
        self.known = KnownArticles.from_crawler(crawler)
        self._pending: list[dict[str, Any]] = []
        self._queue: deque[tuple[Segment | None, list[dict[str, Any]], bool]] = deque()
        # Written with w:1, waiting for a journaled write to confirm them (writer thread only).
        self._unconfirmed: list[tuple[Segment | None, list[dict[str, Any]]]] = []
        self._sealed = 0
        self._draining = False
        self._drainer: Any = None
        self._timer: Any = None
        self._last_seal = time.monotonic()
        self._filter = _RedactingFilter(self.redact)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> MongoPipeline:
        uri = crawler.settings.get("MONGO_URI")
        if not uri:
            raise NotConfigured("MONGO_URI is not set")
        return cls(crawler, uri)

    async def open_spider(self) -> None:
        for name in PYMONGO_LOGGERS:
            logging.getLogger(name).addFilter(self._filter)
        logger.info("MongoDB: storing articles in %s", self.where)
        try:
            await run_in_thread(self.writer.ensure_indexes)
        except Exception as exc:  # anything the driver raises: see MongoWriter.write
            logger.warning("MongoDB unreachable at start (%s); items will spool", self.redact(exc))
        await self.replay()
        self._timer = create_looping_call(self._on_timer)
        self._timer.start(max(0.1, self.flush_seconds / 2), now=False)

    async def process_item(self, item: Any) -> Any:
        doc_id = ItemAdapter(item).get("doc_id")
        doc = to_document(item, datetime.now(timezone.utc), self._listing_mtime(doc_id))
        self.journal.append(doc)
        self._pending.append(doc)
        # Journaled is as good as stored: the write happens now or at the next start.
        self.known.remember(doc["_id"], doc["listing_mtime"])
        if len(self._pending) >= self.batch_size:
            self._seal_and_drain(durable=self._sealed % CONFIRM_EVERY == CONFIRM_EVERY - 1)
        # A MongoDB slower than the crawl holds items back here (and so, through Scrapy's
        # scraper slot, the downloads) rather than piling batches up in memory.
        while len(self._queue) > MAX_QUEUED_BATCHES and self._draining:
            await sleep(0.05)
        return item

    def _listing_mtime(self, doc_id: str | None) -> datetime | None:
        """The mtime this run's listing announced; once the Hexo pipeline has recorded the
        article (it runs first), the mtime it recorded."""
        if not doc_id:
            return None
        return self.known.listing_mtime(doc_id) or from_epoch(self.known.stored_mtime(doc_id) or 0)

    async def close_spider(self) -> None:
        if self._timer is not None and self._timer.running:
            self._timer.stop()
        self._seal_and_drain(durable=True)
        while self._draining:
            await sleep(0.02)
        for segment, docs, _ in self._queue:  # only after an unexpected error in the drain
            if segment is not None:
                segment.keep()
            self._count(BatchResult(spooled=len(docs)))
        self._queue.clear()
        if self._unconfirmed:  # the last batch was full and written with w:1
            await run_in_thread(self._confirm)
        self.client.close()
        for name in PYMONGO_LOGGERS:
            logging.getLogger(name).removeFilter(self._filter)
        spooled = self.stats.get_value(STAT + "spooled", 0)
        if spooled:
            logger.error(
                "MongoDB: %d items spooled to %s; they are written at the next start",
                spooled,
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
        with _claim(path) as mine:
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
        if result.rejected:
            self.stats.inc_value(STAT + "rejected", len(result.rejected))
        retried, self.writer.retried = self.writer.retried, 0
        if retried:
            self.stats.inc_value(STAT + "retries", retried)


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
