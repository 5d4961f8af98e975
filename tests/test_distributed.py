"""Distributed mode: REDIS_URL shares one queue and one seen-set between crawl processes."""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
import redis
from scrapy import Request
from scrapy.settings import Settings

from sinacrawl.distributed import DistributedAddon, ExpiringRedisDupeFilter
from tests.opskit import local_site, ops_command, scrapy_env
from tests.redis_server import redis_url  # noqa: F401  (the fixture)


def test_without_redis_url_the_addon_changes_nothing() -> None:
    settings = Settings({"REDIS_URL": None})
    DistributedAddon().update_settings(settings)
    assert settings["SCHEDULER"] == "scrapy.core.scheduler.Scheduler"
    assert "sinacrawl.distributed.SharedQueueKeepAlive" not in str(settings["EXTENSIONS"])


def test_redis_url_switches_to_the_shared_scheduler_and_seen_set() -> None:
    settings = Settings()
    # -s on the command line (priority "cmdline") is what an operator uses.
    settings.set("REDIS_URL", "redis://127.0.0.1:6379/0", priority="cmdline")
    DistributedAddon().update_settings(settings)
    assert settings["SCHEDULER"] == "sinacrawl.distributed.SharedScheduler"
    assert settings["DUPEFILTER_CLASS"] == "sinacrawl.distributed.ExpiringRedisDupeFilter"
    # A finishing worker must not wipe the queue the others still work on.
    assert settings.getbool("SCHEDULER_PERSIST") is True
    assert "SharedQueueKeepAlive" in str(settings.getdict("EXTENSIONS"))


def test_the_seen_set_forgets_listing_pages_sooner_than_articles(redis_url: str) -> None:  # noqa: F811
    server = redis.Redis.from_url(redis_url)
    seen = ExpiringRedisDupeFilter(server, "test:seen", listing_ttl=1, seen_ttl=60)
    listing = Request("https://feed.mix.sina.com.cn/api/roll/get?page=1", meta={"listing_page": 1})
    article = Request("https://finance.sina.com.cn/roll/2026-11-27/doc-iabc.shtml")
    assert not seen.request_seen(listing) and not seen.request_seen(article)
    assert seen.request_seen(listing) and seen.request_seen(article)
    time.sleep(1.2)
    assert not seen.request_seen(listing), "the next cron run must read the listings again"
    assert seen.request_seen(article)
    seen.clear()
    assert not seen.request_seen(article)
    seen.clear()


@pytest.mark.slow
def test_two_workers_share_the_work_and_fetch_every_page_once(
    tmp_path: Path,
    redis_url: str,  # noqa: F811
) -> None:
    workers = []
    with local_site() as site:
        for name in ("w1", "w2"):
            folder = tmp_path / name
            folder.mkdir()
            command = ops_command(
                folder,
                site.base,
                "listing",
                6,
                folder / "summary.json",
                REDIS_URL=redis_url,
                CONCURRENT_REQUESTS="4",
                SINACRAWL_REDIS_IDLE_CLOSE="3",
            )
            # Half a second a page, so both workers are still busy when the second joins.
            command += ["-a", "article_path=slow"]
            workers.append(
                (
                    folder,
                    subprocess.Popen(
                        command,
                        cwd=folder,
                        env=scrapy_env(folder),
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE,
                        text=True,
                    ),
                )
            )
        try:
            errors = [child.communicate(timeout=120)[1] for _, child in workers]
        finally:
            for _, child in workers:
                if child.poll() is None:
                    child.kill()
                    child.wait()
        fetched = Counter(site.log)
    assert [child.returncode for _, child in workers] == [0, 0], errors[0][-2000:]
    assert not [e for e in errors if "DeprecationWarning" in e], "scrapy-redis warnings leak"
    articles = {path: n for path, n in fetched.items() if path.startswith("/slow/")}
    listings = {path: n for path, n in fetched.items() if path.startswith("/list/")}
    assert len(articles) == 60 and set(articles.values()) == {1}, "every article fetched once"
    assert len(listings) == 6 and set(listings.values()) == {1}, "every listing page read once"
    summaries = [json.loads((f / "summary.json").read_text("utf-8")) for f, _ in workers]
    stored = [s["articles"]["stored"] for s in summaries]
    assert sum(stored) == 60
    assert min(stored) > 0, f"one worker did nothing: {stored}"
    # Nothing is left behind in the shared queue.
    assert redis.Redis.from_url(redis_url).zcard("sinacrawl:ops:requests") == 0
