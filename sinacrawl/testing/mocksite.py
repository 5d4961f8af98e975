"""A mock Sina site on 127.0.0.1, laid out as a ``SINACRAWL_UPSTREAM`` mirror.

``GET /<original host>/<original path and query>`` answers what Sina would: the roll API
(``/feed.mix.sina.com.cn/api/roll/get?pageid=…&lid=…&num=…&page=…[&callback=…]``), the
server-rendered roll listing (``/finance.sina.com.cn/roll/c/<cid>.shtml?page=N``), article
pages (generated ones and the real fixture pages under their real URLs), ``/<host>/robots.txt``
— and the faults a config asks for (see ``catalog.FAULT_KINDS``). Every request is logged as
one JSON line (time, method, path, status, bytes, fault, user agent, and how many requests
for that host were in flight when it arrived) so tests can assert exactly what a crawl
fetched, and how politely.

Run it::

    python -m sinacrawl.testing.mocksite --port 0 --config CONFIG.json --log requests.jsonl

It prints its base URL on the first line of stdout and serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gzip
import io
import json
import os
import select
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sinacrawl.parsing.urls import is_sina_host
from sinacrawl.testing import daywindows, stocknews
from sinacrawl.testing.catalog import Catalog, MockArticle, build_catalog
from sinacrawl.testing.pages import article_page, jsonp, php_json, roll_api, roll_html

ROLL_API_PATH = "/feed.mix.sina.com.cn/api/roll/get"
ROLL_HTML_PREFIX = "/finance.sina.com.cn/roll/c/"
OFFSITE_PREFIX = "/offsite/"
DEFAULT_HANG_SECONDS = 60.0
DEFAULT_OVERSIZE_BYTES = 12 * 1024 * 1024
DEFAULT_BOMB_BYTES = 256 * 1024 * 1024  # about 250 KB on the wire


class MockSite:
    """What every connection shares: the catalog, cached bodies, fault counters, the log."""

    def __init__(self, catalog: Catalog, log_path: str | Path | None = None) -> None:
        self.catalog = catalog
        self._lock = threading.Lock()
        self._hits: Counter[str] = Counter()
        self._inflight: Counter[str] = Counter()  # requests being answered, per Sina host
        self._log = open(log_path, "a", encoding="utf-8", buffering=1) if log_path else None  # noqa: SIM115 - lives as long as the server
        self.now = catalog.now()
        # Rendering is deterministic, so bodies are cached: a benchmark runs several crawls
        # over the same 2,000+ pages (about 250 MB at 80–150 KB a page; "page_cache" pages).
        cache_size = int(catalog.config.get("page_cache", 4096))
        self._page = functools.lru_cache(maxsize=cache_size)(self._render)
        self._oversize = functools.lru_cache(maxsize=2)(self._make_oversize)
        self._bomb = functools.lru_cache(maxsize=2)(self._make_bomb)
        self.html_listings = {
            str(spec["cid"]): spec for spec in catalog.config.get("html_listings", ())
        }

    def close(self) -> None:
        if self._log:
            self._log.close()
            self._log = None

    def enter(self, host: str) -> int:
        """A request for ``host`` starts; how many are in flight for it, this one included."""
        with self._lock:
            self._inflight[host] += 1
            return self._inflight[host]

    def leave(self, host: str) -> None:
        with self._lock:
            self._inflight[host] -= 1

    def log(
        self,
        method: str,
        path: str,
        status: int,
        size: int,
        fault: str | None,
        ua: str,
        inflight: int = 0,
    ) -> None:
        record = {
            "t": round(time.time(), 4),
            "method": method,
            "path": path,
            "status": status,
            "bytes": size,
            "fault": fault,
            "ua": ua,
            "inflight": inflight,
        }
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            if self._log:
                self._log.write(line)

    def hit(self, key: str) -> int:
        """How many times ``key`` was asked for before this request (for 'N times then OK')."""
        with self._lock:
            count = self._hits[key]
            self._hits[key] += 1
        return count

    def page_body(self, article: MockArticle) -> bytes:
        return self._page(article.ref)

    def _render(self, ref: str) -> bytes:
        article = self.catalog.by_ref[ref]
        if article.real_file:
            return Path(article.real_file).read_bytes()
        return article_page(article)

    def gzip_bomb(self, size: int) -> bytes:
        return self._bomb(size)

    @staticmethod
    def _make_bomb(size: int) -> bytes:
        """A small gzip body that inflates to ``size`` bytes of one HTML comment."""
        out = io.BytesIO()
        with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=0) as packed:
            packed.write(b"<!DOCTYPE html><html><body><!-- ")
            block = b"0" * (1024 * 1024)
            for _ in range(size // len(block)):
                packed.write(block)
            packed.write(b" --></body></html>")
        return out.getvalue()

    def oversize_body(self, size: int) -> bytes:
        return self._oversize(size)

    @staticmethod
    def _make_oversize(size: int) -> bytes:
        head = b"<!DOCTYPE html><html><head><meta charset='utf-8'><title>big</title></head><body>"
        tail = b"</body></html>"
        filler = b"<!-- " + b"x" * max(0, size - len(head) - len(tail) - 9) + b" -->"
        return head + filler + tail


class Handler(BaseHTTPRequestHandler):
    """Routes one request; the site object hangs off the server."""

    protocol_version = "HTTP/1.1"  # keep-alive: crawlers reuse connections
    server_version = "sina-mock/1.0"
    sys_version = ""
    server: MockServer

    def log_message(self, format: str, *args: Any) -> None:
        """The JSON request log replaces stderr chatter."""

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        site = self.server.site
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        self._fault: str | None = None
        self._status = 0
        self._sent = 0
        self._logged = False
        host = path.split("/", 2)[1] if path.count("/") >= 1 else ""
        self._inflight = site.enter(host)
        try:
            self.route(site, path, query)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            site.leave(host)
            self.log_request_line()

    def log_request_line(self) -> None:
        """Once per request: before the body goes out when there is one (so a client that
        has its answer finds it logged), else when the handler is done."""
        if not self._logged:
            self._logged = True
            self.server.site.log(
                self.command,
                self.path,
                self._status,
                self._sent,
                self._fault,
                self.headers.get("User-Agent", ""),
                self._inflight,
            )

    # --- routing ---------------------------------------------------------------------------

    def route(self, site: MockSite, path: str, query: dict[str, list[str]]) -> None:
        segments = path.split("/", 2)
        host = segments[1] if len(segments) > 1 else ""
        if path.startswith(OFFSITE_PREFIX):
            self.send_body(200, b"<html><body>off-site page</body></html>", "text/html")
        elif len(segments) == 3 and segments[2] == "robots.txt" and is_sina_host(host):
            self.robots(site, host)
        elif path == ROLL_API_PATH:
            self.roll_api(site, query)
        elif path.startswith(ROLL_HTML_PREFIX) and path.endswith(".shtml"):
            self.roll_html(site, path[len(ROLL_HTML_PREFIX) : -len(".shtml")], query)
        elif (stock_page := stocknews.route(site.catalog, path, query)) is not None:
            self.send_body(*stock_page, "text/html; charset=gb2312")
        elif (article := site.catalog.by_path.get(path)) is not None:
            self.article(site, article, query)
        else:
            self.send_body(404, b"<html><body>404 Not Found</body></html>", "text/html")

    def robots(self, site: MockSite, host: str) -> None:
        rule = site.catalog.config.get("robots", {}).get(host, {})
        status = int(rule.get("status", 200))
        if status != 200:
            self._fault = "robots"
            self.send_body(status, b"error", "text/plain")
            return
        body = rule.get("body", "User-agent: *\nAllow: /\n")
        self.send_body(200, body.encode("utf-8"), "text/plain; charset=utf-8")

    def roll_api(self, site: MockSite, query: dict[str, list[str]]) -> None:
        def param(name: str, default: int) -> int:
            try:
                return int(query.get(name, [default])[0])
            except ValueError:
                return default

        pageid, lid = param("pageid", 0), param("lid", 0)
        num = min(max(param("num", 20), 1), int(site.catalog.config.get("max_num", 50)))
        page = max(param("page", 1), 1)
        channel = site.catalog.channel_for(pageid, lid)
        articles = daywindows.listed(site.catalog, channel, query) if channel else []
        if channel and self.listing_fault(site, f"{channel.name}:{page}"):
            return
        payload = roll_api(
            articles,
            pageid=pageid,
            lid=lid,
            num=num,
            page=page,
            now=site.now + timedelta(minutes=1),
        )
        callback = query.get("callback", [""])[0]
        if callback:
            body = jsonp(callback, payload).encode("utf-8")
            self.send_body(200, body, "application/javascript; charset=utf-8")
        else:
            body = php_json(payload).encode("ascii")
            self.send_body(200, body, "application/json; charset=utf-8")

    def roll_html(self, site: MockSite, cid: str, query: dict[str, list[str]]) -> None:
        spec = site.html_listings.get(cid)
        if spec is None:
            self.send_body(404, b"<html><body>404 Not Found</body></html>", "text/html")
            return
        try:
            page = int(query.get("page", ["1"])[0])
        except ValueError:
            page = 1
        if self.listing_fault(site, f"{spec['channel']}:{page}"):
            return
        articles = daywindows.visible(site.catalog, site.catalog.channels[spec["channel"]].articles)
        body = roll_html(cid, articles, page=page, per_page=int(spec.get("per_page", 20)))
        self.send_body(200, body, "text/html; charset=utf-8")

    def article(self, site: MockSite, article: MockArticle, query: dict[str, list[str]]) -> None:
        fault = article.fault or {}
        kind = fault.get("kind")
        if kind:
            self._fault = kind
        if kind and self.fault(site, article.doc_id, fault, query, article):
            return
        body = site.page_body(article)
        if article.real_file:
            content_type = "text/html"  # the real pages carry their charset in their meta
        elif kind == "gbk_utf8_header" or article.encoding != "gbk":
            content_type = "text/html; charset=utf-8"
        else:
            content_type = "text/html; charset=GBK"
        self.send_body(200, body, content_type, last_modified=article.mtime.timestamp())

    # --- faults ----------------------------------------------------------------------------

    def listing_fault(self, site: MockSite, key: str) -> bool:
        """Answers listing page ``key`` (``channel:page``) with its fault, if it has one."""
        fault = site.catalog.config.get("listing_faults", {}).get(key)
        if not fault:
            return False
        self._fault = fault["kind"]
        if fault["kind"] == "malformed":  # cut off mid-way, as a broken proxy would
            body = b'{"result":{"status":{"code":0,"msg":"succ"},"total":50,"data":[{"docid":'
            self.send_body(200, body, "application/json; charset=utf-8")
            return True
        if fault["kind"] == "api_error":
            status = {"code": int(fault.get("code", 1)), "msg": fault.get("msg", "fail")}
            body = php_json({"result": {"status": status, "data": []}}).encode("ascii")
            self.send_body(200, body, "application/json; charset=utf-8")
            return True
        return self.fault(site, f"listing:{key}", fault, {})

    def fault(
        self,
        site: MockSite,
        key: str,
        fault: dict[str, Any],
        query: dict,
        article: MockArticle | None = None,
    ) -> bool:
        """Answers with the fault; False when this request should get the page after all.

        ``key`` counts the hits of 'N times, then OK' faults; redirects and bodies need the
        ``article`` (listings only use the kinds that do not).
        """
        kind = fault["kind"]
        times = int(fault.get("times", 1))
        if kind == "status":
            status = int(fault.get("status", 404))
            self.send_body(status, f"<html><body>{status}</body></html>".encode(), "text/html")
        elif kind in ("flaky", "throttle"):
            if site.hit(key) >= times:
                self._fault = f"{kind}-recovered"
                return False
            if kind == "flaky":
                status = int(fault.get("status", 503))
                self.send_body(status, b"<html><body>busy</body></html>", "text/html")
            else:
                retry = str(fault.get("retry_after", 1))
                self.send_body(429, b"slow down", "text/plain", extra={"Retry-After": retry})
        elif article is None:
            return False
        elif kind == "redirect_loop":
            if fault.get("mode") == "chain":  # ever new URLs: only a redirect limit stops it
                step = int(query.get("loop", ["0"])[0] or 0) + 1
                target = f"{article.url}?loop={step}"
            else:  # A → B → A: a dupe filter or a loop check stops it
                target = article.url if "loop" in query else f"{article.url}?loop=1"
            self.send_body(302, b"", "text/html", extra={"Location": target})
        elif kind == "offsite":
            host, port = self.server.server_address[:2]
            default = f"http://{host}:{port}{OFFSITE_PREFIX}{article.doc_id}.html"
            self.send_body(
                302, b"", "text/html", extra={"Location": fault.get("location", default)}
            )
        elif kind == "hang":
            self.hang(float(fault.get("seconds", DEFAULT_HANG_SECONDS)))
        elif kind == "reset":
            self.reset()
        elif kind == "short_body":
            body = site.page_body(article)
            self._status = 200
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body) + int(fault.get("missing", 4096))))
            self.end_headers()
            half = body[: len(body) // 2]
            self.wfile.write(half)
            self._sent = len(half)
            self.close_connection = True
        elif kind == "oversize":
            self.oversize(site, int(fault.get("bytes", DEFAULT_OVERSIZE_BYTES)), fault)
        elif kind == "gzip_bomb":
            body = site.gzip_bomb(int(fault.get("bytes", DEFAULT_BOMB_BYTES)))
            extra = {"Content-Encoding": "gzip"}
            self.send_body(200, body, "text/html; charset=utf-8", extra=extra)
        else:  # gbk_utf8_header: the page itself, served with a lying header
            return False
        return True

    def hang(self, seconds: float) -> None:
        """Say nothing until the client gives up (closes) or ``seconds`` pass."""
        self._status = 0
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.5))
            if readable:
                with contextlib.suppress(OSError):
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        break  # the client closed its end
        self.close_connection = True

    def reset(self) -> None:
        """Abort the connection: SO_LINGER 0 makes close() send a TCP RST."""
        self._status = 0
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def oversize(self, site: MockSite, size: int, fault: dict[str, Any]) -> None:
        body = site.oversize_body(size)
        self._status = 200
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        if fault.get("chunked"):  # no Content-Length: only counting the bytes can stop it
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            step = 256 * 1024
            for start in range(0, len(body), step):
                chunk = body[start : start + step]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self._sent += len(chunk)
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self._sent = len(body)

    # --- plumbing --------------------------------------------------------------------------

    def send_body(
        self,
        status: int,
        body: bytes,
        content_type: str,
        *,
        extra: dict[str, str] | None = None,
        last_modified: float | None = None,
    ) -> None:
        self._status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if last_modified is not None:
            self.send_header("Last-Modified", self.date_time_string(last_modified))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self._sent = len(body)
        self.log_request_line()
        if self.command != "HEAD":
            self.wfile.write(body)


class MockServer(ThreadingHTTPServer):
    daemon_threads = True  # a hanging handler never keeps the process alive
    request_queue_size = 512
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], site: MockSite) -> None:
        self.site = site
        super().__init__(address, Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up mid-answer are expected here; anything else is reported."""
        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


def make_server(
    config: dict[str, Any] | None = None,
    *,
    port: int = 0,
    log_path: str | Path | None = None,
    host: str = "127.0.0.1",
) -> MockServer:
    """A bound (not yet serving) mock server for ``config``."""
    return MockServer((host, port), MockSite(build_catalog(config), log_path))


@contextlib.contextmanager
def serving(
    config: dict[str, Any] | None = None, *, log_path: str | Path | None = None
) -> Iterator[MockServer]:
    """The mock site served from a thread of this process, for quick tests and tools."""
    server = make_server(config, log_path=log_path)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        server.site.close()
        thread.join(timeout=5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback only)")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--config", type=Path, help="JSON config (see catalog.DEFAULT_CONFIG)")
    parser.add_argument(
        "--log", type=Path, help="request log, one JSON object a line (default: a temp file)"
    )
    parser.add_argument("--manifest", type=Path, help="write the site's article list here")
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the mock site only listens on loopback addresses")
    config = json.loads(args.config.read_text(encoding="utf-8")) if args.config else None
    if args.log is None:
        handle, name = tempfile.mkstemp(prefix="sina-mock-requests-", suffix=".jsonl")
        os.close(handle)
        args.log = Path(name)
    print(f"request log: {args.log}", file=sys.stderr, flush=True)
    server = make_server(config, port=args.port, log_path=args.log, host=args.host)
    if args.manifest:
        manifest = server.site.catalog.manifest()
        args.manifest.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), "utf-8")

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(server.url, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.site.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
