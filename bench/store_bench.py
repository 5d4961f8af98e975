"""Storage benchmarks: Hexo writer throughput and the memory of the known/dedupe stores.

    .venv/bin/python bench/store_bench.py [--items 2000] [--ids 1000000] [--check]

Printed, from one run on this machine:
- items/s through the Hexo archive pipeline: new posts (each written atomically, fsync'ed
  and indexed) one at a time and with ``--in-flight`` items in the pipeline at once (as
  Scrapy's CONCURRENT_ITEMS does in a crawl), an identical second pass (nothing rewritten),
  and rendering alone; bodies are the real archive posts in ``../shared/fixtures/hexo-posts/``;
- memory (tracemalloc, current and peak while building) of the stores at ``--ids`` ids:
  ``KnownArticles`` (what the incremental skip consults: doc_id hash + listing mtime),
  ``CompactIdSet`` (the dedupe pipeline's per-run set), and for scale a plain Python set of
  the doc_id strings and a set of Scrapy request fingerprints (what RFPDupeFilter keeps).
- items/s through the MongoDB pipeline with bulk upserts and with one write per item
  (``bench/mongo_bench.py``, against nx-27017; ``--skip-mongo`` leaves it out).

``--check`` exits 1 when KnownArticles needs more than 26 MB at a million ids (a tenth of
Scrapy's fingerprint set) or bulk MongoDB writes are not 5x faster than one-by-one.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sinacrawl.posts import render_post  # noqa: E402
from sinacrawl.state import CompactIdSet, KnownArticles  # noqa: E402
from sinacrawl.stores import Record  # noqa: E402
from sinacrawl.stores.hexo import HexoStore  # noqa: E402
from tests.conftest import FIXTURES  # noqa: E402

KNOWN_LIMIT_MB = 26.0


def archive_bodies() -> list[str]:
    """The inner HTML of every real archive post (the old pipeline's #artibody output)."""
    bodies = []
    for post in sorted((FIXTURES / "hexo-posts").glob("*.md")):
        text = post.read_text(encoding="utf-8")
        bodies.append(text.split("<div>   \n", 1)[1].rsplit("</div>", 1)[0])
    return bodies


def make_items(n: int) -> list[dict[str, Any]]:
    bodies = archive_bodies()
    return [
        {
            "doc_id": f"ibench{i:09d}",
            "url": f"https://finance.sina.com.cn/china/gncj/2026-11-27/doc-ibench{i:09d}.shtml",
            "title": f"基准测试文章 {i}：人社部就业和社保",
            "published_at": f"2026-11-{1 + i % 27:02d}T{i % 24:02d}:33:50+08:00",
            "source": "新京报",
            "author": None,
            "categories": ["金融", "新浪财经", "新浪财经－国內"],
            "headimg": "https://n.sinaimg.cn/finance/a.jpg" if i % 3 else None,
            "body_html": bodies[i % len(bodies)],
        }
        for i in range(n)
    ]


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_hexo(n: int, in_flight: int) -> list[tuple[str, str]]:
    items = make_items(n)
    root = Path(tempfile.mkdtemp(prefix="sinacrawl-bench-"))
    try:

        def store_sequentially(folder: str) -> None:
            pipe = HexoStore(root / folder)
            pipe.open_now()
            for item in items:
                pipe.store(item)
            pipe.close_now()

        def store_concurrently(folder: str) -> None:
            # What a crawl does: Scrapy keeps up to CONCURRENT_ITEMS items in the pipelines.
            pipe = HexoStore(root / folder)
            pipe.open_now()

            async def run() -> None:
                slots = asyncio.Semaphore(in_flight)

                async def one(item: dict[str, Any]) -> None:
                    async with slots:
                        await pipe.put([Record(item, "article", item["doc_id"])])

                await asyncio.gather(*(one(item) for item in items))

            asyncio.run(run())
            pipe.close_now()

        sequential = timed(lambda: store_sequentially("seq"))
        concurrent = timed(lambda: store_concurrently("conc"))
        again = timed(lambda: store_concurrently("conc"))
        render = timed(lambda: [render_post(item) for item in items])
        size = sum(p.stat().st_size for p in (root / "conc").rglob("*.md"))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return [
        ("hexo: new posts, one at a time (fsync each)", f"{n / sequential:8.0f} items/s"),
        (f"hexo: new posts, {in_flight} in flight", f"{n / concurrent:8.0f} items/s"),
        (f"hexo: unchanged posts, {in_flight} in flight", f"{n / again:8.0f} items/s"),
        ("hexo: rendering alone", f"{n / render:8.0f} items/s"),
        ("hexo: mean post size", f"{size / n / 1024:8.1f} KB"),
    ]


def measure(build: Callable[[], Any]) -> tuple[float, float, float, Any]:
    """(current MB, peak MB, seconds) of what ``build`` returns, kept alive while measured."""
    gc.collect()
    tracemalloc.start()
    start = time.perf_counter()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        obj = build()
        elapsed = time.perf_counter() - start
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return (current - base) / 1e6, (peak - base) / 1e6, elapsed, obj


def doc_ids(n: int):
    # Sina's ids look like "ikyamrmz6784021": "i" and 14 base-36 characters.
    return (f"i{i:014x}" for i in range(n))


def bench_memory(n: int) -> tuple[list[tuple[str, str]], float]:
    rows = []
    known_mb = 0.0

    def known() -> KnownArticles:
        return KnownArticles.from_stores(
            [((d, 1_790_000_000 + i) for i, d in enumerate(doc_ids(n)))]
        )

    def compact() -> CompactIdSet:
        seen = CompactIdSet()
        for d in doc_ids(n):
            seen.add(d)
        return seen

    def plain() -> set[str]:
        return set(doc_ids(n))

    def fingerprints() -> set[str]:
        # RFPDupeFilter keeps the hex SHA1 fingerprint of every request it has seen.
        return {hashlib.sha1(d.encode()).hexdigest() for d in doc_ids(n)}

    for name, build in [
        ("KnownArticles (id hash + mtime)", known),
        ("CompactIdSet (dedupe, id hash)", compact),
        ("python set of doc_id strings", plain),
        ("Scrapy-style fingerprint set", fingerprints),
    ]:
        current, peak, elapsed, obj = measure(build)
        if name.startswith("KnownArticles"):
            known_mb = current
            probe = timed(lambda obj=obj: [obj.is_current(f"i{i:014x}") for i in range(0, n, 10)])
            rows.append(("KnownArticles lookup", f"{probe / max(1, n // 10) * 1e6:8.2f} µs"))
        rows.append(
            (
                f"{name} @ {n:,}",
                f"{current:8.1f} MB (peak {peak:.1f} MB, {current * 1e6 / n:.1f} B/id,"
                f" built in {elapsed:.1f} s under tracemalloc)",
            )
        )
        del obj
    return rows, known_mb


# === MongoDB: bulk upserts vs one-by-one writes ============================================
# Owned by the MongoDB pipeline's engineer: the measurement lives in bench/mongo_bench.py
# (items/s through the Mongo store with bulk upserts and with one write per item, against
# nx-27017); it returns rows of (label, value) and sets ``args.mongo_ratio``.
def bench_mongo(args: argparse.Namespace) -> list[tuple[str, str]]:
    if args.skip_mongo:
        return [("mongo: bulk vs one-by-one", "skipped (--skip-mongo)")]
    from bench.mongo_bench import bench_mongo as mongo_rows

    return mongo_rows(args)


MONGO_TARGET = 5.0


# === end of the MongoDB section =============================================================


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=2000, help="posts through the Hexo writer")
    parser.add_argument("--in-flight", type=int, default=100, help="items in the pipeline at once")
    parser.add_argument("--ids", type=int, default=1_000_000, help="ids in the memory test")
    parser.add_argument("--mongo-items", type=int, default=300, help="MongoDB: articles a round")
    parser.add_argument("--mongo-rounds", type=int, default=3, help="MongoDB: rounds")
    parser.add_argument("--mongo-batch", type=int, default=50, help="MongoDB: bulk size")
    parser.add_argument("--skip-mongo", action="store_true", help="leave MongoDB out")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    rows = bench_hexo(args.items, args.in_flight)
    rows += bench_mongo(args)
    memory_rows, known_mb = bench_memory(args.ids)
    rows += memory_rows
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    limit = KNOWN_LIMIT_MB * args.ids / 1_000_000
    verdict = "ok" if known_mb <= limit else "MISSED"
    print(f"target: KnownArticles ≤ {limit:.1f} MB at {args.ids:,} ids: {verdict}")
    mongo_ok = getattr(args, "mongo_ratio", MONGO_TARGET) >= MONGO_TARGET
    return 1 if args.check and (verdict != "ok" or not mongo_ok) else 0


if __name__ == "__main__":
    sys.exit(main())
