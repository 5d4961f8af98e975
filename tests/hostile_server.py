"""A hostile Sina mirror for the hardening tests: real HTTP on 127.0.0.1, answers as scripted.

Laid out like ``SINACRAWL_UPSTREAM`` expects (``/<host>/<path>``). Each route answers with
the bytes a test gives it, or writes raw bytes to the socket (lying headers); every other
path is a 404, so robots.txt allows everything. Every request line is recorded raw, as the
crawler sent it, so a test can assert what was never asked for. Payload URLs in tests name
only 127.0.0.x addresses and ``.invalid`` hosts.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.conftest import FIXTURES
from tests.opskit import in_thread

MAX_REQUESTS = 2000  # a crawl that goes astray is cut off here, not left running
ROLL_PATH = "/feed.mix.sina.com.cn/api/roll/get"
HTML_LISTING_PATH = "/finance.sina.com.cn/roll/c/56592.shtml"

# Real pages, served at their real paths (a page's canonical URL names its document).
ARTICLES = {
    "p05": (
        "p05_2018_finance_roll.html",
        "https://finance.sina.com.cn/roll/2018-12-28/doc-ihqfskcn2160999.shtml",
    ),
    "p11": (
        "p11_2026_finance_usstock.html",
        "https://finance.sina.com.cn/stock/usstock/c/2026-09-28/doc-initmeau2811260.shtml",
    ),
    "p04": (
        "p04_2016_finance_forex.html",
        "https://finance.sina.com.cn/money/forex/forexroll/2016-05-25/doc-ifxsktkp9337164.shtml",
    ),
}


def article_page(key: str) -> tuple[str, bytes]:
    """(real URL, bytes) of one of the real article pages."""
    name, url = ARTICLES[key]
    return url, (FIXTURES / "sina-pages" / name).read_bytes()


def mirror_path(url: str) -> str:
    """The mirror path of a real Sina URL: ``https://host/p`` → ``/host/p``."""
    return "/" + url.split("://", 1)[1]


def roll_json(urls: list[str], total: Any = None, extra: str = "") -> bytes:
    """A roll API body listing ``urls``; ``extra`` is spliced raw into the data list."""
    data = [
        json.dumps({"url": u, "title": f"t{i}", "ctime": "1790000000"}) for i, u in enumerate(urls)
    ]
    if extra:
        data.append(extra)
    total_text = json.dumps(len(urls)) if total is None else str(total)
    head = '{"result": {"status": {"code": 0}, "total": ' + total_text
    return (head + ', "data": [' + ", ".join(data) + "]}}").encode()


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] | None = None
    raw: bytes | None = None
    """Written to the socket as is (status line and headers included), then closed."""


class HostileSite:
    """Routes by path (query ignored); records every raw request path."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        self.url = ""
        self._lock = threading.Lock()

    def add(self, path: str, body: bytes = b"", **kwargs: Any) -> None:
        self.routes[path] = Route(body=body, **kwargs)

    def add_article(self, key: str, body: bytes | None = None) -> str:
        """Serve a real article page (or ``body`` in its place) at its path; its URL."""
        url, page = article_page(key)
        self.add(mirror_path(url), page if body is None else body)
        return url

    def requested(self, path: str) -> bool:
        return any(r.split("?", 1)[0] == path for r in self.requests)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                with site._lock:
                    site.requests.append(self.path)
                    over = len(site.requests) > MAX_REQUESTS
                route = site.routes.get(self.path.split("?", 1)[0])
                if over or route is None:
                    route = Route(status=404, body=b"not here", content_type="text/plain")
                if route.raw is not None:
                    self.wfile.write(route.raw)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(route.body)))
                for name, value in (route.headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(route.body)

        return Handler


@contextlib.contextmanager
def serving(site: HostileSite) -> Iterator[HostileSite]:
    """Serve ``site`` on 127.0.0.1 (a free port) in a thread; stopped on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), site.handler())
    server.daemon_threads = True
    site.url = f"http://127.0.0.1:{server.server_address[1]}"
    with in_thread(server):
        yield site


FAST = {
    "AUTOTHROTTLE_ENABLED": "False",
    "DOWNLOAD_DELAY": "0",
    "EXTRACT_PROCESSES": "0",
    "RETRY_TIMES": "0",
    "DOWNLOAD_TIMEOUT": "10",
    "CLOSESPIDER_TIMEOUT": "90",
    "SINACRAWL_LOCK": "off",
    "SINACRAWL_PROGRESS": "off",
}


def crawl(site: HostileSite, workdir: Path, *, channels: str = "china", **kwargs: Any):
    """``scrapy crawl finance`` against the hostile mirror (one listing page per source)."""
    from sinacrawl.testing.process import run_crawl

    settings = {**FAST, **kwargs.pop("settings", {})}
    args = {"channels": channels, "max_pages": 2, **kwargs.pop("args", {})}
    return run_crawl(
        "finance", upstream=site.url, workdir=workdir, args=args, settings=settings, **kwargs
    )
