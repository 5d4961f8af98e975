"""The store protocol: which stores are on, one pipeline delegating to them, item kinds.

These tests pin the architecture (sinacrawl/stores/__init__.py): stores are decided from the
settings alone, the storage pipeline is the only way in, a store needs no other store, and a
new item kind plugs in with one adapter per store.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

import pytest
import scrapy
from pymongo import MongoClient
from scrapy.exceptions import NotConfigured
from scrapy.utils.test import get_crawler

from sinacrawl.archive import ArchiveIndex
from sinacrawl.exceptions import StorageFailed
from sinacrawl.pipelines.store import StorePipeline
from sinacrawl.state import KnownArticles, to_epoch
from sinacrawl.stores import configured_stores, kind_of, stores_of
from sinacrawl.stores.hexo import LAYOUTS, HexoStore
from sinacrawl.stores.mongo.documents import to_document
from tests.test_mongo import make_item, settings_for

MTIME = datetime(2021, 11, 22, 10, 0, tzinfo=timezone.utc)


class Flash(scrapy.Item):
    """A stand-in for a new item kind (a 7×24 flash): its own kind name and fields."""

    kind: ClassVar[str] = "flash"
    doc_id = scrapy.Field()
    url = scrapy.Field()
    title = scrapy.Field()
    body_html = scrapy.Field()
    published_at = scrapy.Field()


def flash(n: int) -> Flash:
    return Flash(
        doc_id=f"flash{n}",
        url=f"https://finance.sina.com.cn/7x24/{n}",
        title=f"快讯 {n}",
        body_html=f"<p>快讯 {n}</p>",
        published_at="2021-11-22T17:33:50+08:00",
    )


class DayPosts:
    """A Hexo layout for flashes: one post per day (here: the last flash of the day)."""

    @staticmethod
    def path(data: dict[str, Any]) -> str:
        return f"7x24/{data['published_at'][:10]}.md"

    @staticmethod
    def render(data: dict[str, Any], hexo_timezone: str | None) -> bytes:
        return f"---\ntitle: {data['published_at'][:10]}\n---\n{data['body_html']}\n".encode()


@dataclass(frozen=True)
class FlashDocuments:
    kind: str = "flash"
    collection: str = "flashes"

    def document(self, item: Any, seen_at: datetime, listing_mtime: datetime | None) -> dict:
        doc = dict(item)
        doc.update(_id=item["doc_id"], content_hash=item["title"], listing_mtime=None)
        doc["last_seen_at"] = to_document(make_item(0), seen_at)["last_seen_at"]
        return doc


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=120))


def test_stores_are_decided_by_the_settings_alone(tmp_path):
    both = {"ARCHIVE_DIR": str(tmp_path), "MONGO_URI": "mongodb://127.0.0.1:1/x"}
    assert configured_stores(both) == ["hexo", "mongo"]
    assert configured_stores({"ARCHIVE_DIR": str(tmp_path)}) == ["hexo"]
    # A pipeline list that no longer names a store module changes nothing.
    crawler = get_crawler(settings_dict={"ARCHIVE_DIR": str(tmp_path), "ITEM_PIPELINES": {}})
    assert [s.name for s in stores_of(crawler)] == ["hexo"]
    assert stores_of(crawler) is stores_of(crawler)  # built once per crawler
    with pytest.raises(NotConfigured):
        StorePipeline.from_crawler(get_crawler(settings_dict={"ARCHIVE_DIR": ""}))


def test_the_pipeline_remembers_an_item_only_once_every_store_took_it(tmp_path):
    class Refusing:
        name = "refusing"

        def known_ids(self):
            return iter(())

        async def open(self):
            pass

        async def put(self, batch):
            raise OSError("disk full")

        async def flush(self):
            pass

        async def close(self):
            pass

    hexo = HexoStore(tmp_path)
    known = KnownArticles()
    known.expect("ikyamrmz6784001", MTIME)

    async def go() -> None:
        ok = StorePipeline([hexo], known)
        await ok.open_spider()
        await ok.process_item(make_item(1))
        # a store's OSError fails the item as a counted storage failure (one log line)
        with pytest.raises(StorageFailed, match="refusing: disk full"):
            await StorePipeline([hexo, Refusing()], known).process_item(make_item(2))
        await ok.close_spider()

    run(go())
    assert known.stored_mtime("ikyamrmz6784001") == to_epoch(MTIME)
    assert ArchiveIndex(tmp_path).get("ikyamrmz6784001").listing_mtime == to_epoch(MTIME)
    assert "ikyamrmz6784002" not in known


def test_mongo_alone_gets_the_stored_listing_mtime_and_reads_known_ids_from_the_uris_db(
    mongo_uri, tmp_path
):
    """No Hexo store ran first to record it (mongo.py:684-689 on the old main); and the
    known ids come from the URI's database, not a hard-coded ``sina``."""
    settings = settings_for(mongo_uri, tmp_path)
    first = get_crawler(settings_dict=settings)

    async def store_first() -> None:
        pipeline = StorePipeline.from_crawler(first)
        KnownArticles.from_crawler(first).expect("ikyamrmz6784001", MTIME)
        await pipeline.open_spider()
        await pipeline.process_item(make_item(1))
        await pipeline.close_spider()

    run(store_first())
    second = get_crawler(settings_dict=settings)
    known = KnownArticles.from_crawler(second)
    assert known.stored_mtime("ikyamrmz6784001") == to_epoch(MTIME)
    assert StorePipeline.from_crawler(second).record(make_item(1)).listing_mtime == MTIME


def test_a_new_item_kind_plugs_in_with_one_adapter_per_store(mongo_uri, tmp_path, monkeypatch):
    import sinacrawl.stores.mongo as mongo_store

    assert kind_of(flash(1)) == "flash" and kind_of(make_item(1)) == "article"
    kinds = mongo_store.kinds
    monkeypatch.setattr(mongo_store, "kinds", lambda s: {**kinds(s), "flash": FlashDocuments()})
    monkeypatch.setitem(LAYOUTS, "flash", DayPosts())
    archive = tmp_path / "archive"
    settings = {**settings_for(mongo_uri, tmp_path / "spool"), "ARCHIVE_DIR": str(archive)}
    crawler = get_crawler(settings_dict=settings)

    async def go() -> None:
        pipeline = StorePipeline.from_crawler(crawler)
        await pipeline.open_spider()
        for item in (make_item(1), flash(1), flash(2)):
            await pipeline.process_item(item)
        await pipeline.close_spider()

    run(go())
    db = MongoClient(mongo_uri, serverSelectionTimeoutMS=3000).get_default_database()
    assert sorted(d["_id"] for d in db["flashes"].find()) == ["flash1", "flash2"]
    assert [d["_id"] for d in db["articles"].find()] == ["ikyamrmz6784001"]
    assert (archive / "7x24/2021-11-22.md").read_text(encoding="utf-8").endswith("快讯 2</p>\n")
    assert crawler.stats.get_value("sinacrawl/mongo/upserted") == 3
    assert not list(Path(tmp_path / "spool").rglob("spool-*.jsonl"))
