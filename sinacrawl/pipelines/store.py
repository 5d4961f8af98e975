"""The storage pipeline: every item to every configured store (sinacrawl/stores/).

Which stores are on is :func:`sinacrawl.stores.configured_stores`'s decision; this pipeline
only hands each item, as a :class:`~sinacrawl.stores.Record`, to each of them in turn and,
once all have taken it, records it as known for the incremental skip. No store depends on
another having run first: what they share (the listing mtime) travels in the record.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter
from scrapy.exceptions import NotConfigured

from sinacrawl.state import KnownArticles, from_epoch
from sinacrawl.storeguard import storage_failed
from sinacrawl.stores import Record, Store, kind_of, stores_of

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector


class StorePipeline:
    """Item pipeline (priority 300): hands each item to the configured stores."""

    def __init__(
        self, stores: list[Store], known: KnownArticles, stats: StatsCollector | None = None
    ) -> None:
        self.stores = stores
        self.known = known
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        stores = stores_of(crawler)
        if not stores:
            raise NotConfigured("no store configured (ARCHIVE_DIR empty, MONGO_URI unset)")
        return cls(stores, KnownArticles.from_crawler(crawler), crawler.stats)

    def store(self, name: str) -> Store:
        """The configured store called ``name`` (KeyError when it is off)."""
        for store in self.stores:
            if store.name == name:
                return store
        raise KeyError(name)

    async def open_spider(self) -> None:
        for store in self.stores:
            await store.open()

    async def process_item(self, item: Any) -> Any:
        record = self.record(item)
        for store in self.stores:
            try:
                await store.put([record])
            except (OSError, sqlite3.Error) as exc:  # one line and a count, not a traceback
                raise storage_failed(store.name, item, exc, self.stats) from None
        self.known.remember(record.doc_id, record.listing_mtime)
        return item

    def record(self, item: Any) -> Record:
        """The item with its kind, id and listing mtime (this run's listing, else the stored one)."""
        doc_id = str(ItemAdapter(item).get("doc_id"))
        mtime = self.known.listing_mtime(doc_id) or from_epoch(self.known.stored_mtime(doc_id) or 0)
        return Record(item, kind_of(item), doc_id, mtime)

    async def close_spider(self) -> None:
        # Every store is closed even when an earlier one fails; the first error is raised.
        error: BaseException | None = None
        for store in self.stores:
            try:
                await store.flush()
                await store.close()
            except Exception as exc:
                error = error or exc
        if error is not None:
            raise error
