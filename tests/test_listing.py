"""Listing parsers on the real roll API response and the real HTML roll listing."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sinacrawl.parsing.dates import BEIJING
from sinacrawl.parsing.listing import (
    ListingError,
    listing_time,
    load_roll_json,
    parse_html_listing,
    parse_roll_api,
)
from tests.conftest import FIXTURES, SYNTHETIC

ROLL = FIXTURES / "sina-listings" / "roll_api_pageid153_lid2516_page1_2026-09-29.json"
ROLL_HTML = FIXTURES / "sina-listings" / "roll_html_cid56592_page1_2026-09-29.html"
ROLL_HTML_URL = "https://finance.sina.com.cn/roll/c/56592.shtml"


@pytest.fixture(scope="module")
def roll_body(fixtures_dir) -> bytes:
    return ROLL.read_bytes()


@pytest.fixture(scope="module")
def roll_page(roll_body):
    return parse_roll_api(roll_body, page=1, num=50)


def test_roll_api_entries_match_the_raw_records(roll_page, roll_body):
    raw = json.loads(roll_body)["result"]["data"]
    assert len(roll_page.entries) == len(raw) == 50
    assert roll_page.skipped == 0
    assert roll_page.total == 100350
    assert roll_page.has_more
    for entry, record in zip(roll_page.entries, raw, strict=True):
        assert entry.url == record["url"]  # already canonical https without query
        assert entry.doc_id == "i" + record["docid"].removeprefix("comos:")
        assert entry.ctime is not None and entry.ctime.utcoffset().total_seconds() == 8 * 3600
        assert int(entry.ctime.timestamp()) == int(record["ctime"])
        assert int(entry.mtime.timestamp()) == int(record["mtime"])
        assert entry.mtime >= entry.ctime


def test_roll_api_first_entry_fields(roll_page):
    first = roll_page.entries[0]
    assert first.url.endswith("/doc-initmeav9622448.shtml")
    assert first.title == "财报前夕，美光“超级多头”重申2000美元目标价"
    assert first.media_name == "环球市场播报"
    assert first.intro.startswith("在看多存储芯片股美光科技")  # leading space stripped
    assert first.ctime.isoformat() == "2026-09-29T00:34:03+08:00"
    assert first.keywords == ()
    assert first.image == (
        "http://n.sinaimg.cn/finance/transform/65/w550h315/20260929/"
        "7305-c310438b6d80193947acc256273a3dbb.png"
    )


def test_roll_api_never_takes_the_wechat_poster_as_image(roll_page, roll_body):
    raw = json.loads(roll_body)["result"]["data"]
    posters = [i for i, r in enumerate(raw) if isinstance(r["img"], dict)]
    assert posters, "the real response has records whose img is the wx_poster dict"
    for i in posters:
        assert roll_page.entries[i].image is None or "wx_poster" not in roll_page.entries[i].image
    assert not any("wx_poster" in (e.image or "") for e in roll_page.entries)


def test_roll_api_is_newest_first(roll_page):
    times = [e.ctime for e in roll_page.entries]
    assert times == sorted(times, reverse=True)


def test_jsonp_and_try_catch_jsonp_give_the_same_entries(roll_body, roll_page):
    for wrapped in (
        b"jQuery111_222(" + roll_body + b");",
        b"try{cb(" + roll_body + b");}catch(e){};",
    ):
        assert parse_roll_api(wrapped, page=1, num=50) == roll_page


def test_images_as_a_python_style_string():
    body = {
        "result": {
            "status": {"code": 0},
            "data": [
                {
                    "url": "https://finance.sina.com.cn/a/2026-01-01/doc-iabc.shtml",
                    "images": "[{'u': '//n.sinaimg.cn/x/qrcode.png'}, {'u': '//n.sinaimg.cn/x/y.jpg'}]",
                    "keywords": "降准,央行，央行,标题",
                    "title": "标题",
                }
            ],
        }
    }
    (entry,) = parse_roll_api(json.dumps(body)).entries
    assert entry.image == "https://n.sinaimg.cn/x/y.jpg"
    assert entry.keywords == ("降准", "央行")  # deduplicated, the title is not a keyword


def test_has_more_stops_at_total_and_at_empty_data():
    def page(data, total):
        return json.dumps({"result": {"status": {"code": 0}, "total": total, "data": data}})

    record = {"url": "https://finance.sina.com.cn/a/2026-01-01/doc-iabc.shtml"}
    assert parse_roll_api(page([record], 120), page=2, num=50).has_more
    assert not parse_roll_api(page([record], 100), page=2, num=50).has_more
    assert not parse_roll_api(page([], 100)).has_more


def test_off_site_and_junk_records_are_skipped_not_fatal():
    data = [
        {"url": "https://evil.example.com/doc-iabc.shtml"},
        {"url": "https://x@evil.example.com/finance.sina.com.cn/doc-iabc.shtml"},
        {"url": ""},
        "not a record",
        {"url": "javascript:alert(1)"},
        {"url": "", "wapurl": "https://finance.sina.cn/2026-01-01/detail-iwap.d.html"},
    ]
    page = parse_roll_api(json.dumps({"result": {"status": {"code": 0}, "data": data}}))
    assert [e.doc_id for e in page.entries] == ["iwap"]
    assert page.skipped == 5


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"<html>502 Bad Gateway</html>", "neither JSON nor JSONP"),
        (b'{"result": ', "not valid JSON"),
        (b"[1, 2]", "neither JSON"),
        (b'{"nothing": 1}', "no 'result'"),
        (b'{"result": {"status": {"code": 1, "msg": "bad lid"}}}', "roll API error 1: bad lid"),
        (b'{"result": {"status": {"code": 0}, "data": {"a": 1}}}', "not a list"),
        (b"\xff\xfe\x00garbage", "neither JSON"),
    ],
)
def test_malformed_roll_responses_raise_a_clear_listing_error(body, message):
    with pytest.raises(ListingError, match=message):
        parse_roll_api(body)


def test_load_roll_json_reads_gbk_jsonp():
    body = 'cb({"result": {"data": [{"title": "央行"}]}});'.encode("gbk")
    assert load_roll_json(body)["result"]["data"][0]["title"] == "央行"


# --- HTML listings ---


@pytest.fixture(scope="module")
def html_page(fixtures_dir):
    return parse_html_listing(ROLL_HTML.read_bytes(), ROLL_HTML_URL)


def test_real_roll_listing_entries(html_page):
    assert len(html_page.entries) == 200
    assert html_page.skipped == 0
    assert len({e.doc_id for e in html_page.entries}) == 200
    first, last = html_page.entries[0], html_page.entries[-1]
    assert first.url == "https://finance.sina.com.cn/stock/s/2026-09-28/doc-initmear8308661.shtml"
    assert first.doc_id == "initmear8308661"
    assert first.title == "准万亿城市“卡位战”，悬念再起"
    assert first.ctime == datetime(2026, 9, 28, 23, 54, tzinfo=BEIJING)
    assert last.doc_id == "iniszrua9540241"
    assert last.ctime == datetime(2026, 9, 25, 17, 14, tzinfo=BEIJING)
    # 14 entries point at the mobile site; they are articles too
    mobile = [e for e in html_page.entries if "finance.sina.cn" in e.url]
    assert len(mobile) == 14 and all(e.doc_id and e.doc_id.startswith("i") for e in mobile)


def test_real_roll_listing_times_are_all_parsed_and_newest_first(html_page):
    times = [e.ctime for e in html_page.entries]
    assert None not in times
    assert times == sorted(times, reverse=True)
    # every listing date agrees with the date in the article's URL
    for entry in html_page.entries:
        assert entry.ctime.strftime("/%Y-%m-%d/") in entry.url


def test_real_roll_listing_pagination(html_page):
    assert html_page.has_more
    assert html_page.next_url == ROLL_HTML_URL + "?page=2"


def test_feed_cards(fixtures_dir):
    now = datetime(2026, 9, 29, 10, 0, tzinfo=BEIJING)
    body = (SYNTHETIC / "listing_feed_cards.html").read_bytes()
    page = parse_html_listing(body, "https://finance.sina.com.cn/roll/", now=now)
    assert [e.doc_id for e in page.entries] == [
        "iaaaaaaa0000001",
        "iaaaaaaa0000002",
        "iaaaaaaa0000003",
    ]
    assert page.skipped == 2  # the off-site card and the card without a link
    one, two, three = page.entries
    assert one.url == "https://finance.sina.com.cn/china/2026-09-29/doc-iaaaaaaa0000001.shtml"
    assert one.image == "https://n.sinaimg.cn/finance/transform/a.jpg"
    assert one.ctime == datetime(2026, 9, 29, 9, 15, tzinfo=BEIJING)
    assert two.title == "统计局：8月 & 9月 数据"
    assert two.ctime == datetime(2026, 9, 28, 23, 5, tzinfo=BEIJING)
    assert three.ctime == datetime(2026, 9, 29, 9, 35, tzinfo=BEIJING)
    assert not page.has_more and page.next_url is None


def test_old_gbk_list_009(fixtures_dir):
    body = (SYNTHETIC / "listing_old_list009_gbk.html").read_bytes()
    page = parse_html_listing(body, "http://finance.sina.com.cn/china/")
    assert [e.title for e in page.entries] == ["发改委批复城轨项目", "财政部：前8月国企利润下降"]
    assert [e.doc_id for e in page.entries] == ["101513252335", "235513250005"]
    assert page.entries[0].ctime == datetime(2012, 9, 27, 10, 15, tzinfo=BEIJING)
    assert page.entries[1].ctime == datetime(2012, 9, 26, 23, 55, tzinfo=BEIJING)
    assert page.skipped == 1
    assert page.next_url is None  # a javascript: pager is not a next page


@pytest.mark.parametrize(
    "body",
    [b"", b"<html><body><p>502</p></body></html>", b'{"result": {}}', b"\x00\x01\x02"],
)
def test_unknown_html_raises_listing_error(body):
    with pytest.raises(ListingError, match="no known listing layout"):
        parse_html_listing(body, ROLL_HTML_URL)


def test_empty_listing_container_means_end_of_data():
    page = parse_html_listing(b'<ul class="list_009"></ul>', ROLL_HTML_URL + "?page=99")
    assert page.entries == () and not page.has_more


@pytest.mark.parametrize(
    ("text", "url", "expected"),
    [
        ("(09月28日 23:54)", None, "2026-09-28T23:54:00+08:00"),
        ("(12月31日 23:54)", None, "2025-12-31T23:54:00+08:00"),
        (
            "(12月31日 23:54)",
            "https://x.sina.com.cn/2026-12-31/doc-ia.shtml",
            "2026-12-31T23:54:00+08:00",
        ),
        ("2026-01-05 08:00", None, "2026-01-05T08:00:00+08:00"),
        ("昨天 22:10", None, "2026-09-28T22:10:00+08:00"),
        ("2小时前", None, "2026-09-28T22:30:00+08:00"),
        ("(13月40日 25:99)", None, None),
        ("刚刚", None, None),
        ("", None, None),
    ],
)
def test_listing_time(text, url, expected):
    now = datetime(2026, 9, 29, 0, 30, tzinfo=BEIJING)
    value = listing_time(text, url=url, now=now)
    assert (value.isoformat() if value else None) == expected


# --- malformed input never crashes: a ListingPage or a ListingError, nothing else ---


_ROLL_BYTES = ROLL.read_bytes() if ROLL.is_file() else b"{}"
_HTML_BYTES = ROLL_HTML.read_bytes() if ROLL_HTML.is_file() else b""


def _mutate(data: bytes, cut: int, flips: list[tuple[int, int]]) -> bytes:
    body = bytearray(data[: cut % (len(data) + 1)])
    for position, value in flips:
        if body:
            body[position % len(body)] = value
    return bytes(body)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.integers(min_value=0),
    flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=8),
    jsonp=st.booleans(),
)
def test_mutated_roll_responses_give_a_page_or_a_listing_error(cut, flips, jsonp):
    body = _mutate(_ROLL_BYTES, cut, flips)
    if jsonp:
        body = b"cb(" + body + b");"
    try:
        page = parse_roll_api(body, page=1, num=50)
    except ListingError:
        return
    assert all(e.url.startswith("https://") and e.doc_id for e in page.entries)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.integers(min_value=0),
    flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=8),
)
def test_mutated_html_listings_give_a_page_or_a_listing_error(cut, flips):
    body = _mutate(_HTML_BYTES, cut, flips)
    try:
        page = parse_html_listing(body, ROLL_HTML_URL)
    except ListingError:
        return
    assert all(e.url.startswith("https://") for e in page.entries)
