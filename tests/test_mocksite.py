"""The mock Sina site: listings shaped like the real ones, pages in the current template, and
every fault it promises, checked over real HTTP on 127.0.0.1 (no spider needed)."""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import parsel
import pytest

from sinacrawl.testing.catalog import build_catalog
from sinacrawl.testing.mocksite import serving
from sinacrawl.testing.process import mocksite_process, parse_stats
from tests.conftest import FIXTURES

REAL_ROLL = FIXTURES / "sina-listings" / "roll_api_pageid153_lid2516_page1_2026-09-29.json"
ROLL = "/feed.mix.sina.com.cn/api/roll/get"

CONFIG = {
    "seed": 3,
    "size_kb": 8,
    "channels": [
        {"name": "china", "pageid": 155, "lid": 1686, "count": 12, "path": "china/gncj"},
        {"name": "macro", "pageid": 155, "lid": 1687, "count": 7, "also_list": ["china:2"]},
        {"name": "usstock", "pageid": 153, "lid": 2516, "count": 5},
    ],
    "faults": {
        "china:3": {"kind": "status", "status": 404},
        "china:4": {"kind": "flaky", "status": 503, "times": 2},
        "china:5": {"kind": "throttle", "retry_after": 3, "times": 1},
        "china:6": {"kind": "redirect_loop"},
        "china:7": {"kind": "offsite"},
        "china:8": {"kind": "hang", "seconds": 5},
        "china:9": {"kind": "reset"},
        "china:10": {"kind": "short_body"},
        "china:11": {"kind": "oversize", "bytes": 3 * 1024 * 1024},
        "macro:0": {"kind": "gbk_utf8_header"},
        "macro:5": {"kind": "gzip_bomb", "bytes": 64 * 1024 * 1024},
    },
    "listing_faults": {
        "macro:2": {"kind": "flaky", "status": 500, "times": 1},
        "macro:3": {"kind": "malformed"},
        "macro:4": {"kind": "api_error", "code": 2, "msg": "参数错误"},
        "china:9": {"kind": "status", "status": 502},
    },
    "omit": {"macro:1": ["date", "source"]},
    "page_dates": {"usstock:2": "2025-01-02T08:30:00+08:00"},
    "robots": {"tech.sina.com.cn": {"status": 503}},
    "html_listings": [{"cid": 56592, "channel": "china", "per_page": 5}],
    "real_pages": str(FIXTURES),
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    log = tmp_path_factory.mktemp("mock") / "requests.jsonl"
    with serving(CONFIG, log_path=log) as server:
        server.log_path = log
        yield server


def get(
    site, path: str, *, timeout: float = 10.0, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    host, port = urlsplit(site.url).hostname, urlsplit(site.url).port
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, headers={"User-Agent": "mock-test"})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def roll(site, pageid: int, lid: int, *, num: int = 50, page: int = 1) -> dict:
    status, headers, body = get(site, f"{ROLL}?pageid={pageid}&lid={lid}&num={num}&page={page}")
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    return json.loads(body)["result"]


def article(ref: str):
    return build_catalog(CONFIG).by_ref[ref]


# --- listings --------------------------------------------------------------------------------


def test_roll_entries_have_the_real_responses_shape(site, fixtures_dir: Path) -> None:
    real = json.loads(REAL_ROLL.read_bytes())["result"]
    ours = roll(site, 153, 2516)
    assert set(ours) == set(real)
    assert ours["status"] == {"code": 0, "msg": "succ"}
    real_keys = set(real["data"][0])
    for entry in ours["data"]:
        assert set(entry) == real_keys
        for name in ("ctime", "mtime", "intime"):
            assert isinstance(entry[name], str) and entry[name].isdigit()
        assert int(entry["mtime"]) >= int(entry["ctime"])
        doc_id = re.search(r"doc-(i[0-9a-z]+)\.shtml$", entry["url"]).group(1)
        assert entry["docid"] == f"comos:{doc_id[1:]}"
        assert json.loads(entry["urls"]) == [entry["url"]]
        assert isinstance(entry["img"], (list, dict)) and isinstance(entry["images"], list)


def test_roll_api_escapes_like_sinas_php(site) -> None:
    _, _, body = get(site, f"{ROLL}?pageid=155&lid=1686&num=1&page=1")
    assert body.isascii() and b'"url":"https:\\/\\/finance.sina.com.cn\\/' in body


def test_roll_pages_cover_the_channel_newest_first_without_repeats(site) -> None:
    first = roll(site, 155, 1686, num=5, page=1)
    urls, page = [], 1
    while data := roll(site, 155, 1686, num=5, page=page)["data"]:
        urls += [e["url"] for e in data]
        page += 1
    catalog = build_catalog(CONFIG)
    assert first["total"] == len(catalog.channels["china"].articles) == len(urls) == 12 + 16
    assert len(set(urls)) == len(urls)
    assert urls == [a.url for a in catalog.channels["china"].articles]
    times = [a.ctime for a in catalog.channels["china"].articles]
    assert times == sorted(times, reverse=True)


def test_an_article_listed_in_two_channels_appears_in_both(site) -> None:
    shared = article("china:2").url
    assert shared in [e["url"] for e in roll(site, 155, 1687)["data"]]
    assert shared in [e["url"] for e in roll(site, 155, 1686)["data"]]


def test_real_pages_are_listed_oldest_last_under_their_real_urls(site) -> None:
    data = roll(site, 155, 1686)["data"]
    assert "https://finance.sina.com.cn/stock/usstock/c/2026-09-28/doc-initmeau2811260.shtml" in [
        e["url"] for e in data
    ]
    assert data[-1]["url"] == "http://book.sina.com.cn/longbook/1097399113_qiaoguanhua/41.shtml"


def test_num_is_capped_and_unknown_channels_are_empty(site) -> None:
    assert len(roll(site, 155, 1686, num=500)["data"]) == 12 + 16  # max_num 50 > 27 entries
    assert len(roll(site, 155, 1686, num=3)["data"]) == 3
    empty = roll(site, 999, 1)
    assert empty["data"] == [] and empty["total"] == 0
    assert roll(site, 155, 1687, page=9)["data"] == []


def test_jsonp_wraps_the_same_payload(site) -> None:
    status, headers, body = get(site, f"{ROLL}?pageid=155&lid=1687&num=3&page=1&callback=jQuery1_2")
    assert status == 200 and "javascript" in headers["Content-Type"]
    text = body.decode()
    assert text.startswith("try{jQuery1_2(") and text.endswith(");}catch(e){};")
    payload = json.loads(text[len("try{jQuery1_2(") : -len(");}catch(e){};")])
    assert payload["result"]["data"] == roll(site, 155, 1687, num=3)["data"]


def test_html_roll_listing_has_the_real_pages_structure(site, fixtures_dir: Path) -> None:
    real = parsel.Selector(
        (fixtures_dir / "sina-listings" / "roll_html_cid56592_page1_2026-09-29.html").read_text()
    )
    assert real.css("ul.list_009#listcontent li a::attr(href)").getall()  # same selectors work
    status, _, body = get(site, "/finance.sina.com.cn/roll/c/56592.shtml?page=2")
    assert status == 200
    page = parsel.Selector(body.decode())
    china = build_catalog(CONFIG).channels["china"].articles
    assert page.css("ul.list_009#listcontent li a::attr(href)").getall() == [
        a.url for a in china[5:10]
    ]
    spans = page.css("ul.list_009 li span::text").getall()
    assert spans[0] == f"({china[5].ctime:%m月%d日 %H:%M})"
    assert page.css(".pagebox_next a::attr(href)").get() == "?page=3"
    assert page.css(".pagebox_num_nonce::text").get() == "2"
    assert get(site, "/finance.sina.com.cn/roll/c/1.shtml")[0] == 404


# --- article pages ---------------------------------------------------------------------------


def test_generated_page_uses_the_current_finance_template(site) -> None:
    a = article("china:0")
    status, headers, body = get(site, a.mirror_path)
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    page = parsel.Selector(body.decode("utf-8"))
    assert page.css("h1.main-title::text").get() == a.title
    assert page.css("div.date-source span.date::text").get() == f"{a.ctime:%Y年%m月%d日 %H:%M}"
    assert page.css("div.date-source a.source::text").get() == a.media_name
    assert page.css('meta[property="article:published_time"]::attr(content)').get() == (
        a.ctime.isoformat()
    )
    assert page.css('meta[name="keywords"]::attr(content)').get() == ",".join(a.keywords)
    assert len(page.css("div#artibody > p:not(.article-editor)")) >= 5
    assert re.fullmatch(r"责任编辑：\S+( SF\d+)?", page.css("p.article-editor::text").get())
    assert abs(len(body) - 8 * 1024) < 1500  # the configured size, give or take a block


def test_pages_are_deterministic_and_sizes_configurable() -> None:
    from sinacrawl.testing.pages import article_page

    big = {**CONFIG, "size_kb": [80, 150]}
    one, two = build_catalog(big), build_catalog(big)
    assert [a.doc_id for a in one.articles()] == [a.doc_id for a in two.articles()]
    pages = [article_page(a) for a in one.articles() if not a.real_file]
    assert pages == [article_page(a) for a in two.articles() if not a.real_file]
    assert all(80 * 1024 <= len(p) <= 152 * 1024 for p in pages)
    assert len({len(p) for p in pages}) > 5


def test_some_pages_are_gbk_and_say_so(site) -> None:
    gbk = [a for a in build_catalog(CONFIG).articles() if a.encoding == "gbk" and not a.fault]
    assert gbk
    _, headers, body = get(site, gbk[0].mirror_path)
    assert headers["Content-Type"] == "text/html; charset=GBK"
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    assert gbk[0].title in body.decode("gb18030")
    assert b'charset="gb2312"' in body


def test_real_pages_are_served_byte_exact(site, fixtures_dir: Path) -> None:
    served = [a for a in build_catalog(CONFIG).articles() if a.real_file]
    assert len(served) == 16
    for a in served:
        status, _, body = get(site, a.mirror_path)
        assert status == 200 and body == Path(a.real_file).read_bytes(), a.ref


def test_pages_without_date_or_source_keep_them_in_the_listing(site) -> None:
    a = article("macro:1")
    page = parsel.Selector(get(site, a.mirror_path)[2].decode())
    assert page.css("h1.main-title::text").get() == a.title
    assert page.css("span.date").get() is None and page.css("a.source").get() is None
    assert page.css('meta[property="article:published_time"]').get() is None
    entry = next(e for e in roll(site, 155, 1687)["data"] if e["url"] == a.url)
    assert entry["media_name"] == a.media_name and int(entry["ctime"]) == int(a.ctime.timestamp())


def test_a_page_can_disagree_with_its_listing_time(site) -> None:
    a = article("usstock:2")
    page = parsel.Selector(
        get(site, a.mirror_path)[2].decode("gb18030" if a.encoding == "gbk" else "utf-8")
    )
    assert page.css("span.date::text").get() == "2025年01月02日 08:30"
    entry = next(e for e in roll(site, 153, 2516)["data"] if e["url"] == a.url)
    assert int(entry["ctime"]) == int(a.ctime.timestamp()) != int(a.page_time.timestamp())


def test_robots_allow_all_unless_configured(site) -> None:
    status, _, body = get(site, "/finance.sina.com.cn/robots.txt")
    assert status == 200 and b"Allow: /" in body
    assert get(site, "/tech.sina.com.cn/robots.txt")[0] == 503


# --- faults ----------------------------------------------------------------------------------


def test_status_fault(site) -> None:
    assert get(site, article("china:3").mirror_path)[0] == 404


def test_flaky_page_fails_n_times_then_succeeds(site) -> None:
    path = article("china:4").mirror_path
    assert [get(site, path)[0] for _ in range(4)] == [503, 503, 200, 200]


def test_throttled_page_says_when_to_retry(site) -> None:
    path = article("china:5").mirror_path
    status, headers, _ = get(site, path)
    assert status == 429 and headers["Retry-After"] == "3"
    assert get(site, path)[0] == 200


def test_redirect_loop_goes_back_and_forth_on_the_real_host(site) -> None:
    a = article("china:6")
    status, headers, _ = get(site, a.mirror_path)
    assert status == 302 and headers["Location"] == f"{a.url}?loop=1"
    status, headers, _ = get(site, a.mirror_path + "?loop=1")
    assert status == 302 and headers["Location"] == a.url


def test_offsite_redirect_leaves_sina(site) -> None:
    status, headers, _ = get(site, article("china:7").mirror_path)
    location = urlsplit(headers["Location"])
    assert status == 302 and location.hostname == "127.0.0.1"
    assert location.path.startswith("/offsite/")


def test_hanging_page_holds_until_the_client_gives_up(site) -> None:
    started = time.monotonic()
    with pytest.raises((socket.timeout, TimeoutError)):
        get(site, article("china:8").mirror_path, timeout=1.0)
    assert 0.9 < time.monotonic() - started < 4


def test_reset_page_aborts_the_connection(site) -> None:
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        get(site, article("china:9").mirror_path)


def test_short_body_promises_more_than_it_sends(site) -> None:
    with pytest.raises(http.client.IncompleteRead):
        get(site, article("china:10").mirror_path)


def test_oversize_body_is_announced(site) -> None:
    status, headers, _ = get(site, article("china:11").mirror_path, method="HEAD")
    assert status == 200 and int(headers["Content-Length"]) >= 3 * 1024 * 1024


def test_gzip_bomb_is_small_on_the_wire_and_huge_inflated(site) -> None:
    import zlib

    status, headers, body = get(site, article("macro:5").mirror_path)
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert len(body) < 200 * 1024
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    size = 0
    while chunk := inflater.decompress(body, 1 << 20):
        size += len(chunk)
        body = inflater.unconsumed_tail
    assert size >= 64 * 1024 * 1024


def test_gbk_body_behind_a_utf8_header(site) -> None:
    a = article("macro:0")
    status, headers, body = get(site, a.mirror_path)
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    assert a.title in body.decode("gb18030")


def test_unknown_paths_are_404(site) -> None:
    assert get(site, "/finance.sina.com.cn/nothing/here.shtml")[0] == 404


def test_request_log_records_every_request(site) -> None:
    path = article("usstock:1").mirror_path
    get(site, path)
    records = [json.loads(line) for line in site.log_path.read_text().splitlines()]
    mine = [r for r in records if r["path"] == path]
    assert mine and mine[-1]["status"] == 200 and mine[-1]["method"] == "GET"
    assert mine[-1]["ua"] == "mock-test" and mine[-1]["bytes"] > 1000
    assert mine[-1]["inflight"] >= 1
    assert {r["status"] for r in records if r["path"].endswith("robots.txt")} <= {200, 503}


def test_many_concurrent_clients_are_served(site) -> None:
    paths = [a.mirror_path for a in build_catalog(CONFIG).articles() if not a.fault]
    failures: list[str] = []

    def client(offset: int) -> None:
        for i in range(15):
            path = paths[(offset + i) % len(paths)]
            try:
                if get(site, path, timeout=20)[0] != 200:
                    failures.append(path)
            except OSError as exc:
                failures.append(f"{path}: {exc}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures and not any(t.is_alive() for t in threads)
    records = [json.loads(line) for line in site.log_path.read_text().splitlines()]
    assert max(r["inflight"] for r in records) > 1  # the site saw them in parallel


def test_listing_pages_can_fail_too(site) -> None:
    macro = f"{ROLL}?pageid=155&lid=1687&num=2"
    assert [get(site, f"{macro}&page=2")[0] for _ in range(2)] == [500, 200]
    status, _, body = get(site, f"{macro}&page=3")
    assert status == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    status, _, body = get(site, f"{macro}&page=4")
    assert status == 200 and json.loads(body)["result"]["status"] == {"code": 2, "msg": "参数错误"}
    assert get(site, "/finance.sina.com.cn/roll/c/56592.shtml?page=9")[0] == 502  # china:9
    assert get(site, f"{ROLL}?pageid=155&lid=1686&num=2&page=9")[0] == 502


def test_config_errors_name_the_bad_entry() -> None:
    with pytest.raises(ValueError, match="china:99"):
        build_catalog({"faults": {"china:99": {"kind": "status"}}})
    with pytest.raises(ValueError, match="unknown kind"):
        build_catalog({"faults": {"china:1": {"kind": "explode"}}})
    with pytest.raises(ValueError, match="no channel 'nowhere'"):
        build_catalog({"listing_faults": {"nowhere:1": {"kind": "malformed"}}})
    with pytest.raises(ValueError, match="kind must be one of"):
        build_catalog({"listing_faults": {"china:1": {"kind": "offsite"}}})


# --- the child process and the crawl helpers --------------------------------------------------


@pytest.mark.slow
def test_child_process_prints_its_url_logs_and_always_stops(tmp_path: Path) -> None:
    with mocksite_process({"channels": CONFIG["channels"]}, tmp_path) as running:
        process = running.process
        assert urlsplit(running.url).hostname == "127.0.0.1"
        host, port = urlsplit(running.url).hostname, urlsplit(running.url).port
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request("GET", f"{ROLL}?pageid=155&lid=1686&num=2&page=1")
        assert len(json.loads(conn.getresponse().read())["result"]["data"]) == 2
        conn.close()
        assert running.paths(ROLL) == [f"{ROLL}?pageid=155&lid=1686&num=2&page=1"]
    assert process.poll() is not None


def test_stats_are_read_back_from_a_scrapy_log() -> None:
    log = (
        "2026-11-27 13:00:00 [scrapy.statscollectors] INFO: Dumping Scrapy stats:\n"
        "{'finish_time': datetime.datetime(2026, 11, 27, 5, 0, tzinfo=datetime.timezone.utc),\n"
        " 'sinacrawl/articles/stored': 7,\n"
        " 'elapsed_time_seconds': 1.5}\n"
        "2026-11-27 13:00:00 [scrapy.core.engine] INFO: Spider closed (finished)\n"
    )
    assert parse_stats(log) == {
        "finish_time": None,
        "sinacrawl/articles/stored": 7,
        "elapsed_time_seconds": 1.5,
    }
