"""Pages the per-stock lists lead to: finance sub-channels, AI notes, mobile forms, unknown
templates (synthetic pages, tests/synthetic/article_*: no real ones exist here yet)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse

from sinacrawl.parsing.listing import ListingEntry
from sinacrawl.parsing.mobile import DESKTOP_FORMS, desktop_url
from sinacrawl.parsing.urls import doc_id_from_url
from tests.conftest import SYNTHETIC
from tests.test_spiders import make_spider
from tests.update_golden import load_extractor, normalise_body
from tests.update_listing_golden import load


def extract(name: str, url: str | None = None) -> dict:
    return dict(load_extractor()((SYNTHETIC / name).read_bytes(), url))


def test_jjxw_article_credits_its_writer_on_a_line_before_the_body():
    item = extract("article_jjxw_credit_line.html")
    assert item["url"] == "https://finance.sina.com.cn/jjxw/2026-09-03/doc-isynthjjxw000001.shtml"
    assert item["title"] == "白酒行业半年报：头部酒企业绩分化"
    assert item["published_at"] == "2026-09-03T15:12:41+08:00"
    assert (item["source"], item["author"], item["editor"]) == ("经济观察报", "陈白", "王五")
    assert item["stocks"] == ["sh600519"]
    assert "文｜" not in item["body_text"] and "责任编辑" not in item["body_text"]


def test_ai_note_credit_in_brackets_with_title_and_pen_name():
    item = extract("article_aiassist_note.html")
    assert item["doc_id"] == "isynthaiassist01"
    assert item["author"] == "林深"
    assert item["published_at"] == "2026-09-04T08:04:00+08:00"
    assert "融资余额173.02亿元" in item["body_text"]


def test_unknown_template_still_gives_title_date_body_and_no_wrong_url():
    item = extract("article_unknown_template_7x24.html")
    assert item["title"] == "飞天茅台创30天新高 精品茅台大涨10元"
    assert item["published_at"] == "2026-09-04T09:21:00+08:00"
    lines = normalise_body(item["body_text"]).splitlines()
    assert len(lines) == 5 and lines[0].startswith("今日飞天茅台批价继续上涨")
    assert item["author"] == "Lucy Wang"  # the credit line after the body
    # The login link's ?url=https://play.sina.com.cn/ is not this page: null, not wrong.
    assert item["url"] is None and item["doc_id"] is None
    url = "https://finance.sina.com.cn/7x24/2026-09-04/doc-isynth7x24000001.shtml"
    crawled = extract("article_unknown_template_7x24.html", url)
    assert (crawled["url"], crawled["doc_id"]) == (url, "isynth7x24000001")


@pytest.mark.parametrize(
    ("page", "template"),
    [
        ("article_jjxw_credit_line.html", "artibody"),
        ("article_aiassist_note.html", "artibody"),
        ("article_unknown_template_7x24.html", "generic"),
        ("article_empty_body.html", "artibody"),  # the template's body, empty
        (b"<html><body><div>maintenance</div></body></html>", "none"),
    ],
)
def test_pages_are_counted_per_template(page: str | bytes, template: str):
    spider = make_spider(channels="caijing")
    url = "https://finance.sina.com.cn/7x24/2026-09-04/doc-isynthtemplate01.shtml"
    entry = ListingEntry(url=url, doc_id="isynthtemplate01")
    request = Request(url, meta={"listing": entry, "doc_id": entry.doc_id, "categories": []})
    body = page if isinstance(page, bytes) else (SYNTHETIC / page).read_bytes()
    response = HtmlResponse(url=url, body=body, request=request)

    async def run():
        return [i async for i in spider.parse_article(response)]

    asyncio.run(run())
    templates = {
        k: v for k, v in spider.crawler.stats.get_stats().items() if "sinacrawl/templates/" in k
    }
    assert templates == {f"sinacrawl/templates/{template}": 1}


# --- the mobile → desktop table -----------------------------------------------------------------


def test_every_mobile_link_of_the_real_stock_listing_maps_with_its_doc_id():
    mobile = [e["url"] for e in load()["entries"] if "sina.cn/" in e["url"]]
    assert len(mobile) == 9  # 8 cj.sina.cn + 1 k.sina.cn rows
    for url in mobile:
        desktop = desktop_url(url)
        assert desktop != url and ".sina.com.cn/" in desktop
        assert doc_id_from_url(desktop) == doc_id_from_url(url) is not None


def test_desktop_forms_are_the_golden_tested_templates_hosts():
    # p14/p15 (k.sina.com.cn/article_…) and p16 (t.cj.sina.com.cn/articles/view/…)
    golden = Path(__file__).parent / "golden"
    real = {
        json.loads((golden / f"{p}.json").read_text("utf-8"))["url"]
        for p in ("p14_2018_k_sina", "p16_2018_t_cj_caijingtoutiao")
    }
    hosts = {u.split("/")[2] for u in real}
    templates = {template.split("/")[2] for _, template in DESKTOP_FORMS}
    assert templates == hosts == {"k.sina.com.cn", "t.cj.sina.com.cn"}


@pytest.mark.parametrize(
    "url",
    [
        "https://cj.sina.cn/articles/view/1668899380/../../x",
        "https://cj.sina.cn.evil.invalid/articles/view/1/abc",
        "https://k.sina.cn/article_1_abc.html?x=1",
        "https://finance.sina.cn/sa/2005-08-26/detail-ikknscsi2623250.d.html",  # no known map
    ],
)
def test_urls_the_table_does_not_know_are_left_alone(url: str):
    assert desktop_url(url) == url
