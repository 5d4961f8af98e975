"""Where items end up: the stores, one protocol, and the one place that says which are on.

A store keeps items of one or more *kinds* (``article`` today) somewhere durable. Every store
implements :class:`Store`; :class:`~sinacrawl.pipelines.store.StorePipeline` hands each item
to every configured store, and :class:`~sinacrawl.state.KnownArticles` asks every configured
store which ids it already holds. Which stores are configured is decided by
:func:`configured_stores`, from the settings alone:

    hexo    ``ARCHIVE_DIR`` set (the default)       sinacrawl/stores/hexo.py
    mongo   ``MONGO_URI`` set                       sinacrawl/stores/mongo/

Adding a store: write a class with the :class:`Store` methods (and a ``from_crawler``), give
it a name in :data:`STORES` and a condition in :func:`configured_stores`. Nothing else
changes: spiders, accounting and the incremental skip only see the protocol.

Adding an item kind (e.g. a ``Flash`` with ``kind = "flash"`` on its class): each store
dispatches on :func:`kind_of` to a small per-kind adapter (the Hexo store's post layout,
the Mongo store's collection and document shape); register one adapter per store for the new
kind. Spiders yield the item; nothing in accounting or the pipeline changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import import_module
from typing import TYPE_CHECKING, Any, Protocol

from sinacrawl.runstate import archive_dir

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

ARTICLE = "article"
# Store name → class, by import path (a store's driver is imported only when it is on).
STORES = {
    "hexo": "sinacrawl.stores.hexo.HexoStore",
    "mongo": "sinacrawl.stores.mongo.MongoStore",
}
_CRAWLER_ATTR = "_sinacrawl_stores"


def kind_of(item: Any) -> str:
    """The kind an item is stored as: its class's ``kind``, else ``article`` (also for dicts).

    >>> from sinacrawl.items import Article
    >>> kind_of(Article()), kind_of({"doc_id": "x"})
    ('article', 'article')
    """
    kind = getattr(type(item), "kind", None)
    return kind if isinstance(kind, str) else ARTICLE


@dataclass(frozen=True)
class Record:
    """One item on its way into the stores, with what the stores need beside it.

    ``listing_mtime`` is the mtime a listing announced for the item in this run, else the one
    recorded when it was stored before (None: unknown); items themselves do not carry it.
    """

    item: Any
    kind: str
    doc_id: str
    listing_mtime: datetime | None = None


class Store(Protocol):
    """What every store does. Calls come from the crawl thread, one at a time per store.

    ``name``
        Short name (``hexo``, ``mongo``), used in logs and :data:`STORES`.
    ``known_ids()``
        Every ``(doc_id, listing mtime in Unix seconds or 0)`` the store holds; read once, at
        start, possibly before ``open`` (it must not need ``open``).
    ``await open()``
        Prepare to write: create folders, sweep or replay what a killed run left.
    ``await put(batch)``
        Take these records. When it returns, each record is durable *or* journaled so that
        the next start finishes it; a record refused later is reported with
        :func:`sinacrawl.extensions.accounting.report_store_failed`. Raising means none of
        the batch is taken (the pipeline counts the item as failed).
    ``await flush()``
        Write whatever is buffered (at close; also usable by tools).
    ``await close()``
        Release connections and files; called once, after ``flush``.
    """

    name: str

    def known_ids(self) -> Iterable[tuple[str, int]]: ...

    async def open(self) -> None: ...

    async def put(self, batch: Sequence[Record]) -> None: ...

    async def flush(self) -> None: ...

    async def close(self) -> None: ...


def configured_stores(settings: Any) -> list[str]:
    """Names of the stores these settings switch on, in the order items reach them.

    >>> configured_stores({"ARCHIVE_DIR": "archive", "MONGO_URI": "mongodb://127.0.0.1/sina"})
    ['hexo', 'mongo']
    >>> configured_stores({"ARCHIVE_DIR": "", "MONGO_URI": None})
    []
    """
    names = []
    if archive_dir(settings) is not None:
        names.append("hexo")
    if settings.get("MONGO_URI"):
        names.append("mongo")
    return names


def stores_of(crawler: Crawler) -> list[Store]:
    """The crawler's stores, built once (from ``configured_stores``) and shared by the
    pipeline and the known-articles index."""
    stores = getattr(crawler, _CRAWLER_ATTR, None)
    if stores is None:
        stores = [_load(name).from_crawler(crawler) for name in configured_stores(crawler.settings)]
        setattr(crawler, _CRAWLER_ATTR, stores)
    return stores


def _load(name: str) -> Any:
    module, _, cls = STORES[name].rpartition(".")
    return getattr(import_module(module), cls)
