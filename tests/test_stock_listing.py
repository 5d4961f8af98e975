"""Per-stock news listings and the roll's list-id check (issue 12)."""

from __future__ import annotations

import json
import logging

import pytest

from sinacrawl.parsing.listing import LidCheck, ListingError, entries_off_list, parse_roll_api
from sinacrawl.parsing.stocklist import (
    BadSymbol,
    parse_stock_news,
    parse_symbol,
    stock_news_url,
)
from tests.conftest import FIXTURES
from tests.update_listing_golden import PAGE_URL, fixture_path, load, view

ROLL = FIXTURES / "sina-listings" / "roll_api_pageid153_lid2516_page1_2026-09-29.json"


def test_every_real_roll_entry_carries_its_lists():
    page = parse_roll_api(ROLL.read_bytes())
    assert len(page.entries) == 50
    assert all(2516 in e.lids and 2509 in e.lids for e in page.entries)
    assert entries_off_list(page, 2516) == []
    # 美股 (2518) is on the US-stock and world entries only
    assert len(entries_off_list(page, 2518)) == 14


def test_a_channel_whose_lid_its_entries_lack_warns_once(caplog):
    page = parse_roll_api(ROLL.read_bytes())
    check = LidCheck()
    with caplog.at_level(logging.WARNING, logger="sinacrawl.parsing.listing"):
        assert check("usstock", 2518, page) is True
        assert check("usstock", 2518, page) is False  # page 2 of the same run: quiet
        assert check("caijing", 2516, page) is False  # the right list: nothing to say
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "usstock" in message and "14 of 50" in message and "lid=2518" in message
    assert "2516" in message  # the lids every off-list entry does carry


def test_entries_without_lids_are_not_judged():
    body = json.dumps(
        {"result": {"data": [{"url": "https://finance.sina.com.cn/a/doc-iabc1234567890.shtml"}]}}
    )
    page = parse_roll_api(body)
    assert page.entries[0].lids == ()
    assert LidCheck()("china", 1686, page) is False


def test_the_finance_spider_warns_once_when_fed_another_lists_roll(caplog):
    from tests.test_spiders import listing_response, make_spider, start_requests

    spider = make_spider(channels="usstock", max_pages="3")
    first = start_requests(spider)[0]
    assert "lid=2518" in first.url
    with caplog.at_level(logging.WARNING):
        out = list(spider.parse_listing(listing_response(first, ROLL)))
        second = next(r for r in out if r.meta.get("listing_page") == 2)
        list(spider.parse_listing(listing_response(second, ROLL)))
    lid_warnings = [r for r in caplog.records if "not on list lid=2518" in r.getMessage()]
    assert len(lid_warnings) == 1


# --- the per-stock news listing ---------------------------------------------------------------


def _utf8_text() -> str:
    return fixture_path().read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "form",
    ["utf8 bytes (as stored)", "decoded text", "gb18030 bytes", "gb2312 bytes", "gb2312 header"],
)
def test_real_stock_news_page_matches_its_golden_file(form):
    text = _utf8_text()
    content_type = None
    if form == "utf8 bytes (as stored)":
        body: bytes | str = fixture_path().read_bytes()
    elif form == "decoded text":
        body = text
    elif form == "gb18030 bytes":
        body = text.encode("gb18030")
    else:
        # What Sina sends. GB2312 has no U+2014 (one title's dash): the server's GBK would
        # carry it; a character reference keeps the page exact in strict GB2312 too.
        body = text.encode("gb2312", errors="xmlcharrefreplace")
        assert b"&#8212;" in body
        content_type = "text/html; charset=gb2312" if form == "gb2312 header" else None
    page = parse_stock_news(body, PAGE_URL, content_type=content_type)
    assert view(page) == load()


def test_golden_file_holds_the_40_rows_and_the_next_link():
    golden = load()
    entries = golden["entries"]
    assert len(entries) == 40 and all(e["title"] and e["doc_id"] for e in entries)
    assert entries[0]["published"] == "2026-09-04T09:50:00+08:00"
    assert entries[-1]["published"] == "2026-09-02T13:56:00+08:00"
    times = [e["published"] for e in entries]
    assert times == sorted(times, reverse=True)  # newest first
    hosts = {e["url"].split("/")[2] for e in entries}
    assert hosts == {"finance.sina.com.cn", "cj.sina.cn", "k.sina.cn"}
    assert golden["next_url"].endswith("corp/view/vCB_AllNewsStock.php?symbol=sh600519&Page=2")
    assert golden["stock_name"] == "贵州茅台"


@pytest.mark.parametrize(
    "href",
    [
        "http://evil.invalid/corp/view/vCB_AllNewsStock.php?symbol=sh600519&Page=2",
        "http://vip.stock.finance.sina.com.cn.evil.invalid/x?Page=2",
        "http://user@evil.invalid/?Page=2",
        "javascript:void(0)",
        "ftp://vip.stock.finance.sina.com.cn/x",
        "http://vip.stock.finance.sina.com.cn:8080/x?Page=2",
        "http://[::1/x",
    ],
)
def test_a_next_link_off_sina_is_refused(href):
    text = _utf8_text().replace(
        "http://vip.stock.finance.sina.com.cn/corp/view/vCB_AllNewsStock.php?symbol=sh600519&Page=2",
        href,
    )
    page = parse_stock_news(text, PAGE_URL)
    assert page.next_url is None and page.refused_next == href
    assert len(page.entries) == 40


def test_a_relative_next_link_resolves_against_the_page():
    text = _utf8_text().replace("http://vip.stock.finance.sina.com.cn/corp/view/", "/corp/view/")
    page = parse_stock_news(text, PAGE_URL)
    assert page.next_url == (
        "https://vip.stock.finance.sina.com.cn/corp/view/vCB_AllNewsStock.php?symbol=sh600519&Page=2"
    )


def test_rows_off_sina_are_skipped_and_counted():
    text = _utf8_text().replace(
        "https://k.sina.cn/article_5953466483_162dab07301901ws2q.html",
        "https://k.evil.invalid/article_5953466483_162dab07301901ws2q.html",
    )
    page = parse_stock_news(text, PAGE_URL)
    assert len(page.entries) == 39 and page.skipped == 1


def test_last_page_has_no_next_link_and_other_pages_are_refused():
    page = parse_stock_news(
        "<html><title>x</title><div class='datelist'><ul></ul></div></html>", PAGE_URL
    )
    assert page.entries == () and page.next_url is None and page.stock_name is None
    with pytest.raises(ListingError):
        parse_stock_news(b"<html><body>maintenance</body></html>", PAGE_URL)


@pytest.mark.parametrize("good", ["sh600519", "SZ000001", " bj430047 "])
def test_symbols(good):
    assert parse_symbol(good) == good.strip().lower()
    assert stock_news_url(good).endswith(f"/symbol/{good.strip().lower()}.phtml")


@pytest.mark.parametrize("bad", ["600519", "sh60051", "hk00700", "sh6005190", "sh60051x", ""])
def test_bad_symbols_name_the_valid_forms(bad):
    with pytest.raises(BadSymbol, match=r"sh, sz or bj followed by 6 digits"):
        parse_symbol(bad)


# --- the stock spider at unit level -----------------------------------------------------------


def _stock_spider(**kwargs):
    from sinacrawl.spiders.stock import StockSpider
    from tests.test_spiders import make_spider, start_requests

    spider = make_spider(StockSpider, **kwargs)
    return spider, start_requests(spider)


def _listing(request, text: str):
    from scrapy.http import HtmlResponse

    body = text.encode("gb2312", errors="xmlcharrefreplace")
    headers = {"Content-Type": "text/html; charset=gb2312"}
    return HtmlResponse(url=request.url, body=body, headers=headers, request=request)


def _split(out):
    out = list(out)
    pages = [r for r in out if r.meta.get("listing_page")]
    articles = [r for r in out if r.meta.get("listing")]
    return pages, articles


def test_stock_spider_files_articles_under_the_stock_and_follows_the_next_link():
    spider, (first,) = _stock_spider(symbols="sh600519,sz000001")
    assert first.url.endswith("/vCB_AllNewsStock/symbol/sh600519.phtml")
    pages, articles = _split(spider.parse_listing(_listing(first, _utf8_text())))
    assert len(articles) == 40 and [p.meta["listing_page"] for p in pages] == [2]
    assert pages[0].url.endswith("vCB_AllNewsStock.php?symbol=sh600519&Page=2")
    assert {tuple(a.meta["categories"]) for a in articles} == {
        ("金融", "新浪财经", "个股", "贵州茅台")
    }
    assert {a.meta["symbol"] for a in articles} == {"sh600519"}
    # mobile links are requested in their desktop form, doc id unchanged
    urls = {a.meta["doc_id"]: a.url for a in articles}
    assert urls["6379623400101vg5u"] == (
        "https://t.cj.sina.com.cn/articles/view/1668899380/6379623400101vg5u"
    )
    assert urls["162dab07301901ws2q"].startswith("https://k.sina.com.cn/article_5953466483_")
    assert len(spider.links.pairs) == 40


def test_stock_spider_stops_at_since_and_at_max_pages():
    spider, (first,) = _stock_spider(symbols="sh600519", since="2026-09-03")
    pages, articles = _split(spider.parse_listing(_listing(first, _utf8_text())))
    assert pages == [] and len(articles) == 25  # rows of 09-03 and 09-04 only
    spider, (first,) = _stock_spider(symbols="sh600519", max_pages="1")
    pages, articles = _split(spider.parse_listing(_listing(first, _utf8_text())))
    assert pages == [] and len(articles) == 40


def test_stock_spider_refuses_and_counts_a_next_link_off_sina(caplog):
    spider, (first,) = _stock_spider(symbols="sh600519")
    text = _utf8_text().replace(
        "http://vip.stock.finance.sina.com.cn/corp/view/", "http://127.0.0.2/corp/view/"
    )
    with caplog.at_level(logging.WARNING):
        pages, articles = _split(spider.parse_listing(_listing(first, text)))
    assert pages == [] and len(articles) == 40
    assert spider.crawler.stats.get_value("sinacrawl/listings/next_refused") == 1
    assert any("not a Sina address" in r.getMessage() for r in caplog.records)


def test_a_name_printed_beside_another_code_is_not_taken():
    spider, (first,) = _stock_spider(symbols="sz000001")
    _, articles = _split(spider.parse_listing(_listing(first, _utf8_text())))
    assert {tuple(a.meta["categories"]) for a in articles} == {
        ("金融", "新浪财经", "个股", "sz000001")
    }


@pytest.mark.parametrize(
    "title",
    ["贵州茅台/../../x(600519)个股资讯", "<b>(600519)个股资讯", "a\\b(600519)"],
)
def test_a_stock_name_unfit_for_a_folder_is_not_taken(title):
    text = _utf8_text().replace("贵州茅台(600519)个股资讯", html_escape(title))
    page = parse_stock_news(text, PAGE_URL)
    assert page.stock_name is None


def html_escape(text: str) -> str:
    import html

    return html.escape(text)
