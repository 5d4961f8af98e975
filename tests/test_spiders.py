"""The spiders at unit level: fake responses built from the real listing bytes go in, the
requests and items they yield are checked. No network, no reactor."""

from __future__ import annotations

import asyncio
import sys
import types
from datetime import datetime, timezone

import pytest
from scrapy import Request
from scrapy.exceptions import DontCloseSpider, UsageError
from scrapy.http import HtmlResponse, TextResponse
from scrapy.utils.test import get_crawler

from sinacrawl.extensions.accounting import article_outcome, article_relisted
from sinacrawl.items import Article, empty_article
from sinacrawl.parsing.dates import BEIJING
from sinacrawl.parsing.listing import ListingEntry
from sinacrawl.spiderargs import Window
from sinacrawl.spiders.article import ArticleSpider, check_url
from sinacrawl.spiders.finance import FinanceSpider
from tests.conftest import FIXTURES

ROLL = FIXTURES / "sina-listings" / "roll_api_pageid153_lid2516_page1_2026-09-29.json"
ROLL_HTML = FIXTURES / "sina-listings" / "roll_html_cid56592_page1_2026-09-29.html"
P11 = FIXTURES / "sina-pages" / "p11_2026_finance_usstock.html"
P11_URL = "https://finance.sina.com.cn/stock/usstock/c/2026-09-28/doc-initmeau2811260.shtml"
US = ("金融", "新浪财经", "新浪财经－财经")


def make_spider(cls=FinanceSpider, settings=None, **kwargs):
    # Extraction inline: the article-step tests replace build_article in this process.
    defaults = {"SINACRAWL_LOCK": "off", "EXTRACT_PROCESSES": 0}
    crawler = get_crawler(cls, {**defaults, **(settings or {})})
    return cls.from_crawler(crawler, **kwargs)


def run_callback(results) -> list:
    """Everything an ``async def`` callback yields."""

    async def collect():
        return [r async for r in results]

    return asyncio.run(collect())


def start_requests(spider) -> list[Request]:
    async def collect():
        return [r async for r in spider.start()]

    return asyncio.run(collect())


def listing_response(request: Request, path=ROLL) -> TextResponse:
    cls = HtmlResponse if path.suffix == ".html" else TextResponse
    return cls(url=request.url, body=path.read_bytes(), encoding="utf-8", request=request)


def split(results):
    results = list(results)
    articles = [r for r in results if isinstance(r, Request) and "listing" in r.meta]
    listings = [r for r in results if isinstance(r, Request) and "listing_page" in r.meta]
    return articles, listings


def stat(spider, key):
    return spider.crawler.stats.get_value(key, 0)


# --- arguments ---


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"channels": "china,chna"}, "unknown channel 'chna'; valid names: china, macro"),
        ({"since": "2026-11-05", "until": "2026-11-01"}, "window is empty"),
        ({"since": "yesterday"}, "expected a date or datetime"),
        ({"max_pages": "many"}, "whole number"),
        ({"max_pages": "0"}, "expected 1 to"),
        ({"num": "51"}, "expected 1 to 50"),
        ({"refresh": "maybe"}, "expected 1/0"),
        ({"chanels": "macro"}, "unknown argument -a chanels=; valid: -a channels="),
        ({"url": "x", "since_": "1"}, "unknown arguments -a since_=, -a url="),
    ],
)
def test_bad_arguments_are_clear_usage_errors(kwargs, message):
    with pytest.raises(UsageError, match=message):
        make_spider(**kwargs)


def test_bad_upstream_setting_is_a_usage_error():
    with pytest.raises(UsageError, match="SINACRAWL_UPSTREAM"):
        make_spider(settings={"SINACRAWL_UPSTREAM": "127.0.0.1:8080"})


def test_bad_extract_processes_setting_is_a_usage_error():
    with pytest.raises(UsageError, match="EXTRACT_PROCESSES"):
        make_spider(settings={"EXTRACT_PROCESSES": "many"})


def test_defaults():
    spider = make_spider(_job="scrapyd-job-1")  # Scrapy's/scrapyd's own arguments pass
    assert spider._job == "scrapyd-job-1"
    assert [c.name for c in spider.channels] == ["china"]
    assert (spider.max_pages, spider.num, spider.refresh) == (3, 50, False)
    assert spider.window == Window()
    assert spider.allowed_domains == ["sina.com.cn", "sina.cn"]
    assert make_spider(refresh="1").refresh is True


def test_window_dates_are_beijing_midnight_and_until_is_exclusive():
    window = Window.from_args("2026-11-01", "2026-11-02")
    assert window.since == datetime(2026, 11, 1, tzinfo=BEIJING)
    assert window.position(datetime(2026, 11, 1, tzinfo=BEIJING)) == 0
    assert window.position(datetime(2026, 10, 31, 23, 59, tzinfo=BEIJING)) == -1
    assert window.position(datetime(2026, 11, 2, tzinfo=BEIJING)) == 1
    # 2026-11-01 00:30 Beijing is 2026-10-31 16:30 UTC: inside
    assert window.position(datetime(2026, 10, 31, 16, 30, tzinfo=timezone.utc)) == 0


# --- listings ---


def test_start_requests_the_first_channel_first_page():
    spider = make_spider(channels="caijing,china", num="20")
    (request,) = start_requests(spider)
    assert request.url == (
        "https://feed.mix.sina.com.cn/api/roll/get?pageid=153&lid=2516&k=&num=20&page=1"
    )
    assert request.meta["listing_page"] == 1 and request.meta["channel"] == "caijing"
    assert request.dont_filter  # listings are re-read every run


def test_real_roll_page_gives_50_article_requests_then_the_next_page(fixtures_dir):
    spider = make_spider(channels="caijing")
    (first,) = start_requests(spider)
    results = list(spider.parse_listing(listing_response(first)))
    articles, listings = split(results)
    assert len(articles) == 50
    assert results[-1] is listings[0]  # articles first: the next page is decided after them
    assert listings[0].url.endswith("pageid=153&lid=2516&k=&num=50&page=2")
    assert listings[0].meta["listing_page"] == 2
    a = articles[0]
    assert (
        a.url == "https://finance.sina.com.cn/stock/usstock/c/2026-09-29/doc-initmeav9622448.shtml"
    )
    assert a.meta["doc_id"] == "initmeav9622448"
    assert a.meta["channel"] == "caijing"
    assert a.meta["categories"] == list(US)
    assert isinstance(a.meta["listing"], ListingEntry)
    assert a.meta["listing"].media_name == "环球市场播报"
    assert a.callback == spider.parse_article and a.errback == spider.article_failed
    assert stat(spider, "sinacrawl/listings/pages") == 1
    assert stat(spider, "sinacrawl/listings/entries") == 50


def test_window_filters_before_download_and_stops_paginating(fixtures_dir):
    # the real page spans 2026-09-28 ~20:0x to 2026-09-29 00:34 (Beijing)
    spider = make_spider(channels="caijing", since="2026-09-28T22:00", until="2026-09-29")
    (first,) = start_requests(spider)
    articles, listings = split(spider.parse_listing(listing_response(first)))
    times = [a.meta["listing"].ctime for a in articles]
    assert articles and all(
        datetime(2026, 9, 28, 22, tzinfo=BEIJING) <= t < datetime(2026, 9, 29, tzinfo=BEIJING)
        for t in times
    )
    assert listings == []  # older entries were on this page: the rest is older still
    out = stat(spider, "sinacrawl/listings/out_of_window")
    assert out > 0 and out + len(articles) == 50


def test_a_window_in_the_past_keeps_paginating_without_requesting(fixtures_dir):
    spider = make_spider(channels="caijing", until="2026-09-01")
    (first,) = start_requests(spider)
    articles, listings = split(spider.parse_listing(listing_response(first)))
    assert articles == []
    assert [r.meta["listing_page"] for r in listings] == [2]


def test_max_pages_stops_pagination_and_starts_the_next_channel(fixtures_dir):
    spider = make_spider(channels="caijing,china", max_pages="1")
    (first,) = start_requests(spider)
    articles, listings = split(spider.parse_listing(listing_response(first)))
    assert len(articles) == 50
    (next_channel,) = listings
    assert next_channel.meta == {"listing_page": 1, "channel": "china", "stream": 1}
    assert "pageid=155&lid=1686" in next_channel.url
    assert stat(spider, "sinacrawl/listings/max_pages_reached") == 1


def test_last_page_of_the_data_starts_the_next_channel(fixtures_dir):
    spider = make_spider(channels="caijing,macro")
    (first,) = start_requests(spider)
    page3 = first.replace(url=first.url.replace("page=1", "page=3"))
    page3.meta.update(listing_page=3)
    _, listings = split(spider.parse_listing(listing_response(page3)))
    assert [(r.meta["channel"], r.meta["listing_page"]) for r in listings] == [("macro", 1)]


def test_an_article_in_two_channels_is_requested_once_with_the_first_categories(
    fixtures_dir,
):
    spider = make_spider(channels="caijing,china", max_pages="1")
    relisted = []

    def record(doc_id):
        relisted.append(doc_id)

    spider.crawler.signals.connect(record, signal=article_relisted, weak=False)
    (first,) = start_requests(spider)
    us_articles, (china_page,) = split(spider.parse_listing(listing_response(first)))
    assert {a.meta["channel"] for a in us_articles} == {"caijing"}
    assert us_articles[0].meta["categories"] == list(US)
    china_articles, _ = split(spider.parse_listing(listing_response(china_page)))
    assert china_articles == []  # the same 50 again: none requested a second time
    assert relisted == [a.meta["doc_id"] for a in us_articles]
    assert spider.tally["china"] == {"pages": 1, "entries": 50, "relisted": 50}
    assert spider.tally["caijing"] == {"pages": 1, "entries": 50, "requested": 50}


def test_a_second_url_for_the_same_doc_id_is_not_requested(fixtures_dir):
    spider = make_spider(channels="caijing")
    entry = ListingEntry(url="https://finance.sina.com.cn/a/doc-iabc.shtml", doc_id="iabc")
    mobile = ListingEntry(url="https://finance.sina.cn/a/detail-iabc.d.html", doc_id="iabc")
    assert spider._request_once(entry, spider.channels[0]).url == entry.url
    assert spider._request_once(mobile, spider.channels[0]) is None


def test_real_html_listing(fixtures_dir):
    spider = make_spider(channels="listed")
    (first,) = start_requests(spider)
    assert first.url == "https://finance.sina.com.cn/roll/c/56592.shtml"
    articles, listings = split(spider.parse_listing(listing_response(first, ROLL_HTML)))
    assert len(articles) == 200
    assert articles[0].meta["categories"] == ["金融", "新浪财经", "新浪财经－上市公司"]
    (next_page,) = listings
    assert next_page.url == "https://finance.sina.com.cn/roll/c/56592.shtml?page=2"
    assert next_page.meta["listing_page"] == 2


@pytest.mark.parametrize("body", [b"<html>busy</html>", b'{"result": {"status": {"code": 9}}}'])
def test_malformed_listing_is_counted_and_the_next_channel_starts(body):
    spider = make_spider(channels="china,macro")
    (first,) = start_requests(spider)
    response = TextResponse(url=first.url, body=body, encoding="utf-8", request=first)
    results = list(spider.parse_listing(response))
    assert [r.meta["channel"] for r in results] == ["macro"]
    assert stat(spider, "sinacrawl/listings/failed/malformed") == 1


def test_idle_starts_a_channel_whose_first_page_never_went_out(fixtures_dir):
    spider = make_spider(channels="caijing,china")
    (first,) = start_requests(spider)
    list(spider.parse_listing(listing_response(first)))  # page 2 pending; china not started
    crawled = []
    spider.crawler.engine = types.SimpleNamespace(crawl=crawled.append)
    with pytest.raises(DontCloseSpider):
        spider.spider_idle()
    assert [r.meta["stream"] for r in crawled] == [1]
    spider._answered.update({0, 1})
    spider.spider_idle()  # everything answered: the spider may close


# --- the article step ---


@pytest.fixture
def fake_loader(monkeypatch):
    """build_article replaced by a recorder (the extractor is tested on its own)."""
    calls = []

    def build_article(
        body, url, *, content_type=None, listing=None, categories=(), crawled_at=None
    ):
        calls.append(dict(body=body, url=url, content_type=content_type, listing=listing,
                          categories=categories, crawled_at=crawled_at))  # fmt: skip
        item = empty_article()
        item.update(url=url, doc_id="initmeau2811260", published_at="2026-09-28T23:20:25+08:00")
        return Article(item)

    module = sys.modules.get("sinacrawl.loaders") or types.ModuleType("sinacrawl.loaders")
    monkeypatch.setitem(sys.modules, "sinacrawl.loaders", module)
    monkeypatch.setattr(module, "build_article", build_article, raising=False)
    return calls


def outcomes(spider):
    seen = []

    def record(request, outcome, reason=None):
        seen.append((outcome, reason))

    spider.crawler.signals.connect(record, signal=article_outcome, weak=False)
    return seen


def article_response(spider, **window):
    entry = ListingEntry(url=P11_URL, doc_id="initmeau2811260", media_name="新浪财经")
    request = spider.article_request(entry, "caijing", US)
    return HtmlResponse(
        url=P11_URL,
        body=P11.read_bytes(),
        headers={"Content-Type": "text/html; charset=utf-8"},
        request=request,
    )


def test_parse_article_calls_the_extractor_with_page_and_listing(fixtures_dir, fake_loader):
    spider = make_spider(channels="caijing")
    response = article_response(spider)
    (item,) = run_callback(spider.parse_article(response))
    (call,) = fake_loader
    assert call["body"] == P11.read_bytes()
    assert call["url"] == P11_URL
    assert call["content_type"] == "text/html; charset=utf-8"
    assert call["listing"].media_name == "新浪财经"
    assert list(call["categories"]) == list(US)
    assert call["crawled_at"].tzinfo is not None and call["crawled_at"].utcoffset().seconds == 0
    assert item["url"] == P11_URL


def test_published_at_outside_the_window_is_dropped_and_reported(fixtures_dir, fake_loader):
    spider = make_spider(channels="caijing", since="2026-09-29")
    seen = outcomes(spider)
    assert run_callback(spider.parse_article(article_response(spider))) == []
    assert seen == [("dropped", "out_of_window")]


def test_an_extractor_crash_is_counted_not_raised(fixtures_dir, fake_loader, monkeypatch):
    spider = make_spider(channels="caijing")
    seen = outcomes(spider)

    def boom(*args, **kwargs):
        raise RuntimeError("bad page")

    monkeypatch.setattr(sys.modules["sinacrawl.loaders"], "build_article", boom)
    assert run_callback(spider.parse_article(article_response(spider))) == []
    assert seen == [("failed", "extract_error")]


# --- the article spider ---


def test_article_spider_takes_urls_and_a_file_and_skips_bad_ones(tmp_path):
    listed = tmp_path / "urls.txt"
    listed.write_text(
        "# my list\n\nhttps://news.sina.com.cn/c/2019-10-23/doc-iicezuev4202091.shtml\n"
        "not a url at all\n"
        f"{P11_URL}?cre=dup#again\n",
        encoding="utf-8",
    )
    spider = make_spider(
        ArticleSpider,
        urls=f"{P11_URL}, https://example.com/doc-ia.shtml,mailto:x@sina.com.cn",
        urls_file=str(listed),
    )
    requests = start_requests(spider)
    assert [r.url for r in requests] == [
        P11_URL,
        "https://news.sina.com.cn/c/2019-10-23/doc-iicezuev4202091.shtml",
    ]
    r = requests[0]
    assert r.meta["doc_id"] == "initmeau2811260"
    assert r.meta["listing"] == ListingEntry(url=P11_URL, doc_id="initmeau2811260")
    assert r.meta["categories"] == ["金融", "新浪财经", "新浪财经－国內"]
    stats = spider.crawler.stats
    assert stats.get_value("sinacrawl/urls/rejected/not_sina") == 1
    assert stats.get_value("sinacrawl/urls/rejected/not_http") == 1
    assert stats.get_value("sinacrawl/urls/rejected/malformed") == 1  # "not a url at all"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "give article URLs"),
        ({"urls": " , "}, "named no URL"),
        ({"urls_file": "/nonexistent/urls.txt"}, "cannot read it"),
        ({"urls": P11_URL, "channel": "nope"}, "unknown channel"),
        ({"urls": P11_URL, "channel": "china,macro"}, "one channel"),
        ({"urls": P11_URL, "channels": "macro"}, "unknown argument -a channels=; valid: -a urls="),
    ],
)
def test_article_spider_usage_errors(kwargs, message):
    with pytest.raises(UsageError, match=message):
        make_spider(ArticleSpider, **kwargs)


def test_article_spider_channel_picks_categories():
    spider = make_spider(ArticleSpider, urls=P11_URL, channel="caijing")
    (request,) = start_requests(spider)
    assert request.meta["categories"] == list(US) and request.meta["channel"] == "caijing"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("//finance.sina.cn/sa/2005-08-26/detail-ikknscsi2623250.d.html", (
            "https://finance.sina.cn/sa/2005-08-26/detail-ikknscsi2623250.d.html", None)),
        ("https://user@evil.example/finance.sina.com.cn/doc-ia.shtml", (None, "not_sina")),
        ("https://finance.sina.com.cn:99999/doc-ia.shtml", (None, "malformed")),
        ("javascript:alert(1)", (None, "not_http")),
        ("finance.sina.com.cn:443/a/doc-ia.shtml", ("https://finance.sina.com.cn:443/a/doc-ia.shtml", None)),
        ("https://finance.sina.com.cn/", (None, "no_doc_id")),
    ],
)  # fmt: skip
def test_check_url(url, expected):
    assert check_url(url) == expected


def test_requests_survive_a_disk_or_redis_queue(fixtures_dir):
    """JOBDIR and scrapy-redis store requests as pickled dicts: the round trip keeps the
    callbacks and the ListingEntry."""
    import pickle

    from scrapy.utils.request import request_from_dict

    spider = make_spider(channels="caijing")
    (first,) = start_requests(spider)
    articles, listings = split(spider.parse_listing(listing_response(first)))
    for request in (articles[0], listings[0], first):
        back = request_from_dict(
            pickle.loads(pickle.dumps(request.to_dict(spider=spider))), spider=spider
        )
        assert (back.url, back.callback, back.errback) == (
            request.url,
            request.callback,
            request.errback,
        )
        assert back.meta == request.meta
