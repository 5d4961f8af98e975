"""build_article: every field present and JSON-ready; the listing fills only what is missing."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from sinacrawl.items import FIELDS, LIST_FIELDS, Article
from sinacrawl.loaders import build_article
from sinacrawl.normalise import normalise
from sinacrawl.parsing.dates import BEIJING
from sinacrawl.parsing.listing import ListingEntry
from tests.conftest import FIXTURES

P05 = (FIXTURES / "sina-pages" / "p05_2018_finance_roll.html").read_bytes()
P05_URL = "https://finance.sina.com.cn/roll/2018-12-28/doc-ihqfskcn2160999.shtml"
# SYNTHETIC: a page that says almost nothing, so the listing has to fill in.
BARE = "<html><body><div id='artibody'><p>　　只有正文的合成页面。</p></div></body></html>".encode()
BARE_URL = "https://finance.sina.com.cn/china/2021-11-22/doc-ikyamrmz6784021.shtml"


def listing(**kw) -> ListingEntry:
    base = dict(
        url=BARE_URL,
        doc_id="ikyamrmz6784021",
        title="人社部：党领导就业和社保工作的重大成就与经验启示",
        media_name="新浪财经",
        ctime=datetime(2021, 11, 22, 17, 33, 50, tzinfo=BEIJING),
        keywords=("人社部", "就业"),
        image="//n.sinaimg.cn/finance/transform/x/w550h366/20211122/a.jpg",
    )
    base.update(kw)
    return ListingEntry(**base)


def test_item_is_an_article_with_every_field_json_ready():
    item = build_article(P05, P05_URL, categories=["金融", "新浪财经"])
    assert isinstance(item, Article)
    assert set(item) == set(FIELDS)
    json.dumps(dict(item), ensure_ascii=False)  # strings, lists, None only
    assert item["categories"] == ["金融", "新浪财经"]
    for name in LIST_FIELDS:
        assert isinstance(item[name], list)


def test_crawled_at_is_utc_iso():
    when = datetime(2021, 11, 22, 9, 33, 50, tzinfo=timezone.utc)
    assert build_article(P05, P05_URL, crawled_at=when)["crawled_at"] == "2021-11-22T09:33:50+00:00"
    assert build_article(P05, P05_URL)["crawled_at"].endswith("+00:00")


def test_listing_fills_what_the_page_lacks():
    item = build_article(BARE, None, listing=listing())
    assert item["url"] == BARE_URL and item["doc_id"] == "ikyamrmz6784021"
    assert item["title"] == "人社部：党领导就业和社保工作的重大成就与经验启示"
    assert item["published_at"] == "2021-11-22T17:33:50+08:00"
    assert item["source"] == "新浪财经"
    assert item["keywords"] == ["人社部", "就业"]
    assert item["headimg"] == "https://n.sinaimg.cn/finance/transform/x/w550h366/20211122/a.jpg"
    assert item["body_text"] == "只有正文的合成页面。"


def test_the_page_beats_the_listing():
    entry = listing(
        url=P05_URL,
        doc_id="ihqfskcn2160999",
        title="列表里的标题",
        media_name="列表来源",
        ctime=datetime(2018, 12, 28, 20, 0, tzinfo=BEIJING),
        keywords=("列表关键词",),
    )
    item = build_article(P05, P05_URL, listing=entry)
    assert item["title"] == '60万"12306账号"外泄? 中铁总辟谣称消息不实'
    assert item["published_at"] == "2018-12-28T19:55:00+08:00"
    assert item["source"] == "新京报"
    assert item["keywords"] == ["辟谣", "外泄", "账号"]


def test_listing_keywords_repeating_the_title_and_qr_images_are_not_used():
    entry = listing(
        keywords=("人社部：党领导就业和社保工作的重大成就与经验启示",),
        image="https://n.sinaimg.cn/finance/cece9e13/20200514/343233024.png",
    )
    item = build_article(BARE, None, listing=entry)
    assert item["keywords"] == []
    assert item["headimg"] is None


def test_empty_page_gives_nulls_not_an_error():
    item = build_article(b"", None)
    assert set(item) == set(FIELDS)
    assert all(item[n] == ([] if n in LIST_FIELDS else None) for n in FIELDS if n != "crawled_at")


def test_the_one_normalisation_step():
    raw = {
        "title": "  标题\n 二 ",
        "keywords": ["a", " b ", "a", "", "标题 二"],
        "published_at": datetime(2021, 11, 22, 9, 33, 50, 123456, tzinfo=timezone.utc),
        "body_text": "第一段\n第二段",
    }
    item = normalise(raw)
    assert normalise(item) == item  # a second pass (the validate pipeline's) changes nothing
    assert item["title"] == "标题 二"
    assert item["keywords"] == ["a", "b"]
    assert item["published_at"] == "2021-11-22T17:33:50+08:00"
    assert item["body_text"] == "第一段\n第二段"


def test_unknown_template_body_is_the_densest_paragraph_block():
    # SYNTHETIC: a layout no Sina template uses; the article is the block with most prose
    para = "这是一段足够长的正文，用来说明未知模板的页面也能找到文章主体。" * 5
    html = (
        "<html><head><title>未知模板的文章_新浪财经_新浪网</title></head><body>"
        "<div class='nav'><p>首页</p><p>财经</p></div>"
        f"<div class='story'><p>{para}</p><p>{para}</p><p>责任编辑：李四</p></div>"
        "<div class='footer'><p>Copyright © 1996-2026 SINA Corporation</p></div>"
        "</body></html>"
    ).encode()
    item = build_article(html, "https://finance.sina.com.cn/roll/2026-01-01/doc-iunknown1.shtml")
    assert item["title"] == "未知模板的文章"
    assert item["body_text"] == f"{para}\n{para}"
    assert item["editor"] == "李四"


def test_stocks_from_body_links_spans_and_markers_only():
    # SYNTHETIC: every way a Sina body names a stock, plus a sidebar link that must not count
    html = (
        "<html><body><div class='side'><a href='http://finance.sina.com.cn/realstock/company/"
        "sh601318/nc.shtml'>侧栏热股</a></div><div id='artibody'>"
        "<p>　　<a href='http://finance.sina.com.cn/realstock/company/sh603883/nc.shtml'>老百姓</a>"
        "与<span id='stock_sz000001'><a href='x'>平安银行</a></span>、"
        "<a href='https://stock.finance.sina.com.cn/hkstock/quotes/00700.html'>腾讯控股</a>和"
        "<span id='usstock_BABA'>阿里巴巴</span>公布业绩。</p>"
        "<!-- news_keyword_pub,stock,sh600000 --></div></body></html>"
    ).encode()
    item = build_article(html, "https://finance.sina.com.cn/stock/2021-11-22/doc-istocks1.shtml")
    assert item["stocks"] == ["sh603883", "sz000001", "hk00700", "gb_baba", "sh600000"]


def test_real_pages_extract_without_warnings(caplog):
    """A warning means something on the page could not be read; the real pages have none."""
    import logging

    from tests.conftest import real_pages
    from tests.update_golden import request_urls

    urls = request_urls()
    with caplog.at_level(logging.WARNING, logger="sinacrawl"):
        for page in real_pages():
            build_article(page.read_bytes(), urls.get(page.stem))
    assert not caplog.records, [r.getMessage() for r in caplog.records]


def test_keyword_metas_that_only_cut_up_the_headline_are_not_keywords():
    # SYNTHETIC: an old page whose keywords meta is its headline split at the space
    html = (
        "<html><head><meta name='keywords' content='拿出10万元投资房产,小两口尝试以钱生钱(图)'>"
        "</head><body><h1 id='artibodyTitle'>拿出10万元投资房产 小两口尝试以钱生钱(图)</h1>"
        "<div id='artibody'><p>正文。</p></div></body></html>"
    ).encode()
    assert (
        build_article(html, "https://bj.house.sina.com.cn/p/2005-03-31/031868306.html")["keywords"]
        == []
    )
