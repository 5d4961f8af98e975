"""What one ``scrapy crawl live`` run costs, on the mock 7×24 feed: is every minute safe?

    .venv/bin/python bench/live_bench.py [--per-minute 2] [--reach 900] [--minutes 3]

A feed of ``--reach`` listed flashes with ``--per-minute`` new ones a minute (Sina's finance
feed: 900 flashes reach back two to three days, a few a minute at peak). Printed, from one run:
requests, bytes received and wall time of the first run (no earlier run: it reads the whole
feed) and of each run a minute later; the bytes the same pages would weigh on Sina (the real
feed page in ``../shared/fixtures`` carries ~1.8 KB a flash, the mock less); and the ratio of
a minute run's time to the minute it has.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sinacrawl.testing.process import mocksite_process, run_crawl  # noqa: E402

FIXTURE = REPO.parent / "shared" / "fixtures" / "sina-listings" / "zhibo_7x24_feed_2026-09-04.json"
FEED = "/zhibo.sina.com.cn/api/zhibo/feed"
SETTINGS = {"LOG_LEVEL": "INFO"}  # the shipped politeness settings (AutoThrottle on)


def real_bytes_per_flash() -> float:
    body = FIXTURE.read_bytes()
    return len(body) / len(json.loads(body)["result"]["data"]["feed"]["list"])


def feed_traffic(records: list[dict]) -> tuple[int, int, int]:
    """(requests, bytes, flashes listed) of the feed requests in a mock request log slice."""
    feed = [r for r in records if r["path"].startswith(FEED)]
    return len(feed), sum(r["bytes"] for r in feed), 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-minute", type=float, default=2.0)
    parser.add_argument("--reach", type=int, default=900)
    parser.add_argument("--minutes", type=int, default=3)
    args = parser.parse_args()
    per_flash = real_bytes_per_flash()
    config = {"flash_feed": {"interval": 60 / args.per_minute, "reach": args.reach}}
    with tempfile.TemporaryDirectory() as tmp, mocksite_process(config, Path(tmp) / "site") as site:
        archive = Path(tmp) / "archive"
        rows = []
        for n in range(args.minutes + 1):
            if n:
                with urllib.request.urlopen(f"{site.url}/_mock/clock?advance=60", timeout=5) as r:
                    r.read()
            seen = len(site.requests())
            result = run_crawl(
                "live",
                upstream=site.url,
                workdir=Path(tmp) / f"run{n}",
                archive=archive,
                settings=SETTINGS,
            )
            requests, size, _ = feed_traffic(site.requests()[seen:])
            listed = result.stats.get("sinacrawl/flashes/listed", 0)
            rows.append((n, result, requests, size, listed))
    print(
        f"feed: {args.reach} flashes listed, {args.per_minute:g} new a minute; "
        f"real feed page: {per_flash:.0f} bytes a flash"
    )
    print(
        f"{'run':<14}{'exit':>5}{'stored':>8}{'requests':>10}{'bytes (mock)':>14}"
        f"{'bytes (real)':>14}{'wall s':>8}{'s / 60 s':>10}"
    )
    for n, result, requests, size, listed in rows:
        name = "first" if n == 0 else f"+{n} min"
        stored = result.stats.get("sinacrawl/flashes/stored", 0)
        print(
            f"{name:<14}{result.returncode:>5}{stored:>8}{requests:>10}{size:>14,}"
            f"{listed * per_flash:>14,.0f}{result.duration:>8.1f}{result.duration / 60:>10.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
