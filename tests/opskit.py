"""Helpers for the operations tests: a tiny local site, a tiny spider, real `scrapy crawl` runs.

The spider below is synthetic (not Sina's): it lets the exit-status tests make a run fail in
one precise way (pages fail, the spider raises, a store raises, fields go missing) without
depending on the real spiders, extractor and pipelines, which the crash tests cover.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

# Synthetic spider module, written into a temporary folder and put on PYTHONPATH.
SPIDER_MODULE = '''
"""Synthetic spider for sinacrawl's operations tests (not Sina's markup)."""
import scrapy
from scrapy import signals
from sinacrawl.exceptions import DropArticle


class MiniAccounting:
    """Counts sinacrawl/articles/* the way the real accounting extension does."""

    def __init__(self, stats):
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler):
        ext = cls(crawler.stats)
        crawler.signals.connect(ext.stored, signal=signals.item_scraped)
        crawler.signals.connect(ext.dropped, signal=signals.item_dropped)
        return ext

    def stored(self, item, **kw):
        self.stats.inc_value("sinacrawl/articles/stored")

    def dropped(self, item, exception, **kw):
        reason = getattr(exception, "reason", "other")
        self.stats.inc_value(f"sinacrawl/articles/dropped/{reason}")


class BrokenStore:
    """A store that fails on every item when the spider runs with mode=storage."""

    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_item(self, item):
        mode = self.crawler.spider.mode
        if mode == "storage":
            raise OSError("disk full")
        if mode == "invalid":
            raise DropArticle("invalid", "no body")
        return item


class Ops(scrapy.Spider):
    name = "ops"

    def __init__(self, base, n="4", mode="ok", article_path="a", **kwargs):
        super().__init__(**kwargs)
        self.base, self.n, self.mode = base, int(n), mode
        self.article_path = article_path

    async def start(self):
        if self.mode == "listing":
            # n listing pages of 10 articles each, the shape of a roll API crawl.
            for page in range(self.n):
                yield scrapy.Request(
                    f"{self.base}/list/{page}", callback=self.parse_listing,
                    meta={"listing_page": page, "channel": "china"},
                    dont_filter=True,  # as the finance spider's listings
                )
            return
        path = {"fail": "fail", "slow": "slow"}.get(self.mode, "a")
        for i in range(self.n):
            self.crawler.stats.inc_value("sinacrawl/articles/scheduled")
            yield scrapy.Request(
                f"{self.base}/{path}/{i}", callback=self.parse, errback=self.failed,
                meta={"channel": "china", "i": i},
            )

    def parse_listing(self, response):
        page = response.meta["listing_page"]
        for i in range(page * 10, page * 10 + 10):
            self.crawler.stats.inc_value("sinacrawl/articles/scheduled")
            yield scrapy.Request(
                f"{self.base}/{self.article_path}/{i}", callback=self.parse,
                errback=self.failed, meta={"channel": "china", "i": i, "doc_id": f"doc{i}"},
            )

    def parse(self, response):
        if self.mode == "raise":
            raise ValueError("the page template changed")
        i = response.meta["i"]
        yield {
            "doc_id": f"doc{i}",
            "published_at": f"2026-11-27T{10 + i % 10:02d}:00:00+08:00",
            "source": None if self.mode == "nosource" else "新京报",
            "body_text": "正文",
        }

    def failed(self, failure):
        response = getattr(failure.value, "response", None)
        reason = f"http_{response.status}" if response is not None else "network"
        self.crawler.stats.inc_value(f"sinacrawl/articles/failed/{reason}")
'''

# Only the operations components and the synthetic ones: the test is about exit statuses.
OPS_SETTINGS = {
    "SPIDER_MODULES": "opsspiders",
    "EXTENSIONS": json.dumps(
        {
            "scrapy.extensions.logstats.LogStats": None,
            "opsspiders.MiniAccounting": 100,
            "sinacrawl.extensions.progress.Progress": 500,
            "sinacrawl.extensions.watchdog.CoverageWatchdog": 800,
            "sinacrawl.extensions.summary.RunSummary": 900,
        }
    ),
    "ITEM_PIPELINES": '{"opsspiders.BrokenStore": 100}',
    "SPIDER_MIDDLEWARES": "{}",
    "ROBOTSTXT_OBEY": "False",
    # The synthetic spider fetches the test server at 127.0.0.1 directly, not a Sina host.
    "SINACRAWL_URL_POLICY": "False",
    "RETRY_ENABLED": "False",
    "TELNETCONSOLE_ENABLED": "False",
    "LOG_LEVEL": "INFO",
}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.log.append(self.path)
        kind = self.path.strip("/").split("/")[0]
        if kind == "slow":
            time.sleep(0.5)
        status = 500 if kind == "fail" else 200
        body = b"<html><body><h1>synthetic</h1><p>x</p></body></html>"
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.log: list[str] = []
        """Every path requested, in order (the tests count fetches per page)."""
        self.lock = threading.Lock()
        self.base = f"http://127.0.0.1:{self.server_address[1]}"


@contextmanager
def in_thread(server: ThreadingHTTPServer) -> Iterator[None]:
    """Serve ``server`` from a daemon thread while the block runs; always shut down."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def local_site() -> Iterator[_Server]:
    """A tiny HTTP site on a free loopback port (``.base``, ``.log``); always shut down."""
    server = _Server()
    with in_thread(server):
        yield server


def write_spider_module(folder: Path) -> Path:
    package = folder / "opsspiders"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(SPIDER_MODULE, encoding="utf-8")
    return folder


def scrapy_env(*extra_paths: Path, **env: str) -> dict[str, str]:
    """The environment of a child `scrapy` process using sinacrawl's settings."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SINACRAWL_", "REDIS_"))}
    base.pop("ARCHIVE_DIR", None)
    base.pop("MONGO_URI", None)
    base["SCRAPY_SETTINGS_MODULE"] = "sinacrawl.settings"
    base["PYTHONPATH"] = os.pathsep.join([str(REPO), *(str(p) for p in extra_paths)])
    base.update(env)
    return base


def settings_args(settings: dict[str, str]) -> list[str]:
    args: list[str] = []
    for name, value in settings.items():
        args += ["-s", f"{name}={value}"]
    return args


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    summary: dict | None


def ops_command(
    tmp: Path, base: str, mode: str, n: int, summary: Path, **settings: str
) -> list[str]:
    """The command line of `scrapy crawl ops` with the operations-only settings."""
    write_spider_module(tmp)
    all_settings = {
        **OPS_SETTINGS,
        "ARCHIVE_DIR": str(tmp / "archive"),
        "SINACRAWL_SUMMARY": str(summary),
        **settings,
    }
    command = [PYTHON, "-m", "scrapy", "crawl", "ops", "-a", f"base={base}", "-a", f"n={n}"]
    return [*command, "-a", f"mode={mode}", *settings_args(all_settings)]


def crawl_ops(
    tmp: Path, base: str, mode: str = "ok", n: int = 4, timeout: float = 60, **settings: str
) -> Run:
    """Run `scrapy crawl ops` in a real process; return its status, output and summary."""
    summary = tmp / f"summary-{mode}.json"
    summary.unlink(missing_ok=True)
    done = subprocess.run(
        ops_command(tmp, base, mode, n, summary, **settings),
        cwd=tmp,
        env=scrapy_env(tmp),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    data = json.loads(summary.read_text(encoding="utf-8")) if summary.exists() else None
    return Run(done.returncode, done.stdout, done.stderr, data)
