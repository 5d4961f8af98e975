"""The 7×24 feed parser: the real fixture against a hand-checked golden file, and hostile input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sinacrawl.items import FLASH_FIELDS, Flash
from sinacrawl.parsing.flash import FeedError, parse_feed
from tests.conftest import FIXTURES

GOLDEN = Path(__file__).parent / "golden" / "flash" / "zhibo_7x24_feed_2026-09-04.json"
CRAWLED = "2026-09-04T02:38:25+00:00"


def _feed(entries: list, **page_info) -> bytes:
    info = {"totalNum": len(entries), "totalPage": 1, **page_info}
    payload = {
        "result": {"status": {"code": 0}, "data": {"feed": {"list": entries, "page_info": info}}}
    }
    return json.dumps(payload, ensure_ascii=False).encode()


def _entry(**fields) -> dict:
    base = {
        "id": 7,
        "zhibo_id": 152,
        "rich_text": "快讯",
        "create_time": "2026-09-04 10:00:00",
        "update_time": "2026-09-04 10:00:00",
        "is_delete": 0,
        "is_focus": 0,
        "tag": [{"id": "5", "name": "市场"}],
        "ext": "{}",
    }
    base.update(fields)
    return base


def test_real_feed_page_matches_the_hand_checked_golden_file(fixtures_dir: Path) -> None:
    golden = json.loads(GOLDEN.read_text("utf-8"))
    body = (fixtures_dir / golden["fixture"]).read_bytes()
    page = parse_feed(body, feed=152, crawled_at=golden["crawled_at"])
    assert (page.total, page.pages, dict(page.dropped)) == (
        golden["total"],
        golden["pages"],
        golden["dropped"],
    )
    assert page.flashes == golden["flashes"]
    # every flash of the page, newest first, each a complete Flash item
    assert [f["id"] for f in page.flashes] == [str(i) for i in range(5076690, 5076682, -1)]
    for fields in page.flashes:
        assert sorted(Flash(**fields).keys()) == sorted(FLASH_FIELDS)  # 2.15 orders them otherwise


def test_golden_spot_checks_read_by_hand(fixtures_dir: Path) -> None:
    body = (FIXTURES / "sina-listings" / "zhibo_7x24_feed_2026-09-04.json").read_bytes()
    by_id = {f["id"]: f for f in parse_feed(body, feed=152, crawled_at=CRAWLED).flashes}
    edited = by_id["5076684"]  # edited 55 s after it went out
    assert (edited["published_at"], edited["updated_at"]) == (
        "2026-09-04T10:34:29+08:00",
        "2026-09-04T10:35:24+08:00",
    )
    assert edited["tags"] == ["市场", "焦点"]
    # the ext stocks: A-shares and an HK line kept, the board index and the ETF left out
    assert by_id["5076686"]["stocks"] == ["sz300672", "sh688347", "hk01347", "sh688361"]
    assert by_id["5076685"]["stocks"] == ["gb_nmr"]  # NYSE-listed Nomura; currencies left out
    assert by_id["5076690"]["url"].startswith("https://finance.sina.com.cn/7x24/2026-09-04/doc-")


def test_jsonp_body_reads_like_json() -> None:
    body = b"try{jsonp_1({" + _feed([_entry()])[1:-1] + b"});}catch(e){};"
    page = parse_feed(body, feed=152, crawled_at=CRAWLED)
    assert [f["id"] for f in page.flashes] == ["7"]


@pytest.mark.parametrize(
    "body",
    [b"", b"<html>502 Bad Gateway</html>", b'{"result": {"data": {}}}', b"[1, 2]", b"cb({bad);"],
)
def test_a_body_that_is_no_feed_page_is_a_clear_error(body: bytes) -> None:
    with pytest.raises(FeedError):
        parse_feed(body, feed=152, crawled_at=CRAWLED)


def test_unusable_entries_are_dropped_whole_and_counted() -> None:
    entries = [
        _entry(id=None),
        _entry(id="x1"),
        _entry(id=True),
        _entry(id=8, create_time=None),
        _entry(id=9, create_time="2026-02-30 10:00:00"),
        _entry(id=10, is_delete=1),
        _entry(id=11, rich_text="<script>x()</script>"),
        "not an object",
        _entry(id=12, ext="{not json", tag="no list", update_time="garbage"),
    ]
    page = parse_feed(_feed(entries), feed=152, crawled_at=CRAWLED)
    assert dict(page.dropped) == {
        "no_id": 3,
        "no_time": 2,
        "deleted": 1,
        "no_text": 1,
        "not_an_object": 1,
    }
    (kept,) = page.flashes
    assert (kept["id"], kept["url"], kept["tags"], kept["stocks"]) == ("12", None, [], [])
    assert kept["updated_at"] == kept["published_at"]  # an unusable update_time


def test_hostile_rich_text_is_cleaned_and_text_is_one_plain_line() -> None:
    rich = (
        '<p onclick="x()">A&amp;B&nbsp;<b>涨停</b></p><script>alert(1)</script>'
        '<img src="javascript:alert(1)" onerror="x()"><a href="javascript:y()">链接</a>'
        "\n\n<br>{{ site }}\x07 --- "
    )
    ext = json.dumps(
        {"docurl": "javascript:alert(1)", "stocks": [{"market": "cn", "symbol": "../x"}]}
    )
    (flash,) = parse_feed(
        _feed([_entry(rich_text=rich, ext=ext)]), feed=152, crawled_at=CRAWLED
    ).flashes
    assert flash["text"] == "A&B 涨停 链接 {{ site }} ---"
    assert "script" not in flash["html"] and "onclick" not in flash["html"]
    assert "javascript" not in flash["html"] and "onerror" not in flash["html"]
    assert (flash["url"], flash["stocks"]) == (None, [])


def test_off_site_docurl_and_odd_stock_entries_are_left_out() -> None:
    ext = json.dumps(
        {
            "docurl": "https://finance.sina.com.cn.evil.invalid/7x24/doc-x.shtml",
            "stocks": [
                {"market": "hk", "symbol": "700"},
                {"market": "us", "symbol": "BRK.B"},
                {"market": "cn", "symbol": "SZ000001"},
                {"market": "cn", "symbol": 600519},
                {"market": "us", "symbol": "<script>"},
                "sh600519",
            ],
        }
    )
    (flash,) = parse_feed(_feed([_entry(ext=ext)]), feed=152, crawled_at=CRAWLED).flashes
    assert flash["url"] is None
    assert flash["stocks"] == ["hk00700", "gb_brk.b", "sz000001"]


def test_focus_and_feed_id() -> None:
    (flash,) = parse_feed(
        _feed([_entry(is_focus="1", zhibo_id="153")]), feed=152, crawled_at=CRAWLED
    ).flashes
    assert (flash["focus"], flash["feed"]) == (True, 153)
