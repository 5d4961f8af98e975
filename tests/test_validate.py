"""The validation pipeline: SPEC §3's shape on every item, counted drops for unusable ones."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from sinacrawl.exceptions import DropArticle
from sinacrawl.items import FIELDS, LIST_FIELDS, Article
from sinacrawl.pipelines.validate import ValidatePipeline

URL = "https://finance.sina.com.cn/china/gncj/2021-11-22/doc-ikyamrmz6784021.shtml"


def raw(**fields) -> dict:
    base = {"url": URL, "title": "人社部：党领导就业", "body_html": "<p>正文</p>"}
    base.update(fields)
    return base


def test_every_field_present_with_unknowns_as_none_or_empty_list():
    item = ValidatePipeline().process_item(raw())
    assert isinstance(item, Article)
    assert set(item.keys()) == set(FIELDS)
    for name in LIST_FIELDS:
        assert item[name] == []
    assert item["author"] is None and item["editor"] is None
    assert item["doc_id"] == "ikyamrmz6784021"


def test_whitespace_collapsed_and_lists_made_lists():
    item = ValidatePipeline().process_item(
        raw(
            title="  人社部：\n党领导\u200b就业  ",
            source="\t新京报 ",
            keywords="社保",
            stocks=("sh603883", "sh603883", " ", None),
            categories=["金融", " 新浪财经 "],
            body_text="第一段\n\n   第二   段\r\n",
        )
    )
    assert item["title"] == "人社部： 党领导就业"
    assert item["source"] == "新京报"
    assert item["keywords"] == ["社保"]
    assert item["stocks"] == ["sh603883"]
    assert item["categories"] == ["金融", "新浪财经"]
    assert item["body_text"] == "第一段\n第二 段"


def test_dates_become_iso_beijing_and_utc():
    item = ValidatePipeline().process_item(
        raw(
            published_at=datetime(2021, 11, 22, 9, 33, 50, tzinfo=timezone.utc),
            crawled_at="2026-11-27T21:00:00+08:00",
        )
    )
    assert item["published_at"] == "2021-11-22T17:33:50+08:00"
    assert item["crawled_at"] == "2026-11-27T13:00:00+00:00"
    naive = ValidatePipeline().process_item(raw(published_at="2021-11-22 17:33:50"))
    assert naive["published_at"] == "2021-11-22T17:33:50+08:00"
    garbage = ValidatePipeline().process_item(raw(published_at="yesterday-ish"))
    assert garbage["published_at"] is None


def test_url_canonicalised():
    item = ValidatePipeline().process_item(raw(url=URL.replace("https", "http") + "?cre=tianyi#p"))
    assert item["url"] == URL


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"title": None}, "no_title"),
        ({"title": " \n\t "}, "no_title"),
        ({"body_html": None, "body_text": None}, "no_body"),
        ({"body_html": "<p> </p><!-- x -->", "body_text": "  "}, "no_body"),
        ({"url": "https://finance.sina.com.cn/", "doc_id": None}, "no_doc_id"),
    ],
)
def test_unusable_items_dropped_with_reason(fields, reason):
    with pytest.raises(DropArticle) as info:
        ValidatePipeline().process_item(raw(**fields))
    assert info.value.reason == reason


def test_body_of_only_an_image_is_a_body():
    item = ValidatePipeline().process_item(
        raw(body_html='<p><img src="https://n.sinaimg.cn/a.jpg"></p>')
    )
    assert item["body_html"].startswith("<p><img")


def test_unknown_fields_ignored_and_odd_values_survive():
    item = ValidatePipeline().process_item(
        raw(extra="x", images=[b"https://n.sinaimg.cn/a.jpg", 3])
    )
    assert "extra" not in item
    assert item["images"] == ["https://n.sinaimg.cn/a.jpg", "3"]


def test_keyword_repeating_the_title_is_not_a_keyword():
    item = ValidatePipeline().process_item(raw(keywords=["人社部：党领导就业", "社保"]))
    assert item["keywords"] == ["社保"]
