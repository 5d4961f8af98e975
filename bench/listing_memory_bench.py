"""Peak memory of a crawl whose listings hold 300,000 entries (issue 14: stays under 400 MB).

    .venv/bin/python bench/listing_memory_bench.py [--pages 3] [--entries 100000]
                                                   [--limit 1000] [--budget-mb 400]
                                                   [--seconds 300]

A hostile mirror on 127.0.0.1 (a thread in this process) serves the roll API: ``--pages``
pages of ``--entries`` entries each (short ``//sina.cn/doc-…`` URLs, so a page stays under
DOWNLOAD_MAXSIZE), every article a quick 404. ``scrapy crawl finance`` runs against it in a
child process with ``LISTING_MAX_ENTRIES=--limit``; its peak RSS is the kernel's high-water
mark (``wait4``). Printed: entries listed, article requests made, the over-limit count, peak
RSS and its ratio to the budget. Exit status 1 when the budget is exceeded.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sinacrawl.testing.process import child_env, parse_stats  # noqa: E402


def roll_page(page: int, entries: int, total: int) -> bytes:
    data = ",".join(f'{{"url":"//sina.cn/doc-i{page}x{n}.shtml"}}' for n in range(entries))
    return f'{{"result":{{"status":{{"code":0}},"total":{total},"data":[{data}]}}}}'.encode()


def serve(pages: int, entries: int) -> tuple[ThreadingHTTPServer, dict[str, int]]:
    bodies = {p: roll_page(p, entries, pages * entries) for p in range(1, pages + 1)}
    counts = {"listing": 0, "article": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            body, status = b"not here", 404
            if parts.path == "/feed.mix.sina.com.cn/api/roll/get":
                page = int(parse_qs(parts.query).get("page", ["1"])[0])
                body, status = bodies.get(page, roll_page(page, 0, 0)), 200
                counts["listing"] += 1
            elif "/doc-" in parts.path:
                counts["article"] += 1
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if status == 200 else "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=3)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--budget-mb", type=float, default=400.0)
    parser.add_argument(
        "--seconds", type=int, default=300, help="CLOSESPIDER_TIMEOUT: an uncapped crawl is long"
    )
    args = parser.parse_args()

    server, counts = serve(args.pages, args.entries)
    upstream = f"http://127.0.0.1:{server.server_address[1]}"
    work = Path(tempfile.mkdtemp(prefix="listing-memory-"))
    settings = {
        "SINACRAWL_UPSTREAM": upstream,
        "ARCHIVE_DIR": str(work / "archive"),
        "LISTING_MAX_ENTRIES": str(args.limit),
        "CLOSESPIDER_TIMEOUT": str(args.seconds),
        "AUTOTHROTTLE_ENABLED": "False",
        "DOWNLOAD_DELAY": "0",
        "CONCURRENT_REQUESTS_PER_DOMAIN": "16",
        "RETRY_TIMES": "0",
        "EXTRACT_PROCESSES": "0",
        "SINACRAWL_PROGRESS": "off",
        "SINACRAWL_LOCK": "off",
        "STATS_DUMP": "True",
        "LOG_LEVEL": "INFO",
    }
    command = [sys.executable, "-m", "scrapy", "crawl", "finance", "-a", "channels=china"]
    command += ["-a", f"max_pages={args.pages}"]
    for name, value in settings.items():
        command += ["-s", f"{name}={value}"]
    started = time.monotonic()
    with (work / "crawl.log").open("wb") as log:
        child = subprocess.Popen(
            command, cwd=REPO, env=child_env(), stdout=log, stderr=subprocess.STDOUT
        )
        _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.monotonic() - started
    server.shutdown()
    stats = parse_stats((work / "crawl.log").read_text("utf-8", "replace"))
    peak_mb = usage.ru_maxrss / 1024  # kilobytes on Linux
    result = {
        "listing_pages": counts["listing"],
        "entries_listed": args.pages * args.entries,
        "entries_over_limit": stats.get("sinacrawl/listings/entries_over_limit", 0),
        "article_requests": counts["article"],
        "exit_status": os.waitstatus_to_exitcode(status),
        "peak_rss_mb": round(peak_mb, 1),
        "peak_rss_to_budget": round(peak_mb / args.budget_mb, 3),
        "seconds": round(elapsed, 1),
    }
    print(json.dumps(result, indent=1))
    print(f"log: {work / 'crawl.log'}")
    return 0 if peak_mb <= args.budget_mb else 1


if __name__ == "__main__":
    sys.exit(main())
