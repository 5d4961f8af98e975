"""The downloader components: mirror rewrite, robots-on-error, Retry-After, redirect guard.

Pure helpers are tested directly; the components themselves in one real Scrapy crawl (a child
process) against a small scripted HTTP server on 127.0.0.1 laid out as a mirror.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from scrapy.exceptions import DownloadCancelledError, DownloadTimeoutError, IgnoreRequest
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError

from sinacrawl.extensions.accounting import failure_reason
from sinacrawl.middlewares import (
    OffsiteRedirect,
    RedirectLoop,
    UpstreamError,
    mirror_url,
    parse_upstream,
    real_url,
    retry_after_seconds,
)
from tests.conftest import REPO

# --- pure helpers ---


@pytest.mark.parametrize(
    "value", ["127.0.0.1:8080", "ftp://127.0.0.1/", "http://", "http://h:99999", "http://h/?q=1"]
)
def test_bad_upstream_values_are_refused(value):
    with pytest.raises(UpstreamError, match="SINACRAWL_UPSTREAM"):
        parse_upstream(value)


def test_upstream_values():
    assert parse_upstream(None) is None and parse_upstream("  ") is None
    assert parse_upstream("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    assert parse_upstream("https://mirror.local/sina/") == "https://mirror.local/sina"


@pytest.mark.parametrize(
    "url",
    [
        "https://finance.sina.com.cn/china/gncj/2021-11-22/doc-ikyamrmz6784021.shtml",
        "https://feed.mix.sina.com.cn/api/roll/get?pageid=155&lid=1686&k=&num=50&page=2",
        "https://finance.sina.com.cn/robots.txt",
        "https://finance.sina.cn/",
    ],
)
def test_mirror_url_round_trip(url):
    mirrored = mirror_url(url, "http://127.0.0.1:9")
    assert mirrored.startswith("http://127.0.0.1:9/finance.sina.c") or "/feed.mix" in mirrored
    assert real_url(mirrored, "http://127.0.0.1:9") == url


def test_real_url_refuses_what_is_not_a_mirrored_sina_url():
    assert real_url("http://127.0.0.1:9/offsite/x.html", "http://127.0.0.1:9") is None
    assert real_url("http://other:9/finance.sina.com.cn/x", "http://127.0.0.1:9") is None


def test_retry_after_values():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert retry_after_seconds(b" 120 ") == 120.0
    assert retry_after_seconds("Thu, 01 Jan 2026 00:01:00 GMT", now) == 60.0
    assert retry_after_seconds("Wed, 31 Dec 2025 00:00:00 GMT", now) == 0.0  # in the past
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("-5") is None
    assert retry_after_seconds("later") is None


def test_failure_reasons():
    response = Response("https://finance.sina.com.cn/x", status=503)
    assert failure_reason(HttpError(response, "x")) == "http_503"
    assert failure_reason(OffsiteRedirect("x")) == "offsite_redirect"
    assert failure_reason(RedirectLoop("x")) == "redirect_loop"
    assert failure_reason(IgnoreRequest("max redirections reached")) == "too_many_redirects"
    assert failure_reason(DownloadTimeoutError("t")) == "timeout"
    assert failure_reason(DownloadCancelledError("larger than download max size")) == "too_large"
    assert failure_reason(IgnoreRequest("something else")) == "ignored"


# --- the components in a real crawl ---


class Mirror(ThreadingHTTPServer):
    """A scripted mirror: ``routes[path] = [(status, headers, body), …]`` answered in turn
    (the last answer repeats); ``"RESET"`` closes the connection with a TCP reset."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), MirrorHandler)
        self.routes: dict[str, list] = {}
        self.log: list[tuple[float, str, str]] = []  # (time, path, user agent)
        self.lock = threading.Lock()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def hits(self, path: str) -> list[float]:
        return [t for t, p, _ in self.log if p == path]


class MirrorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        server: Mirror = self.server  # type: ignore[assignment]
        with server.lock:
            server.log.append((time.monotonic(), self.path, self.headers.get("User-Agent", "")))
            answers = server.routes.get(self.path)
            if answers is None:
                answer = (404, {}, b"not here")
            else:
                answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if answer == "RESET":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if answer[0] == "CHUNKED":  # a streamed body of answer[1] bytes, no Content-Length
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"y" * 1000
            try:
                for _ in range(answer[1] // len(chunk)):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")
            except OSError:  # the client gave up, as it should
                pass
            self.close_connection = True
            return
        status, headers, body = answer
        self.send_response(status)
        for name, value in {"Content-Type": "text/html", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def mirror():
    server = Mirror()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


# A spider that fetches the given URLs and writes what came back; project settings, so the
# components under test are the ones a real crawl uses.
PROBE = r"""
import json, sys
import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy.utils.project import get_project_settings
from sinacrawl.extensions.accounting import failure_reason

urls, out, upstream = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
results = {}

class Probe(scrapy.Spider):
    name = "probe"
    allowed_domains = ["sina.com.cn", "sina.cn"]

    async def start(self):
        for url in urls:
            yield scrapy.Request(url, callback=self.ok, errback=self.bad,
                                 meta={"asked": url}, dont_filter=True)

    def ok(self, response):
        results[response.meta["asked"]] = {
            "url": response.url, "status": response.status, "body": response.text[:100]}

    def bad(self, failure):
        results[failure.request.meta["asked"]] = {"failed": failure_reason(failure.value)}

settings = get_project_settings()
for name, value in {
    "SINACRAWL_UPSTREAM": upstream, "ITEM_PIPELINES": {}, "SPIDER_MIDDLEWARES": {},
    "SINACRAWL_LOCK": "off", "SINACRAWL_SUMMARY": "", "AUTOTHROTTLE_ENABLED": False,
    "LOG_LEVEL": "INFO", "DOWNLOAD_TIMEOUT": 5, "RETRY_AFTER_MAX": 5, "DOWNLOAD_MAXSIZE": 5000,
    "EXTENSIONS": {"sinacrawl.extensions.summary.RunSummary": None,
                   "sinacrawl.extensions.watchdog.CoverageWatchdog": None},
}.items():
    settings.set(name, value, priority="cmdline")
process = CrawlerProcess(settings)
crawler = process.create_crawler(Probe)
process.crawl(crawler)
process.start()
stats = {k: v for k, v in crawler.stats.get_stats().items() if isinstance(v, (int, float))}
json.dump({"results": results, "stats": stats}, open(out, "w"))
"""


def run_probe(tmp_path, mirror: Mirror, urls: list[str]) -> tuple[dict, dict, str]:
    script = tmp_path / "probe.py"
    script.write_text(PROBE, encoding="utf-8")
    out = tmp_path / "out.json"
    proc = subprocess.run(
        [sys.executable, str(script), json.dumps(urls), str(out), mirror.base],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    return data["results"], data["stats"], proc.stderr


OK = (200, {}, b"<html><body>page</body></html>")
ROBOTS_OK = [(200, {"Content-Type": "text/plain"}, b"User-agent: *\nDisallow: /private/\n")]


@pytest.mark.slow
def test_components_in_a_real_crawl(tmp_path, mirror):
    f = "/finance.sina.com.cn"
    mirror.routes.update(
        {
            f + "/robots.txt": ROBOTS_OK,
            f + "/a/doc-ia.shtml?x=1": [OK],
            f + "/private/doc-ib.shtml": [OK],
            # a mirror-relative redirect is followed under the real URL
            f + "/moved/doc-ic.shtml": [(301, {"Location": f + "/new/doc-ic.shtml"}, b"")],
            f + "/new/doc-ic.shtml": [OK],
            # Retry-After honoured: 429 asking for 1 s, then the page
            f + "/slow/doc-id.shtml": [(429, {"Retry-After": "1"}, b"wait"), OK],
            # Retry-After over RETRY_AFTER_MAX (5 s): not retried
            f + "/later/doc-ie.shtml": [(503, {"Retry-After": "3600"}, b"busy")],
            f + "/off/doc-if.shtml": [(302, {"Location": "http://evil.example.com/x"}, b"")],
            f + "/loop/doc-ig.shtml": [(302, {"Location": "/loop/doc-ig2.shtml"}, b"")],
            f + "/loop/doc-ig2.shtml": [
                (302, {"Location": "https://finance.sina.com.cn/loop/doc-ig.shtml"}, b"")
            ],
            # robots.txt answering 503 (after retries): nothing on that host is fetched
            "/down.sina.com.cn/robots.txt": [(503, {}, b"down")],
            "/down.sina.com.cn/doc-ih.shtml": [OK],
            # robots.txt whose connection is reset: the same
            "/reset.sina.com.cn/robots.txt": ["RESET"],
            "/reset.sina.com.cn/doc-ii.shtml": [OK],
            f + "/big/doc-ik.shtml": [(200, {}, b"x" * 6000)],
            f + "/stream/doc-il.shtml": [("CHUNKED", 50_000)],
            # robots.txt missing (404): everything allowed
            "/gone.sina.com.cn/doc-ij.shtml": [OK],
        }
    )
    for i in range(8):  # ever-new URLs: only the redirect limit (5) stops them
        mirror.routes[f"{f}/chain/{i}.shtml"] = [(302, {"Location": f"/chain/{i + 1}.shtml"}, b"")]
    real = "https://finance.sina.com.cn"
    urls = {
        "plain": real + "/a/doc-ia.shtml?x=1",
        "private": real + "/private/doc-ib.shtml",
        "moved": real + "/moved/doc-ic.shtml",
        "slow": real + "/slow/doc-id.shtml",
        "later": real + "/later/doc-ie.shtml",
        "offsite": real + "/off/doc-if.shtml",
        "loop": real + "/loop/doc-ig.shtml",
        "chain": real + "/chain/0.shtml",
        "down": "https://down.sina.com.cn/doc-ih.shtml",
        "reset": "https://reset.sina.com.cn/doc-ii.shtml",
        "gone": "https://gone.sina.com.cn/doc-ij.shtml",
        "big": real + "/big/doc-ik.shtml",
        "stream": real + "/stream/doc-il.shtml",
    }
    results, stats, log = run_probe(tmp_path, mirror, list(urls.values()))
    got = {name: results[url] for name, url in urls.items()}

    # the mirror saw /<host>/<path and query>; the spider saw the real URL
    assert got["plain"] == {"url": urls["plain"], "status": 200, "body": OK[2].decode()}
    assert mirror.hits(f + "/a/doc-ia.shtml?x=1")
    assert all(ua.startswith("sinacrawl/") for _, _, ua in mirror.log)
    assert got["moved"]["url"] == real + "/new/doc-ic.shtml"
    assert "127.0.0.1" not in json.dumps(results)
    # logs name the real URL too, even Scrapy's own download warnings
    assert got["big"] == {"failed": "too_large"}
    assert got["stream"] == {"failed": "too_large"}  # Scrapy says only "cancelled" here
    assert "larger than download max size" in log
    mirror_lines = [line for line in log.splitlines() if mirror.base in line]
    assert len(mirror_lines) == 1 and "Sina requests go to the mirror" in mirror_lines[0]

    # robots.txt: obeyed; 5xx and network errors disallow the host; 404 allows it
    assert got["private"] == {"failed": "robots"}
    assert not mirror.hits(f + "/private/doc-ib.shtml")
    unreachable = {"failed": "robots_unreachable"}  # not "Forbidden by robots.txt"
    assert got["down"] == unreachable and got["reset"] == unreachable
    assert not mirror.hits("/down.sina.com.cn/doc-ih.shtml")
    assert not mirror.hits("/reset.sina.com.cn/doc-ii.shtml")
    assert stats["sinacrawl/robots/unreachable"] == 2
    # the reset robots.txt: one line that says what happened, no traceback
    assert "robots.txt of reset.sina.com.cn is unreachable (" in log
    assert "Error downloading" not in log
    assert "Traceback" not in log
    assert got["gone"]["status"] == 200

    # Retry-After: the retry came at least 1 s after the 429
    assert got["slow"]["status"] == 200
    first, second = mirror.hits(f + "/slow/doc-id.shtml")
    assert second - first >= 0.95
    assert stats["sinacrawl/retry_after/honoured"] == 1
    assert got["later"] == {"failed": "http_503"}
    assert len(mirror.hits(f + "/later/doc-ie.shtml")) == 1
    assert stats["sinacrawl/retry_after/too_long"] == 1

    # redirects Scrapy would drop silently are failures with a reason, counted and logged
    assert got["offsite"] == {"failed": "offsite_redirect"}
    assert got["loop"] == {"failed": "redirect_loop"}
    assert got["chain"] == {"failed": "too_many_redirects"}
    assert len(mirror.hits(f"{f}/chain/5.shtml")) == 1 and not mirror.hits(f"{f}/chain/6.shtml")
    assert stats["sinacrawl/redirects/offsite"] == 1
    assert stats["sinacrawl/redirects/loop"] == 1
    assert stats["sinacrawl/redirects/too_many"] == 1
    assert "Off-site redirect from https://finance.sina.com.cn/off/doc-if.shtml" in log
    assert "Redirect loop" in log


def test_meta_refresh_followed_and_pages_without_one_not_decoded_for_it():
    from scrapy import Request, Spider
    from scrapy.http import HtmlResponse
    from scrapy.utils.test import get_crawler

    from sinacrawl.middlewares import ByteScanMetaRefreshMiddleware

    mw = ByteScanMetaRefreshMiddleware.from_crawler(get_crawler(Spider))
    request = Request("https://finance.sina.com.cn/roll/2026-01-05/doc-iabc.shtml")
    head = '<html><head><meta charset="gbk"><title>新闻</title>'

    def page(extra: str, *, encoding: str = "gbk") -> HtmlResponse:
        body = (head + extra + "</head><body>" + "<p>正文</p>" * 5000).encode(encoding)
        return HtmlResponse(request.url, body=body, request=request)

    plain = page("")
    assert mw.process_response(request, plain) is plain
    assert plain._cached_ubody is None  # never decoded
    # a refresh in a GBK page, in any case, is followed as Scrapy's middleware would
    moved = mw.process_response(
        request, page('<META HTTP-EQUIV="Refresh" content="0; url=/roll/doc-idef.shtml">')
    )
    assert isinstance(moved, Request)
    assert moved.url == "https://finance.sina.com.cn/roll/doc-idef.shtml"
    # an auto-reload of the page itself (longer than METAREFRESH_MAXDELAY) is not
    slow = page('<meta http-equiv="refresh" content="180">')
    assert mw.process_response(request, slow) is slow
    # UTF-16 spells "refresh" with NULs: left to Scrapy's full check
    wide = HtmlResponse(
        request.url,
        body=('<meta http-equiv="refresh" content="0; url=/x.shtml">').encode("utf-16"),
        request=request,
    )
    assert isinstance(mw.process_response(request, wide), Request)
