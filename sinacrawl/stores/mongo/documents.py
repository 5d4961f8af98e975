"""Items as MongoDB documents: BSON dates, the content hash, the bookkeeping fields.

One adapter per item kind (:class:`ArticleDocuments` for articles) names the collection and
turns a :class:`~sinacrawl.stores.Record` into the document the writer upserts.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from itemadapter import ItemAdapter

from sinacrawl.exceptions import DropArticle
from sinacrawl.items import FIELDS, empty_article
from sinacrawl.parsing.dates import parse_stored

logger = logging.getLogger(__name__)

DATE_FIELDS = ("published_at", "crawled_at")
# What "the article changed" means for the revision counter (SPEC §5: title or body).
HASHED_FIELDS = ("title", "body_html")


def to_bson_date(value: object) -> datetime | None:
    """An ISO string or datetime as an aware UTC datetime (what BSON stores); None if unusable.

    >>> to_bson_date("2021-11-22T17:33:50+08:00")
    datetime.datetime(2021, 11, 22, 9, 33, 50, tzinfo=datetime.timezone.utc)
    >>> to_bson_date("yesterday") is None, to_bson_date(None) is None
    (True, True)
    """
    value = parse_stored(value)
    if value is None:
        return None
    # BSON dates have millisecond precision; truncate now so comparisons stay exact.
    value = value.astimezone(timezone.utc)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def revision_hash(doc: dict[str, Any]) -> str:
    """SHA-256 over the fields whose change raises the revision (title and body).

    Stored as the document's ``content_hash`` field; a change raises ``revision``.

    >>> revision_hash({"title": "t", "body_html": "<p>b</p>"})[:12]
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
    doc["content_hash"] = revision_hash(doc)
    doc["last_seen_at"] = to_bson_date(seen_at)
    return doc


class Documents(Protocol):
    """The Mongo side of one item kind: the collection it goes to and its documents."""

    kind: str
    collection: str

    def document(
        self, item: Any, seen_at: datetime, listing_mtime: datetime | None
    ) -> dict[str, Any]:
        """The document to upsert (``_id``, ``url``, ``content_hash``, ``listing_mtime``
        and ``last_seen_at`` are what the writer relies on)."""
        ...


@dataclass(frozen=True)
class ArticleDocuments:
    """The Mongo side of the ``article`` kind: its collection and its documents."""

    collection: str = "articles"
    kind: str = "article"

    def document(
        self, item: Any, seen_at: datetime, listing_mtime: datetime | None
    ) -> dict[str, Any]:
        return to_document(item, seen_at, listing_mtime)
