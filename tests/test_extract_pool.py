"""The extraction pool: same items as inline extraction, no article lost when a worker dies
or hangs, inline with ``EXTRACT_PROCESSES=0``, and no worker left behind by ``kill -9``."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from sinacrawl.exceptions import DropArticle
from sinacrawl.extractors import (
    ExtractionPool,
    RemoteExtractionError,
    _result,
    extract_in_worker,
    pool_size,
)
from sinacrawl.loaders import build_article
from sinacrawl.parsing.dates import BEIJING
from sinacrawl.parsing.listing import ListingEntry
from sinacrawl.testing.process import REPO, child_env, mocksite_process, run_crawl, stop_process
from tests.conftest import real_pages
from tests.update_golden import request_urls

CRAWLED = datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc)
CATEGORIES = ["金融", "新浪财经", "新浪财经－国內"]


class Stats:
    """Just the part of Scrapy's stats collector the pool uses."""

    def __init__(self) -> None:
        self.values: Counter[str] = Counter()

    def inc_value(self, key: str, count: int = 1) -> None:
        self.values[key] += count


def extract(pool: ExtractionPool, page: Path, url: str | None, listing=None):
    return pool.extract(
        page.read_bytes(),
        url,
        content_type="text/html",
        listing=listing,
        categories=CATEGORIES,
        crawled_at=CRAWLED,
    )


def inline(page: Path, url: str | None, listing=None) -> dict:
    item = build_article(
        page.read_bytes(),
        url,
        content_type="text/html",
        listing=listing,
        categories=CATEGORIES,
        crawled_at=CRAWLED,
    )
    return dict(item)


def workers(pool: ExtractionPool) -> list:
    return [w.process for w in pool._workers]


def test_pool_size_setting():
    assert pool_size("auto", cpus=2, distributed=False) == 1
    assert pool_size(None, cpus=4, distributed=False) == 1
    assert pool_size("auto", cpus=1, distributed=False) == 0
    assert pool_size("auto", cpus=None, distributed=False) == 0
    assert pool_size("auto", cpus=8, distributed=True) == 0
    assert pool_size(" 3 ", cpus=1, distributed=True) == 3
    assert pool_size(0, cpus=8, distributed=False) == 0
    for bad in ("two", "-1", "1.5"):
        with pytest.raises(ValueError, match="EXTRACT_PROCESSES"):
            pool_size(bad, cpus=2, distributed=False)


def run_in_loop(step, processes=1, timeout=20.0):
    """``step(pool)`` in one event loop (workers belong to the loop that started them), with
    a fresh pool that is closed, its workers gone, afterwards; returns (pool, result)."""
    pool = ExtractionPool(processes, timeout=timeout, stats=Stats())

    async def main():
        try:
            return await step(pool)
        finally:
            processes = workers(pool)
            await pool.aclose()
            assert all(p.poll() is not None for p in processes)

    return pool, asyncio.run(main())


@pytest.mark.parametrize("processes", [1, 2])
def test_pool_items_equal_inline_on_every_real_page(fixtures_dir, processes):
    pages = real_pages()
    assert len(pages) == 16
    urls = request_urls()
    listing = ListingEntry(
        url="https://finance.sina.com.cn/china/gncj/2026-11-27/doc-infxyzab1234567.shtml",
        doc_id="infxyzab1234567",
        media_name="新浪财经",
        ctime=datetime(2026, 11, 27, 9, 30, tzinfo=BEIJING),
    )

    async def run_all(pool):
        jobs = [extract(pool, p, urls.get(p.stem)) for p in pages]
        jobs.append(extract(pool, pages[0], None, listing))
        got = await asyncio.gather(*jobs)
        assert len(workers(pool)) == processes
        return got

    pool, got = run_in_loop(run_all, processes)
    expected = [inline(p, urls.get(p.stem)) for p in pages] + [inline(pages[0], None, listing)]
    for page, item, want in zip([*pages, pages[0]], got, expected, strict=True):
        assert type(item).__name__ == "Article"
        assert dict(item) == want, page.name
    assert pool.stats.values["sinacrawl/extract_pool/pages"] == 17
    assert not any("fallback" in key for key in pool.stats.values)


def test_a_killed_worker_costs_no_article(fixtures_dir):
    page = real_pages()[10]
    want = inline(page, None)

    async def step(pool):
        assert dict(await extract(pool, page, None)) == want
        (worker,) = workers(pool)
        # Killed while it holds several pages: each of them is extracted inline.
        jobs = [asyncio.ensure_future(extract(pool, page, None)) for _ in range(4)]
        await asyncio.sleep(0)
        os.kill(worker.pid, signal.SIGKILL)
        for item in await asyncio.gather(*jobs):
            assert dict(item) == want
        assert worker.poll() is not None
        stats = pool.stats.values
        assert stats["sinacrawl/extract_pool/restarted/broken"] == 1
        assert stats["sinacrawl/extract_pool/fallback/broken"] >= 1
        # A new worker takes the later pages.
        before = stats["sinacrawl/extract_pool/pages"]
        assert dict(await extract(pool, page, None)) == want
        assert stats["sinacrawl/extract_pool/pages"] == before + 1
        (new,) = workers(pool)
        assert new.pid != worker.pid and pool.processes == 1

    run_in_loop(step)


def test_a_stuck_worker_times_out_and_the_page_is_extracted_inline(fixtures_dir):
    page = real_pages()[3]
    want = inline(page, None)

    async def step(pool):
        await extract(pool, page, None)
        (worker,) = workers(pool)
        # On a loaded machine a new worker's first page can itself outlast the timeout.
        before = pool.stats.values.get("sinacrawl/extract_pool/restarted/timeout", 0)
        os.kill(worker.pid, signal.SIGSTOP)
        started = time.monotonic()
        assert dict(await extract(pool, page, None)) == want
        assert time.monotonic() - started < 10
        assert worker.poll() is not None  # the stuck worker was killed, not left behind
        assert pool.stats.values["sinacrawl/extract_pool/restarted/timeout"] == before + 1

    run_in_loop(step, timeout=3.0)


def test_after_repeated_failures_the_pool_is_switched_off(fixtures_dir):
    page = real_pages()[3]
    want = inline(page, None)

    async def step(pool):
        for _ in range(3):
            await extract(pool, page, None)
            (worker,) = workers(pool)
            os.kill(worker.pid, signal.SIGKILL)
            assert dict(await extract(pool, page, None)) == want
        assert pool.processes == 0 and not pool._workers
        assert pool.stats.values["sinacrawl/extract_pool/disabled"] == 1
        assert dict(await extract(pool, page, None)) == want
        assert not pool._workers

    run_in_loop(step)


def test_zero_processes_extracts_inline_without_a_pool(fixtures_dir, monkeypatch):
    pool = ExtractionPool(0, stats=Stats())
    page = real_pages()[0]
    calls = []
    real = build_article

    def counting(*args, **kwargs):
        calls.append(os.getpid())
        return real(*args, **kwargs)

    monkeypatch.setattr("sinacrawl.loaders.build_article", counting)
    assert dict(asyncio.run(extract(pool, page, None))) == inline(page, None)
    assert calls[:1] == [os.getpid()]
    assert not pool._workers and not pool.stats.values


def test_worker_outcomes_travel_as_data(monkeypatch, caplog):
    def drop(*args, **kwargs):
        import logging

        logging.getLogger("sinacrawl.parsing.article").warning("odd page %s", "x")
        raise DropArticle("no_body", "empty page")

    monkeypatch.setattr("sinacrawl.loaders.build_article", drop)
    outcome = extract_in_worker(b"<html></html>", None, None, None, [], None)
    assert outcome[0] == "drop" and outcome[1] == ("no_body", "no_body: empty page")
    with pytest.raises(DropArticle) as info, caplog.at_level("WARNING"):
        _result(*outcome)
    assert info.value.reason == "no_body" and "empty page" in str(info.value)

    def crash(*args, **kwargs):
        raise KeyError("boom")

    monkeypatch.setattr("sinacrawl.loaders.build_article", crash)
    outcome = extract_in_worker(b"", None, None, None, [], None)
    assert outcome[0] == "error"
    with pytest.raises(RemoteExtractionError, match=r"KeyError.*boom"):
        _result(*outcome)


# --- real crawls ---------------------------------------------------------------------------


def site_config(count: int, **extra) -> dict:
    newest = datetime.now(BEIJING).replace(second=0, microsecond=0) - timedelta(hours=1)
    return {
        "seed": 8,
        "newest": newest.isoformat(),
        "spacing_minutes": 3,
        "size_kb": 20,
        "channels": [
            {"name": "china", "pageid": 155, "lid": 1686, "count": count, "path": "china/gncj"}
        ],
        **extra,
    }


FAST = {
    "AUTOTHROTTLE_ENABLED": "False",
    "DOWNLOAD_DELAY": "0",
    "CONCURRENT_REQUESTS": "8",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "8",
    "LOG_LEVEL": "INFO",
}


@pytest.mark.slow
@pytest.mark.parametrize("processes", ["1", "0"])
def test_a_crawl_stores_every_article_with_and_without_workers(tmp_path, processes):
    with mocksite_process(site_config(30), tmp_path / "site") as site:
        result = run_crawl(
            "finance",
            upstream=site.url,
            workdir=tmp_path / "run",
            args={"num": "20", "max_pages": "5"},
            settings={**FAST, "EXTRACT_PROCESSES": processes},
        )
    assert result.returncode == 0, result.log[-3000:]
    assert result.stat("sinacrawl/articles/stored") == 30
    assert len(result.posts()) == 30
    assert result.stat("sinacrawl/extract_pool/pages") == (30 if processes == "1" else 0)
    assert ("worker process" in result.log) == (processes == "1")
    assert "Traceback" not in result.log


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"  # a zombie has exited


@pytest.mark.slow
def test_kill_9_of_the_crawl_leaves_no_extraction_process(tmp_path):
    # Every later article hangs, so the crawl is surely still running when it is killed.
    faults = {f"china:{i}": {"kind": "hang", "seconds": 60} for i in range(3, 20)}
    with mocksite_process(site_config(20, faults=faults), tmp_path / "site") as site:
        settings = {
            **FAST,
            "EXTRACT_PROCESSES": "1",
            "SINACRAWL_UPSTREAM": site.url,
            "ARCHIVE_DIR": str(tmp_path / "archive"),
        }
        command = [sys.executable, "-m", "scrapy", "crawl", "finance", "-a", "num=20"]
        for name, value in settings.items():
            command += ["-s", f"{name}={value}"]
        log = (tmp_path / "crawl.log").open("wb")
        crawl = subprocess.Popen(command, cwd=REPO, env=child_env(), stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if (tmp_path / "archive").exists() and list((tmp_path / "archive").rglob("*.md")):
                    break
                assert crawl.poll() is None, (tmp_path / "crawl.log").read_text()
                time.sleep(0.2)
            else:
                pytest.fail("no article stored within 60 s")
            children = _children(crawl.pid)
            assert [pid for pid in children if _running(pid)], "no extraction worker found"
            crawl.kill()
            crawl.wait(10)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and any(_running(pid) for pid in children):
                time.sleep(0.2)
            left = [pid for pid in children if _running(pid)]
            assert not left, f"processes outlived the killed crawl: {left}"
        finally:
            stop_process(crawl)
            log.close()
