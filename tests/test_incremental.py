"""The incremental middleware: stored articles are not downloaded again (SPEC §6)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

import pytest
from scrapy import Request, Spider
from scrapy.http import TextResponse
from scrapy.utils.test import get_crawler

from sinacrawl import settings as project_settings
from sinacrawl.archive import ArchiveIndex, Entry
from sinacrawl.incremental import SKIPPED, STOPPED, IncrementalMiddleware
from sinacrawl.parsing.listing import ListingEntry
from sinacrawl.runstate import CHANNELS_FILE
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

    def make(
        stored: dict[str, datetime | None],
        refresh: bool | str = False,
        clean: dict[str, bool] | None = None,
        **settings,
    ):
        # The previous run of each channel: clean unless the test says otherwise.
        state = tmp_path / ".sinacrawl" / CHANNELS_FILE
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_text(json.dumps({"clean": {"china": True} if clean is None else clean}))
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
        mw = IncrementalMiddleware.from_crawler(crawler)
        mw.spider_opened()
        return mw, crawler

    return make


def listing_response(page: int = 1, channel: str = "china") -> TextResponse:
    request = Request(LISTING, meta={"listing_page": page, "channel": channel})
    return TextResponse(LISTING, body=b"{}", encoding="utf-8", request=request)


def run(mw: IncrementalMiddleware, output: list) -> list:
    return list(mw.process_spider_output(listing_response(), iter(output)))


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


def test_after_an_unclean_run_a_fully_known_page_does_not_stop_pagination(make_mw):
    """A failed article or a killed run may have left a later page's articles unstored."""
    mw, crawler = make_mw({"ia": T0, "ib": T0}, clean={"china": False})
    assert [r.meta.get("listing_page") for r in run(mw, [article("ia"), next_page()])] == [2]
    assert not crawler.stats.get_value(STOPPED)


def test_a_run_is_recorded_unclean_until_it_ends_without_failures(make_mw, tmp_path):
    state = tmp_path / ".sinacrawl" / CHANNELS_FILE
    mw, crawler = make_mw({"ia": T0})
    assert json.loads(state.read_text())["clean"] == {"china": False}  # a kill -9 leaves this
    run(mw, [article("ia")])
    mw.spider_closed(reason="finished")
    assert json.loads(state.read_text())["clean"] == {"china": True}

    mw, crawler = make_mw({"ia": T0})
    run(mw, [article("ib")])
    crawler.stats.inc_value("sinacrawl/articles/failed/http_503")
    mw.spider_closed(reason="finished")
    assert json.loads(state.read_text())["clean"] == {"china": False}


def test_next_channel_start_is_never_held_back(make_mw):
    """A known page that ends its listing hands over to the next channel's first page."""
    mw, _ = make_mw({"ia": T0})
    other = Request(LISTING.replace("1686", "1687"), meta={"listing_page": 1, "channel": "macro"})
    same_channel_restart = Request(LISTING, meta={"listing_page": 1, "channel": "china"})
    assert run(mw, [article("ia"), other, same_channel_restart]) == [other, same_channel_restart]


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
        response = listing_response()
        return [r async for r in mw.process_spider_output_async(response, output())]

    out = asyncio.run(collect())
    assert [r.meta.get("doc_id") or r.meta["listing_page"] for r in out] == ["ic", 2]


def test_one_known_store_per_crawler(make_mw):
    mw, crawler = make_mw({"ia": T0})
    assert KnownArticles.from_crawler(crawler) is mw.known


# --- real crawls of the mock site --------------------------------------------------------------


def roll_pages_requested(site, since: int = 0) -> list[int]:
    pages = []
    for record in site.requests()[since:]:
        path = record["path"]
        if path.startswith("/feed.mix.sina.com.cn/api/roll/get?"):
            query = dict(p.split("=", 1) for p in path.split("?", 1)[1].split("&") if "=" in p)
            pages.append(int(query.get("page", 1)))
    return pages


def article_fetches(site, since: int = 0) -> int:
    return sum(
        1 for r in site.requests()[since:] if r["path"].split("?", 1)[0] in site.catalog.by_path
    )


@pytest.mark.slow
def test_crawls_stop_at_the_first_known_page_and_change_no_post(tmp_path):
    from sinacrawl.parsing.dates import BEIJING
    from sinacrawl.testing.process import mocksite_process, run_crawl

    newest = datetime.now(BEIJING).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    channels = [{"name": "china", "pageid": 155, "lid": 1686, "count": 25, "path": "china/gncj"}]
    config = {"seed": 5, "newest": newest.isoformat(), "size_kb": 6, "channels": channels}
    fast = {"AUTOTHROTTLE_ENABLED": "False", "DOWNLOAD_DELAY": "0", "DOWNLOAD_TIMEOUT": "5"}
    archive = tmp_path / "archive"

    with mocksite_process(config, tmp_path / "site") as site:

        def crawl(name: str, **args):
            settings = {**fast, **args.pop("settings", {})}
            return run_crawl(
                "finance",
                upstream=site.url,
                workdir=tmp_path / name,
                archive=archive,
                args={"num": 10, **args},
                settings=settings,
            )

        first = crawl("run1")
        assert first.returncode == 0, first.log[-3000:]
        assert len(first.posts()) == 25 and roll_pages_requested(site) == [1, 2, 3]
        mtimes = {p: p.stat().st_mtime_ns for p in first.posts()}

        seen = len(site.requests())
        second = crawl("run2")
        assert second.returncode == 0, second.log[-3000:]
        assert roll_pages_requested(site, seen) == [1]
        assert article_fetches(site, seen) == 0
        assert second.stat(SKIPPED) == 10 and second.stat(STOPPED) == 1

        seen = len(site.requests())
        walk_on = crawl("run3", settings={"STOP_ON_KNOWN_PAGE": "0"})
        assert roll_pages_requested(site, seen) == [1, 2, 3]
        assert walk_on.stat(SKIPPED) == 25 and article_fetches(site, seen) == 0

        seen = len(site.requests())
        refresh = crawl("run4", refresh=1)
        assert refresh.returncode == 0, refresh.log[-3000:]
        assert article_fetches(site, seen) == 25
        assert {p: p.stat().st_mtime_ns for p in refresh.posts()} == mtimes, "no post rewritten"
