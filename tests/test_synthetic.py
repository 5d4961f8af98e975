"""Cases the real pages lack, on small synthetic pages (tests/synthetic/article_*.html)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import pytest

from sinacrawl.items import FIELDS
from sinacrawl.parsing.dates import BEIJING
from sinacrawl.parsing.listing import ListingEntry
from tests.conftest import FIXTURES, SYNTHETIC
from tests.update_golden import boilerplate_in, load_extractor, normalise_body

BASE = "https://finance.sina.com.cn/roll/2021-11-22/"


def extract(name: str, url: str | None = None, **kwargs: Any) -> dict[str, Any]:
    body = (SYNTHETIC / name).read_bytes()
    return dict(load_extractor()(body, url, **kwargs))


def assert_well_formed(item: dict[str, Any]) -> None:
    assert set(FIELDS) <= set(item), sorted(set(FIELDS) - set(item))
    for name, value in item.items():
        assert "\ufffd" not in str(value), name


def test_every_synthetic_article_says_it_is_synthetic():
    pages = sorted(SYNTHETIC.glob("article_*.html"))
    assert len(pages) >= 6
    for page in pages:
        assert b"SYNTHETIC" in page.read_bytes()[:600], page.name


def test_missing_editor_is_null_and_the_rest_still_read():
    item = extract("article_no_editor.html", BASE + "doc-isynthnoeditor1.shtml?cre=x")
    assert_well_formed(item)
    assert item["editor"] is None
    assert item["title"] == "央行开展逆回购操作 净投放资金500亿元"
    assert item["published_at"] == "2021-11-22T17:33:50+08:00"
    assert item["source"] == "新京报"
    assert item["author"] == "王小明"
    assert item["keywords"] == ["央行", "逆回购", "流动性"]
    assert item["section"] == ["国内"]
    assert item["url"] == BASE + "doc-isynthnoeditor1.shtml"
    assert item["doc_id"] == "isynthnoeditor1"
    assert normalise_body(item["body_text"]).splitlines() == [
        "新京报讯（记者 王小明）央行今日开展1000亿元7天期逆回购操作，中标利率2.2%。",
        "因今日有500亿元逆回购到期，当日实现净投放500亿元。",
        "分析人士认为，年末流动性将保持合理充裕。",
    ]


def test_missing_url_argument_is_found_in_the_page():
    item = extract("article_no_editor.html", None)
    assert item["url"] == BASE + "doc-isynthnoeditor1.shtml"
    assert item["doc_id"] == "isynthnoeditor1"


def test_missing_date_is_null_without_a_listing():
    item = extract(
        "article_no_date.html", "https://finance.sina.com.cn/roll/doc-isynthnodate1.shtml"
    )
    assert_well_formed(item)
    assert item["published_at"] is None
    assert item["title"] == "多地出台稳就业新举措"
    assert item["source"] == "新华网"
    assert item["editor"] == "李四"
    assert "责任编辑" not in (item["body_text"] or "")


def test_missing_date_takes_the_listing_time():
    url = "https://finance.sina.com.cn/roll/doc-isynthnodate1.shtml"
    listing = ListingEntry(
        url=url,
        doc_id="isynthnodate1",
        title="多地出台稳就业新举措",
        media_name="新华社",
        ctime=datetime(2021, 11, 22, 17, 33, 50, tzinfo=BEIJING),
    )
    item = extract("article_no_date.html", url, listing=listing)
    assert item["published_at"] == "2021-11-22T17:33:50+08:00"
    assert item["source"] == "新华网", "the page's own source beats the listing's"


def test_unparseable_date_is_null_and_logged(caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.WARNING):
        item = extract("article_bad_date.html", BASE + "doc-isynthbaddate1.shtml")
    assert_well_formed(item)
    assert item["published_at"] is None, "an impossible date must not be guessed"
    assert item["title"] == "日期错误的文章"
    assert any(r.levelno >= logging.WARNING for r in caplog.records), "no warning logged"


def test_gbk_bytes_behind_a_utf8_label_decode_cleanly():
    item = extract(
        "article_gbk_labelled_utf8.html",
        BASE + "doc-isynthgbk1.shtml",
        content_type="text/html; charset=utf-8",
    )
    assert_well_formed(item)
    assert item["title"] == "人民币汇率保持基本稳定"
    assert item["source"] == "新浪财经"
    assert item["editor"] == "钱七"
    assert item["published_at"] == "2016-05-25T10:10:19+08:00"
    assert "汇率将在合理均衡水平上保持基本稳定" in item["body_text"]


def test_real_utf8_page_labelled_gb2312_decodes_cleanly():
    """A real stock data page stored as UTF-8 while its meta says gb2312 (not an article)."""
    page = FIXTURES / "sina-listings" / "other_vipstock_summary_utf8_labelled_gb2312.html"
    item = dict(load_extractor()(page.read_bytes(), None, content_type="text/html"))
    assert_well_formed(item)
    text = page.read_bytes().decode("utf-8")
    assert item["title"] is None or item["title"] in text


def test_empty_body_gives_nulls_not_furniture():
    item = extract("article_empty_body.html", BASE + "doc-isynthempty1.shtml")
    assert_well_formed(item)
    assert item["title"] == "正文为空的文章"
    assert item["published_at"] == "2022-07-31T14:13:25+08:00"
    assert not normalise_body(item["body_text"]), f"body should be empty: {item['body_text']!r}"
    assert "广告脚本" not in (item["body_html"] or "")
    assert item["images"] == [] and item["headimg"] is None
    assert item["editor"] == "王五"


def test_hostile_title_is_the_visible_text_only():
    item = extract("article_hostile_title.html", BASE + "doc-isynthhostile1.shtml")
    assert_well_formed(item)
    assert item["title"] == (
        "“引号”：'单引号' \"双引号\" # 不是注释 --- {{ page.title }} "
        "<script>alert(1)</script> & 第二行"
    )
    assert item["published_at"] == "2021-11-22T09:05:07+08:00"
    assert not boilerplate_in(item["body_text"])
