"""The offline demo: crawl a mock Sina site into a Hexo archive, no network needed.

    .venv/bin/python -m sinacrawl.testing.demo            # posts land in ./demo-archive

Starts the mock site on 127.0.0.1 (generated articles in three channels, plus the real
fixture pages when ../shared/fixtures is there), runs ``scrapy crawl finance`` against it
through ``SINACRAWL_UPSTREAM``, stops the site and says where the posts are.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sinacrawl.parsing.dates import BEIJING
from sinacrawl.testing.catalog import fixtures_dir
from sinacrawl.testing.process import ProcessError, mocksite_process, run_crawl

CHANNELS = [
    {"name": "china", "pageid": 155, "lid": 1686, "count": 12, "path": "china/gncj"},
    {"name": "macro", "pageid": 155, "lid": 1687, "count": 8, "path": "china/hgjj"},
    {"name": "usstock", "pageid": 153, "lid": 2518, "count": 8, "path": "stock/usstock/c"},
]

# The mock is on this machine: no need to be gentle with it, and the demo should be quick.
LOCAL_SETTINGS = {
    "AUTOTHROTTLE_ENABLED": "False",
    "DOWNLOAD_DELAY": "0",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "16",
}


def demo_config(with_real_pages: bool) -> dict[str, Any]:
    """Three channels of articles from the last hours, one listed twice, a page that lacks its
    byline (the listing fills it in), and the real pages when they are available."""
    # Fixed for the day, so a second run the same day finds every article stored already.
    midnight = datetime.now(BEIJING).replace(hour=0, minute=0, second=0, microsecond=0)
    newest = midnight - timedelta(minutes=10)
    return {
        "seed": 2026,
        "newest": newest.isoformat(),
        "size_kb": 40,
        "channels": [
            {**CHANNELS[0]},
            {**CHANNELS[1], "also_list": ["china:3"]},
            {**CHANNELS[2]},
        ],
        "omit": {"macro:1": ["date", "source"]},
        "real_pages": "auto" if with_real_pages else False,
        "real_pages_channel": "china",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Crawl a local mock Sina site into Hexo posts.")
    parser.add_argument("--archive", type=Path, default=Path("demo-archive"))
    parser.add_argument("--no-real-pages", action="store_true", help="generated pages only")
    args = parser.parse_args(argv)
    archive = args.archive.resolve()
    with_real = not args.no_real_pages and fixtures_dir("auto") is not None
    channels = ",".join(c["name"] for c in CHANNELS)
    workdir = Path(tempfile.mkdtemp(prefix="sinacrawl-demo-"))
    print(f"starting the mock Sina site (real fixture pages: {'yes' if with_real else 'no'})")
    try:
        with mocksite_process(demo_config(with_real), workdir / "site") as site:
            listed = len(site.catalog.articles())
            print(f"mock site at {site.url}: {listed} articles in channels {channels}")
            print(f"running: scrapy crawl finance -a channels={channels} (log: {workdir}/run)")
            result = run_crawl(
                "finance",
                upstream=site.url,
                workdir=workdir / "run",
                archive=archive,
                args={"channels": channels, "max_pages": 3},
                settings=LOCAL_SETTINGS,
            )
            fetched = len(site.requests())
    except ProcessError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    posts = result.posts()
    print(f"crawl finished with exit status {result.returncode} in {result.duration:.1f}s")
    print(f"{fetched} requests served by the mock site (log: {site.log_path})")
    for name, value in sorted(result.stats_with("sinacrawl/articles/").items()):
        print(f"  {name}: {value}")
    print(f"{len(posts)} posts in {archive}")
    for post in posts[:5]:
        print(f"  {post.relative_to(archive)}")
    if len(posts) > 5:
        print(f"  … and {len(posts) - 5} more")
    if posts:
        newest = max(posts, key=lambda p: p.name)
        print(f"\n{newest.relative_to(archive)} begins:")
        head = newest.read_text(encoding="utf-8").splitlines()[:14]
        print("\n".join(f"  {line[:100]}" for line in head))
    if result.returncode != 0:
        print(f"the crawl failed; its log: {workdir / 'run' / 'crawl.log'}", file=sys.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
