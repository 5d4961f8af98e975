"""What is already stored: compact sets of document ids, shared by dedupe and the incremental skip.

A million known articles must not cost hundreds of megabytes (a Python set of strings costs
about 100 bytes an id), so ids are kept as 64-bit hashes in sorted ``array('Q')`` blocks
(8 bytes an id) beside a parallel ``array('I')`` of listing mtimes (4 bytes), bucketed by
the top bits of the hash (see HashIndex).

One :class:`KnownArticles` per crawler (``KnownArticles.from_crawler``) is loaded at start
from every configured store (``Store.known_ids``, see sinacrawl/stores/__init__.py).
"""

from __future__ import annotations

import hashlib
import logging
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sinacrawl.stores import stores_of

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

_CRAWLER_ATTR = "_sinacrawl_known_articles"


def id_hash(key: str) -> int:
    """A stable 64-bit hash of an id (stable across runs, unlike ``hash()``).

    At a million ids the chance of any collision is about 3 in 100 million.

    >>> id_hash("ikyamrmz6784021") == id_hash("ikyamrmz6784021") != id_hash("ikyamrmz6784022")
    True
    """
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "big")


def to_epoch(value: datetime | int | float | None) -> int:
    """Seconds since the epoch for an mtime, 0 for unknown (fits ``array('I')`` until 2106).

    >>> to_epoch(datetime(2021, 11, 22, 9, 33, 50, tzinfo=timezone.utc)), to_epoch(None)
    (1637573630, 0)
    """
    if value is None:
        return 0
    if isinstance(value, datetime):
        if value.tzinfo is None:  # BSON dates come back naive and mean UTC
            value = value.replace(tzinfo=timezone.utc)
        value = value.timestamp()
    seconds = int(value)
    return seconds if 0 < seconds < 1 << 32 else 0


def from_epoch(seconds: int) -> datetime | None:
    """The inverse of :func:`to_epoch`: an aware UTC datetime, or None for 0."""
    return datetime.fromtimestamp(seconds, timezone.utc) if seconds else None


class HashIndex:
    """A map from 64-bit id hashes to a 32-bit value, at about 12 bytes an entry.

    Entries live in 4096 buckets chosen by the top bits of the hash; each bucket is a
    sorted ``array('Q')`` of hashes beside an ``array('I')`` of values, so a lookup is a
    short binary search and an insert moves a few hundred bytes, even at millions of ids.

    >>> index = HashIndex()
    >>> index.put(id_hash("a"), 5); index.put(id_hash("b"), 0)
    >>> index.get(id_hash("a")), index.get(id_hash("b")), index.get(id_hash("c")), len(index)
    (5, 0, None, 2)
    """

    BUCKET_BITS = 12

    def __init__(self, *, values: bool = True) -> None:
        buckets = 1 << self.BUCKET_BITS
        self._shift = 64 - self.BUCKET_BITS
        self._keys = [array("Q") for _ in range(buckets)]
        # A pure set (values=False) keeps zero-length value arrays: 8 bytes an entry.
        self._values = values
        self._vals = [array("I") for _ in range(buckets)]
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def __contains__(self, key: int) -> bool:
        return self.get(key) is not None

    def get(self, key: int) -> int | None:
        """The value stored for ``key``, or None when the key is absent."""
        b = key >> self._shift
        keys = self._keys[b]
        i = bisect_left(keys, key)
        if i < len(keys) and keys[i] == key:
            return self._vals[b][i] if self._values else 0
        return None

    def put(self, key: int, value: int = 0) -> None:
        """Store ``value`` for ``key``, replacing any earlier value."""
        b = key >> self._shift
        keys = self._keys[b]
        i = bisect_left(keys, key)
        if not self._values:
            value = 0
        if i < len(keys) and keys[i] == key:
            if self._values:
                self._vals[b][i] = value
        else:
            keys.insert(i, key)
            if self._values:
                self._vals[b].insert(i, value)
            self._len += 1

    def add(self, key: int) -> bool:
        """Insert ``key`` with value 0; True when it was not there before."""
        b = key >> self._shift
        keys = self._keys[b]
        i = bisect_left(keys, key)
        if i < len(keys) and keys[i] == key:
            return False
        keys.insert(i, key)
        if self._values:
            self._vals[b].insert(i, 0)
        self._len += 1
        return True

    def items(self) -> Iterator[tuple[int, int]]:
        """Every (key, value) pair, sorted by key."""
        for keys, vals in zip(self._keys, self._vals, strict=True):
            yield from zip(keys, vals if self._values else (0,) * len(keys), strict=True)


class CompactIdSet:
    """A set of string ids at about 8 bytes an id (64-bit hashes, not the strings).

    >>> seen = CompactIdSet()
    >>> seen.add("ikyamrmz6784021"), seen.add("ikyamrmz6784021"), "ikyamrmz6784021" in seen
    (True, False, True)
    """

    def __init__(self) -> None:
        self._index = HashIndex(values=False)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, key: str) -> bool:
        return id_hash(key) in self._index

    def add(self, key: str) -> bool:
        """Add ``key``; True when it was new."""
        return self._index.add(id_hash(key))


class CompactMap:
    """A map from string ids to a few distinct values (outcome names, channels) at about
    12 bytes an id: the 64-bit hash of each key beside the number of its value. For the
    per-article books a run keeps until its end, which must not grow by a Python string
    and dict slot (~150 bytes) per article over a year's backfill.

    >>> books = CompactMap()
    >>> books["ikyamrmz6784021"] = "stored"
    >>> "ikyamrmz6784021" in books, books.get("ikyamrmz6784021"), books.get("other", "-")
    (True, 'stored', '-')
    >>> books.pop("ikyamrmz6784021"), "ikyamrmz6784021" in books
    ('stored', False)
    """

    _GONE = (1 << 32) - 1

    def __init__(self) -> None:
        self._index = HashIndex()
        self._values: list[Any] = []
        self._codes: dict[Any, int] = {}

    def get(self, key: str, default: Any = None) -> Any:
        code = self._index.get(id_hash(key))
        return default if code is None or code == self._GONE else self._values[code]

    def __contains__(self, key: str) -> bool:
        code = self._index.get(id_hash(key))
        return code is not None and code != self._GONE

    def __getitem__(self, key: str) -> Any:
        if key not in self:
            raise KeyError(key)
        return self.get(key)

    def __setitem__(self, key: str, value: Any) -> None:
        code = self._codes.get(value)
        if code is None:
            code = self._codes[value] = len(self._values)
            self._values.append(value)
        self._index.put(id_hash(key), code)

    def pop(self, key: str, default: Any = None) -> Any:
        value = self.get(key, default)
        if key in self:
            self._index.put(id_hash(key), self._GONE)
        return value


class KnownArticles:
    """Which doc_ids every enabled store already holds, with the listing mtime they had.

    The incremental middleware asks :meth:`is_current` before an article is downloaded;
    the storage pipeline asks :meth:`listing_mtime` for the mtime an article's listing
    announced (noted by the middleware with :meth:`expect`, since items do not carry it) and
    calls :meth:`remember` once every store has taken the article.
    """

    def __init__(self) -> None:
        self._stored = HashIndex()
        self._expected = HashIndex()  # listing mtimes announced in this run

    def __len__(self) -> int:
        return len(self._stored)

    def __contains__(self, doc_id: str) -> bool:
        return id_hash(doc_id) in self._stored

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> KnownArticles:
        """The crawler's one instance, loaded from its enabled stores on first use."""
        known = getattr(crawler, _CRAWLER_ATTR, None)
        if known is None:
            known = cls.from_stores([store.known_ids() for store in stores_of(crawler)])
            setattr(crawler, _CRAWLER_ATTR, known)
        return known

    @classmethod
    def from_stores(cls, stores: list[Iterable[tuple[str, int]]]) -> KnownArticles:
        """Known = held by every store; the stored mtime is the oldest of theirs."""
        known = cls()
        for n, store in enumerate(stores):
            if n == 0:
                for doc_id, mtime in store:
                    known._stored.put(id_hash(doc_id), mtime)
                continue
            both = HashIndex()
            for doc_id, mtime in store:
                key = id_hash(doc_id)
                earlier = known._stored.get(key)
                if earlier is not None:
                    both.put(key, min(earlier, mtime) if earlier and mtime else 0)
            known._stored = both
        return known

    def stored_mtime(self, doc_id: str) -> int | None:
        """None when not stored; else the listing mtime it was stored with (0: unknown)."""
        return self._stored.get(id_hash(doc_id))

    def is_current(self, doc_id: str, listing_mtime: datetime | int | None = None) -> bool:
        """True when ``doc_id`` is stored and the listing does not announce a newer version.

        A stored article whose mtime is unknown counts as current: without a recorded
        mtime nothing says it changed, and re-fetching the whole archive after an index
        rebuild would hammer Sina for nothing.
        """
        stored = self.stored_mtime(doc_id)
        if stored is None:
            return False
        announced = to_epoch(listing_mtime)
        return not (announced and stored and announced > stored)

    def expect(self, doc_id: str, listing_mtime: datetime | int | None) -> None:
        """Note the mtime a listing announced for an article about to be downloaded."""
        self._expected.put(id_hash(doc_id), to_epoch(listing_mtime))

    def listing_mtime(self, doc_id: str) -> datetime | None:
        """The mtime the listing announced for ``doc_id`` in this run, if any."""
        return from_epoch(self._expected.get(id_hash(doc_id)) or 0)

    def remember(self, doc_id: str, listing_mtime: datetime | int | None = None) -> None:
        """Record that ``doc_id`` is now stored (by the storage pipeline, after every store)."""
        key = id_hash(doc_id)
        mtime = to_epoch(listing_mtime)
        if not mtime:
            mtime = self._stored.get(key) or 0
        self._stored.put(key, mtime)
