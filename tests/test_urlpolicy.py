"""The URL policy and the other hostile-input guards as units (issue 14); the crawls that
prove them end to end are in test_hostile.py."""

from __future__ import annotations

import logging
import sys

import pytest
from scrapy import Request, Spider
from scrapy.exceptions import CannotResolveHostError, IgnoreRequest, ResponseDataLossError
from scrapy.http import HtmlResponse
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler

from sinacrawl.config import problems
from sinacrawl.extensions.accounting import failure_reason
from sinacrawl.guards import ArticlePageGuardMiddleware, OtherPage
from sinacrawl.logformatter import OneTracebackPerKind, ShortLogFormatter
from sinacrawl.middlewares import DISALLOW_ALL, StrictRobotsTxtMiddleware
from sinacrawl.parsing.listing import parse_roll_api
from sinacrawl.urlpolicy import RefusedUrl, UrlPolicyMiddleware, vet

# Only 127.0.0.x and .invalid names as off-site payloads.
REFUSED = {
    "file:///etc/passwd": "not_http",
    "ftp://finance.sina.com.cn/x": "not_http",
    "javascript:alert(1)": "not_http",
    "http://127.0.0.1:8080/anything": "not_sina",
    "https://evilsina.com.cn.invalid/doc-ix.shtml": "not_sina",
    "https://sina.com.cn.invalid/doc-ix.shtml": "not_sina",
    "https://finance.sina.com.cn@127.0.0.3/doc-ix.shtml": "userinfo",
    "https://finance.sina.com.cn\\@127.0.0.3/doc-ix.shtml": "userinfo",
    "https://finance.sina.com.cn:8443/doc-ix.shtml": "port",
    "https://finance.sina.com.cn/a/..%2F..%2F127.0.0.4/doc-ix.shtml": "encoded_separator",
    "https://finance.sina.com.cn/a/%5c..%5c127.0.0.4/doc-ix.shtml": "encoded_separator",
    "https://fin\x00ance.sina.com.cn/": "malformed",
    "https://[::1/": "malformed",
}


@pytest.mark.parametrize("url,reason", REFUSED.items())
def test_the_policy_refuses_what_is_not_http_on_a_sina_host(url, reason):
    assert vet(url).reason == reason and vet(url).url is None


@pytest.mark.parametrize(
    "url",
    [
        "https://finance.sina.com.cn/../127.0.0.9/doc-ix.shtml",
        "https://finance.sina.com.cn/a/%2e%2E/%2E%2e/127.0.0.9/doc-ix.shtml",
        "https://finance.sina.com.cn/a\\..\\..\\127.0.0.9\\doc-ix.shtml",
        "https://finance.sina.com.cn/./a/../../../127.0.0.9/./doc-ix.shtml",
    ],
)
def test_dot_segments_in_any_spelling_are_resolved_inside_the_host(url):
    assert vet(url).url == "https://finance.sina.com.cn/127.0.0.9/doc-ix.shtml"


def _middleware() -> tuple[UrlPolicyMiddleware, object]:
    crawler = get_crawler(Spider)
    crawler.stats.open_spider()  # type: ignore[union-attr]
    return UrlPolicyMiddleware.from_crawler(crawler), crawler.stats


def test_every_request_passes_the_policy_whatever_made_it(caplog):
    """Listing requests (dont_filter), redirects and refreshes all meet the middleware."""
    mw, stats = _middleware()
    assert mw.process_request(Request("https://finance.sina.com.cn/a/doc-ix.shtml")) is None
    for url in ("file:///etc/passwd", "http://127.0.0.1:9/x", "http://127.0.0.2:9/y"):
        with pytest.raises(RefusedUrl) as refused:
            mw.process_request(Request(url, dont_filter=True))
        assert failure_reason(refused.value) == "refused_url"
    # a redirect target that still holds dot segments (the parsers resolve their own)
    with pytest.raises(RefusedUrl):
        mw.process_request(Request("https://finance.sina.com.cn/../127.0.0.9/doc-ix.shtml"))
    assert stats.get_value("sinacrawl/urls/refused/not_sina") == 2
    assert stats.get_value("sinacrawl/urls/refused/dot_segments") == 1
    refusals = [r for r in caplog.records if r.getMessage().startswith("Refused ")]
    assert len(refusals) == 3  # one line per kind: not_http, not_sina, dot_segments


def test_listing_pages_refuse_and_cap_their_entries():
    body = (
        '{"result": {"status": {"code": 0}, "total": NaN, "data": ['
        '{"url": "https://finance.sina.com.cn/a/doc-ia1.shtml"},'
        '{"url": "http://127.0.0.1:1/doc-ia2.shtml"},'
        '{"url": "https://finance.sina.com.cn/a/doc-ia3.shtml"}]}}'
    )
    page = parse_roll_api(body, page=1, num=50, limit=2)
    assert [e.doc_id for e in page.entries] == ["ia1"]
    assert page.refused == (("not_sina", "http://127.0.0.1:1/doc-ia2.shtml"),)
    assert page.excess == 1 and page.malformed == ("bad_total",)


def test_robots_txt_lost_to_dns_is_said_so_not_forbidden(caplog):
    crawler = get_crawler(Spider, {"ROBOTSTXT_OBEY": True})
    crawler.stats.open_spider()  # type: ignore[union-attr]
    mw = StrictRobotsTxtMiddleware.from_crawler(crawler)
    robots = Request("https://finance.sina.com.cn/robots.txt", meta={"dont_obey_robotstxt": True})
    # the robots.txt download fails: it becomes a "disallow all" robots.txt for the host
    answer = mw.process_exception(robots, CannotResolveHostError("finance.sina.com.cn"))
    assert answer.status == 200 and answer.body == DISALLOW_ALL
    with pytest.raises(IgnoreRequest) as refused:
        mw.process_request_2(None, Request("https://finance.sina.com.cn/a/doc-ix.shtml"))
    assert "robots.txt unreachable (DNS failure)" in str(refused.value)
    assert failure_reason(refused.value) == "robots_unreachable"
    assert "DNS failure" in caplog.text and "Forbidden" not in caplog.text


def _article(url: str, body: bytes, **meta) -> tuple[Request, HtmlResponse]:
    request = Request(url, meta={"listing": object(), "doc_id": "ia1", **meta})
    return request, HtmlResponse(url, body=body, request=request)


def test_an_article_response_is_the_whole_requested_article_or_fails():
    mw = ArticlePageGuardMiddleware()
    url = "https://finance.sina.com.cn/a/doc-ia1.shtml"
    whole = b"<html><body><p>text</p></body></html>"
    request, response = _article(url, whole)
    assert mw.process_response(request, response) is response
    request, response = _article(url, whole[:20])
    with pytest.raises(ResponseDataLossError) as cut:
        mw.process_response(request, response)
    assert failure_reason(cut.value) == "data_loss"
    other = "https://finance.sina.com.cn/a/doc-ib2.shtml"
    request, response = _article(other, whole, redirect_urls=[url])
    with pytest.raises(OtherPage) as moved:
        mw.process_response(request, response)
    assert failure_reason(moved.value) == "other_page"


def test_item_lines_name_the_doc_id_and_tracebacks_come_once_per_kind():
    formatter = ShortLogFormatter()
    spider = Spider("s")
    spider.crawler = get_crawler(Spider)  # where Scrapy's drop line finds its log level
    item = {"doc_id": "ia1", "body_html": "<p>" + "x" * 10_000 + "</p>"}
    line = formatter.item_error(item, OSError(28, "No space left"), None, spider)
    assert line["msg"] % line["args"] == "Error processing ia1: OSError(28, 'No space left')"
    dropped = formatter.dropped(item, ValueError("bad"), None, spider)
    assert dropped["msg"] % dropped["args"] == "Dropped ia1: bad"
    keep = OneTracebackPerKind()
    records = []
    for n in range(3):
        try:
            raise OSError(28, f"No space left ({n})")
        except OSError:
            record = logging.LogRecord("x", logging.ERROR, "f", 1, "m", (), sys.exc_info())
        keep.filter(record)
        records.append(record)
    assert [r.exc_info is not None for r in records] == [True, False, False]


def test_settings_problems_name_setting_value_and_what_is_valid(tmp_path):
    a_file = tmp_path / "f"
    a_file.write_text("x")
    found = list(
        problems(
            Settings(
                {
                    "ARCHIVE_DIR": str(a_file),
                    "SINACRAWL_LOCK": str(a_file / "run.lock"),
                    "MONGO_URI": "mongodb://u:hunter2@db.invalid:notaport/x",
                    "REDIS_URL": "http://127.0.0.1:6379",
                    "SINACRAWL_COVERAGE_MAX_MISSING": "1.5",
                    "SINACRAWL_PROGRESS": "loud",
                }
            )
        )
    )
    names = [line.split("=", 1)[0] for line in found]
    assert names == [
        "ARCHIVE_DIR",
        "MONGO_URI",
        "REDIS_URL",
        "SINACRAWL_LOCK",
        "SINACRAWL_PROGRESS",
        "SINACRAWL_COVERAGE_MAX_MISSING",
    ]
    assert all(": expected" in line or "file" in line for line in found), found
    assert "hunter2" not in "\n".join(found)
    assert list(problems(Settings({"SINACRAWL_LOCK": "off", "HEXO_TIMEZONE": "UTC"}))) == []
