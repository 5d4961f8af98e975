"""The incremental middleware: stored articles are not downloaded again (SPEC §6)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from scrapy import Request, Spider
from scrapy.http import TextResponse
from scrapy.utils.test import get_crawler

from sinacrawl import settings as project_settings
from sinacrawl.archive import ArchiveIndex, Entry
from sinacrawl.incremental import SKIPPED, STOPPED, IncrementalMiddleware
from sinacrawl.parsing.listing import ListingEntry
from sinacrawl.state import KnownArticles, to_epoch

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc)
LISTING = "https://feed.mix.sina.com.cn/api/roll/get?pageid=155&lid=1686&num=50&page=1"


class FinanceSpider(Spider):
    name = "finance"
    refresh = False


def article(doc_id: str, mtime: datetime | None = T0) -> Request:
    url = f"https://finance.sina.com.cn/china/2026-11-27/doc-{doc_id}.shtml"
    entry = ListingEntry(url=url, doc_id=doc_id, mtime=mtime)
    meta = {"listing": entry, "doc_id": doc_id, "channel": "china", "categories": ["金融"]}
    return Request(url, meta=meta)


def next_page() -> Request:
    return Request(
        LISTING.replace("page=1", "page=2"), meta={"listing_page": 2, "channel": "china"}
    )


@pytest.fixture
def make_mw(tmp_path):
    """A middleware over an archive that already holds ``stored`` (doc_id → mtime)."""

    def make(stored: dict[str, datetime | None], refresh: bool | str = False, **settings):
        index = ArchiveIndex(tmp_path)
        for doc_id, mtime in stored.items():
            index.put(Entry(doc_id, f"x/{doc_id}.md", "h", to_epoch(mtime)))
        index.close()
        crawler = get_crawler(
            FinanceSpider,
            {
                "ARCHIVE_DIR": str(tmp_path),
                "ITEM_PIPELINES": project_settings.ITEM_PIPELINES,
                **settings,
            },
        )
        crawler.spider = FinanceSpider.from_crawler(crawler, refresh=refresh)
        return IncrementalMiddleware.from_crawler(crawler), crawler

    return make


def run(mw: IncrementalMiddleware, output: list) -> list:
    response = TextResponse(LISTING, body=b"{}", encoding="utf-8")
    return list(mw.process_spider_output(response, iter(output)))


def test_known_article_skipped_and_counted(make_mw):
    mw, crawler = make_mw({"ia": T0})
    out = run(mw, [article("ia"), article("ib")])
    assert [r.meta["doc_id"] for r in out] == ["ib"]
    assert crawler.stats.get_value(SKIPPED) == 1


def test_newer_listing_mtime_fetches_again_and_hands_the_mtime_to_the_store(make_mw):
    mw, _ = make_mw({"ia": T0})
    newer = T0 + timedelta(minutes=5)
    out = run(mw, [article("ia", newer)])
    assert len(out) == 1
    assert KnownArticles.from_crawler(mw.crawler).listing_mtime("ia") == newer


@pytest.mark.parametrize("refresh", [True, "1"])
def test_refresh_fetches_everything(make_mw, refresh):
    mw, crawler = make_mw({"ia": T0, "ib": T0}, refresh=refresh)
    assert len(run(mw, [article("ia"), article("ib"), next_page()])) == 3
    assert not crawler.stats.get_value(SKIPPED)


def test_fully_known_page_stops_pagination(make_mw):
    mw, crawler = make_mw({"ia": T0, "ib": T0})
    assert run(mw, [article("ia"), next_page(), article("ib")]) == []
    assert crawler.stats.get_value(STOPPED) == 1


def test_page_with_one_new_article_keeps_paginating(make_mw):
    mw, _ = make_mw({"ia": T0})
    out = run(mw, [next_page(), article("ia"), article("new")])
    assert sorted(r.meta.get("doc_id") or "page" for r in out) == ["new", "page"]


def test_stop_can_be_switched_off(make_mw):
    mw, _ = make_mw({"ia": T0}, STOP_ON_KNOWN_PAGE=False)
    out = run(mw, [article("ia"), next_page()])
    assert [r.meta.get("listing_page") for r in out] == [2]


def test_items_and_plain_requests_pass_untouched(make_mw):
    mw, _ = make_mw({"ia": T0})
    plain = Request("https://finance.sina.com.cn/china/2026-11-27/doc-ia.shtml")
    item = {"doc_id": "ia"}
    assert run(mw, [plain, item]) == [plain, item]


def test_async_callbacks_are_filtered_the_same_way(make_mw):
    mw, _ = make_mw({"ia": T0, "ib": T0})

    async def output():
        for r in [article("ia"), next_page(), article("ib"), article("ic")]:
            yield r

    async def collect():
        response = TextResponse(LISTING, body=b"{}", encoding="utf-8")
        return [r async for r in mw.process_spider_output_async(response, output())]

    out = asyncio.run(collect())
    assert [r.meta.get("doc_id") or r.meta["listing_page"] for r in out] == ["ic", 2]


def test_one_known_store_per_crawler(make_mw):
    mw, crawler = make_mw({"ia": T0})
    assert KnownArticles.from_crawler(crawler) is mw.known
