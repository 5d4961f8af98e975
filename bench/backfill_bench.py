"""Backfill memory and speed: 60 days × 300 articles through day windows vs newest first.

    .venv/bin/python bench/backfill_bench.py [--days 60] [--per-day 300] [--concurrency 16]

One mock Sina site (a child process) holds ``--days`` Beijing days of ``--per-day`` articles
each (8 KB pages), all older than the listing's first page. Against it, each in its own
process and into a fresh archive:

- ``windows``: ``scrapy crawl finance -a since=… -a until=…`` — the history path: one day
  window at a time, the next day's listing sent once the queue has drained;
- ``newest-first``: the same articles through the plain listing (``-a until=…
  -a max_pages=N``, no ``since``): every listing page is read first and queues its entries.

While a crawl runs, the crawler process's peak RSS (``VmHWM``) is sampled; printed are the
peaks when 10 %, 50 % and 100 % of the articles had been requested (per the mock's request
log), pages per second between the first and the last request, and whether every article was
stored once. The target: RSS at 100 % within 20 % of RSS at 10 % for ``windows``. The
machines are shared and noisy: compare within one run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.crawl_bench import crawl_settings, machine  # noqa: E402
from sinacrawl.parsing.dates import BEIJING  # noqa: E402
from sinacrawl.testing.process import (  # noqa: E402
    RunningSite,
    child_env,
    crawl_command,
    mocksite_process,
)

MARKS = (0.10, 0.50, 1.00)
NEWEST = datetime(2026, 11, 20, 12, 0, tzinfo=BEIJING)


@dataclass
class Run:
    name: str
    rss_mb: dict[float, float] = field(default_factory=dict)
    articles: int = 0
    pages: int = 0
    seconds: float = 0.0
    exit: int = -1
    stored_once: bool = False

    @property
    def rate(self) -> float:
        return self.pages / self.seconds if self.seconds else 0.0


def site_config(days: int, per_day: int) -> dict:
    # Day 0 is the listing's newest day; the backfilled days are 2 … days+1 back.
    return {
        "seed": 60,
        "newest": NEWEST.isoformat(),
        "now": NEWEST.isoformat(),
        "size_kb": 8,
        "gbk_every": 0,
        "page_cache": 256,
        "channels": [
            {
                "name": "china",
                "pageid": 155,
                "lid": 1686,
                "per_day": [50, 50] + [per_day] * days,
                "path": "china/gncj",
            }
        ],
    }


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def crawl(site: RunningSite, work: Path, name: str, args: dict[str, str], wanted: set[str]) -> Run:
    archive = work / name / "archive"
    settings = {
        **crawl_settings(16),
        "SINACRAWL_UPSTREAM": site.url,
        "ARCHIVE_DIR": str(archive),
        "SINACRAWL_LOCK": "off",
        "MEMUSAGE_ENABLED": "False",
    }
    command = crawl_command("finance", args, settings)
    run = Run(name, articles=len(wanted))
    start = len(site.requests())
    offset = site.log_path.stat().st_size
    log = (work / f"{name}.log").open("wb")
    child = subprocess.Popen(command, cwd=REPO, env=child_env(), stdout=log, stderr=log)
    marks = [m for m in MARKS if m < 1.0]
    requested = 0
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        peak = peak_rss_mb(child.pid)
        with site.log_path.open("rb") as requests:  # count new article requests
            requests.seek(offset)
            chunk = requests.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        offset += len(complete)
        requested += complete.count(b"/doc-")
        while marks and requested >= marks[0] * len(wanted):
            run.rss_mb[marks.pop(0)] = peak
        time.sleep(0.25)
    run.rss_mb[1.0] = usage.ru_maxrss / 1024  # the whole run's peak (Linux: KB)
    run.exit = os.waitstatus_to_exitcode(status)
    log.close()
    records = [r for r in site.requests()[start:] if not r["path"].endswith("robots.txt")]
    run.pages = len(records)
    if records:
        run.seconds = records[-1]["t"] - records[0]["t"]
    stored = [p.stem[11:] for p in archive.rglob("*.md") if ".sinacrawl" not in p.parts]
    run.stored_once = len(stored) == len(set(stored)) and set(stored) == wanted
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--per-day", type=int, default=300)
    args = parser.parse_args(argv)
    since = (NEWEST - timedelta(days=args.days + 1)).date()
    until = (NEWEST - timedelta(days=1)).date()
    print(f"machine: {machine()}")
    print(f"{args.days} days × {args.per_day} articles, {since} to {until} (exclusive)")
    with tempfile.TemporaryDirectory(prefix="backfill-bench-") as tmp:
        work = Path(tmp)
        with mocksite_process(site_config(args.days, args.per_day), work / "site") as site:
            low = datetime(since.year, since.month, since.day, tzinfo=BEIJING)
            high = datetime(until.year, until.month, until.day, tzinfo=BEIJING)
            wanted = {
                a.doc_id for a in site.catalog.channels["china"].articles if low <= a.ctime < high
            }
            pages = -(-(len(wanted) + 100) // 50) + 2
            runs = [
                crawl(site, work, "windows", {"since": str(since), "until": str(until)}, wanted),
                crawl(
                    site,
                    work,
                    "newest-first",
                    {"until": str(until), "max_pages": str(pages)},
                    wanted,
                ),
            ]
    print("\nrun            RSS@10%   RSS@50%   RSS@100%  100/10   pages/s   exit  stored once")
    for run in runs:
        ten, half, full = (run.rss_mb.get(m, 0.0) for m in MARKS)
        growth = full / ten if ten else 0.0
        print(
            f"{run.name:<13} {ten:7.0f} MB {half:6.0f} MB {full:7.0f} MB {growth:7.2f}× "
            f"{run.rate:8.1f}   {run.exit:4d}  {run.stored_once}"
        )
    windows, walk = runs
    print(f"\nwindows pages/s ÷ newest-first pages/s: {windows.rate / walk.rate:.2f}×")
    ten, full = windows.rss_mb.get(0.10, 0.0), windows.rss_mb.get(1.0, 0.0)
    ok = ten > 0 and full <= ten * 1.2
    print(f"target RSS@100% ≤ 1.2 × RSS@10% (windows): {'met' if ok else 'MISSED'}")
    return 0 if ok and windows.stored_once else 1


if __name__ == "__main__":
    raise SystemExit(main())
