"""Unattended operation with real processes and real signals, against the mock Sina site.

- ``kill -9`` at five random moments during a crawl, then a final run: every listed article
  is stored exactly once, every post is whole, no temporary file is left.
- ``JOBDIR``: one Ctrl-C pauses (status 8), the same command resumes the queue.
- Two overlapping runs: the second exits at once with the lock code.
- Every article page failing: a non-zero exit and a summary that says why.
- Two distributed workers against a real redis-server: every article fetched once across
  both (mock request log) and stored once.
- A resumed ``JOBDIR`` run, and a worker taking from the shared queue what an earlier run
  queued, count what they store as stored (not as the duplicates the seen-set refused).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from sinacrawl.extensions.summary import ExitCode
from sinacrawl.parsing.dates import BEIJING
from sinacrawl.testing.process import (
    REPO,
    RunningSite,
    child_env,
    kill_9_when,
    mocksite_process,
    run_crawl,
    stop_process,
)
from tests.redis_server import redis_url  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow

CHANNELS = "china,macro,usstock"
ROLL = "/feed.mix.sina.com.cn/api/roll/get"
# The mock is local: speed over politeness; bounded retries and timeouts.
FAST = {
    "AUTOTHROTTLE_ENABLED": "False",
    "DOWNLOAD_DELAY": "0",
    "CONCURRENT_REQUESTS": "8",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "8",
    "RETRY_TIMES": "1",
    "DOWNLOAD_TIMEOUT": "5",
    "LOG_LEVEL": "INFO",
}
# 20 entries a listing page, enough pages to reach every article.
ARGS = {"channels": CHANNELS, "num": "20", "max_pages": "10"}
TEMP_MARKERS = (".tmp", ".sinacrawl-tmp-")


def site_config(per_channel: int, **extra: Any) -> dict[str, Any]:
    """Three channels whose newest article is an hour old (inside the default window)."""
    newest = datetime.now(BEIJING).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    config: dict[str, Any] = {
        "seed": 5,
        "newest": newest.isoformat(),
        "spacing_minutes": 7,
        "size_kb": 6,
        "channels": [
            {
                "name": "china",
                "pageid": 155,
                "lid": 1686,
                "count": per_channel,
                "path": "china/gncj",
            },
            {
                "name": "macro",
                "pageid": 155,
                "lid": 1687,
                "count": per_channel,
                "path": "china/hgjj",
            },
            {
                "name": "usstock",
                "pageid": 153,
                "lid": 2518,
                "count": per_channel,
                "path": "stock/usstock/c",
            },
        ],
    }
    config.update(extra)
    return config


def crawl_command(site: RunningSite, archive: Path, summary: Path, **settings: str) -> list[str]:
    command = [sys.executable, "-m", "scrapy", "crawl", "finance"]
    for name, value in ARGS.items():
        command += ["-a", f"{name}={value}"]
    all_settings = {
        **FAST,
        "SINACRAWL_UPSTREAM": site.url,
        "ARCHIVE_DIR": str(archive),
        "SINACRAWL_SUMMARY": str(summary),
        **settings,
    }
    for name, value in all_settings.items():
        command += ["-s", f"{name}={value}"]
    return command


def posts(archive: Path) -> list[Path]:
    return sorted(p for p in archive.rglob("*.md") if ".sinacrawl" not in p.parts)


def post_doc_ids(archive: Path) -> Counter[str]:
    """doc_id of every post (``<YYYY-MM-DD>-<doc_id>.md``), counted."""
    return Counter(p.stem[11:] for p in posts(archive))


def stray_temp_files(archive: Path) -> list[Path]:
    return [p for p in archive.rglob("*") if p.is_file() and any(m in p.name for m in TEMP_MARKERS)]


def assert_whole_post(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n"), f"{path} is not a whole post"
    front, sep, body = text[4:].partition("\n---\n")
    assert sep and "title:" in front, f"{path} lost its front matter"
    assert body.rstrip().endswith("</div>"), f"{path} is cut short"


def test_kill_9_at_five_random_moments_then_a_final_run_loses_and_duplicates_nothing(
    tmp_path: Path,
) -> None:
    seed = int(os.environ.get("SINACRAWL_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    archive = tmp_path / "archive"
    kills: list[str] = []
    with mocksite_process(site_config(50), tmp_path / "site") as site:
        expected = {a.doc_id for a in site.catalog.articles()}
        # Two in flight: slow enough that the kills land while posts are being written.
        slow = {"CONCURRENT_REQUESTS": "2", "CONCURRENT_REQUESTS_PER_DOMAIN": "2"}
        for moment in range(5):
            before = len(posts(archive))
            # The first kill lands at a random time in start-up or the first listings;
            # the others after a random number of new posts, with a random extra delay.
            target = 0 if moment == 0 else rng.randint(1, 12)
            delay = rng.uniform(0.3, 2.0) if moment == 0 else rng.uniform(0, 0.05)
            finished = kill_9_when(
                crawl_command(site, archive, tmp_path / f"summary-{moment}.json", **slow),
                lambda: len(posts(archive)) >= before + target,  # noqa: B023 (called at once)
                tmp_path / f"killed-{moment}.log",
                extra_delay=delay,
            )
            kills.append(
                f"#{moment}: {'finished before' if finished else 'killed'} "
                f"after {len(posts(archive)) - before} new posts"
            )
        killed_mid_run = sum("killed" in k for k in kills)
        final = run_crawl(
            "finance",
            upstream=site.url,
            workdir=tmp_path / "final",
            archive=archive,
            args=ARGS,
            settings=FAST,
            timeout=180,
        )
    context = f"seed {seed} (SINACRAWL_CRASH_SEED), kills: {kills}"
    assert killed_mid_run >= 4, f"the kills did not land mid-run: {context}"
    assert final.returncode == ExitCode.OK, f"{context}\n{final.log[-3000:]}"
    stored = post_doc_ids(archive)
    assert set(stored) == expected, (
        f"missing {sorted(expected - set(stored))[:10]}, extra {sorted(set(stored) - expected)[:10]}; "
        + context
    )
    assert [d for d, n in stored.items() if n > 1] == [], context
    assert stray_temp_files(archive) == [], context
    for path in posts(archive):
        assert_whole_post(path)


def test_jobdir_pauses_on_one_ctrl_c_and_resumes(tmp_path: Path) -> None:
    archive, jobdir = tmp_path / "archive", tmp_path / "job"
    with mocksite_process(site_config(40), tmp_path / "site") as site:
        expected = {a.doc_id for a in site.catalog.articles()}
        first = subprocess.Popen(
            crawl_command(
                site,
                archive,
                tmp_path / "first.json",
                JOBDIR=str(jobdir),
                CONCURRENT_REQUESTS="1",
                CONCURRENT_REQUESTS_PER_DOMAIN="1",
                DOWNLOAD_DELAY="0.05",
            ),
            cwd=REPO,
            env=child_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while len(posts(archive)) < 10:
                assert first.poll() is None and time.monotonic() < deadline, "no progress"
                time.sleep(0.02)
            first.send_signal(signal.SIGINT)  # once: a graceful pause
            paused = first.wait(timeout=60)
        finally:
            stop_process(first)
        paused_posts = len(posts(archive))
        resumed = run_crawl(
            "finance",
            upstream=site.url,
            workdir=tmp_path / "resumed",
            archive=archive,
            args=ARGS,
            settings={**FAST, "JOBDIR": str(jobdir)},
            timeout=120,
        )
    summary = json.loads((tmp_path / "first.json").read_text("utf-8"))
    assert paused == ExitCode.INTERRUPTED and summary["close_reason"] == "shutdown"
    assert paused_posts < len(expected), "the pause came too late to test a resume"
    assert "Resuming crawl" in resumed.log
    assert resumed.returncode == ExitCode.OK, resumed.log[-3000:]
    stored = post_doc_ids(archive)
    assert set(stored) == expected and max(stored.values()) == 1
    assert stray_temp_files(archive) == []
    # The resumed run reads the listings again: what the paused one had queued is refused by
    # the job's seen-set, then comes out of the job's queue and is stored by this run.
    assert resumed.summary is not None
    articles = resumed.summary["articles"]
    assert articles["stored"] == len(expected) - paused_posts, articles
    assert articles["scheduled"] == articles["stored"] + articles["duplicate"] + sum(
        articles["dropped"].values()
    ) + sum(articles["failed"].values()), articles


def test_a_second_run_while_one_is_running_exits_with_the_lock_code(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    lock = archive / ".sinacrawl" / "run.lock"
    with mocksite_process(site_config(40), tmp_path / "site") as site:
        first = subprocess.Popen(
            crawl_command(
                site,
                archive,
                tmp_path / "first.json",
                CONCURRENT_REQUESTS="1",
                CONCURRENT_REQUESTS_PER_DOMAIN="1",
                # At least ~6 s for 120 pages however fast the machine: still running when
                # the second run starts.
                DOWNLOAD_DELAY="0.1",
            ),
            cwd=REPO,
            env=child_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while f"pid {first.pid} " not in (lock.read_text() if lock.exists() else ""):
                assert first.poll() is None and time.monotonic() < deadline, "no lock taken"
                time.sleep(0.02)
            second = run_crawl(
                "finance",
                upstream=site.url,
                workdir=tmp_path / "second",
                archive=archive,
                args=ARGS,
                settings=FAST,
                timeout=60,
            )
            still_running = first.poll() is None
            first_status = first.wait(timeout=180)
        finally:
            stop_process(first)
    assert second.returncode == ExitCode.LOCK_HELD, second.log[-2000:]
    assert f"another run is in progress (pid {first.pid} since" in second.log
    assert second.summary is None and second.duration < 20
    assert still_running, "the first run should still have been working"
    assert first_status == ExitCode.OK
    assert len(posts(archive)) == 120


def test_every_article_page_failing_exits_non_zero_with_a_summary_that_says_why(
    tmp_path: Path,
) -> None:
    per_channel = 10
    faults = {
        f"{channel}:{i}": {"kind": "status", "status": 500}
        for channel in ("china", "macro", "usstock")
        for i in range(per_channel)
    }
    with mocksite_process(site_config(per_channel, faults=faults), tmp_path / "site") as site:
        result = run_crawl(
            "finance",
            upstream=site.url,
            workdir=tmp_path / "run",
            args=ARGS,
            settings=FAST,
            timeout=120,
        )
    assert result.returncode == ExitCode.NOTHING_STORED, result.log[-3000:]
    summary = result.summary
    assert summary is not None
    assert summary["exit_status"] == ExitCode.NOTHING_STORED
    assert summary["exit_name"] == "nothing_stored"
    assert summary["articles"]["stored"] == 0
    assert summary["articles"]["failed"] == {"http_500": 3 * per_channel}
    assert summary["reasons"] == [
        f"listings had {3 * per_channel} new articles but none was stored "
        f"(failed: http_500 {3 * per_channel})"
    ]
    assert posts(result.archive) == []


def test_two_workers_on_redis_fetch_and_store_every_article_once(
    tmp_path: Path,
    redis_url: str,  # noqa: F811
) -> None:
    archive = tmp_path / "archive"
    with mocksite_process(site_config(40), tmp_path / "site") as site:
        workers = []
        for name in ("w1", "w2"):
            command = crawl_command(
                site,
                archive,
                tmp_path / f"{name}.json",
                REDIS_URL=redis_url,
                SINACRAWL_REDIS_IDLE_CLOSE="3",
                CONCURRENT_REQUESTS="2",
                CONCURRENT_REQUESTS_PER_DOMAIN="2",
            )
            log = (tmp_path / f"{name}.log").open("wb")
            workers.append(
                subprocess.Popen(
                    command, cwd=REPO, env=child_env(), stdout=subprocess.DEVNULL, stderr=log
                )
            )
        try:
            statuses = [w.wait(timeout=180) for w in workers]
        finally:
            for worker in workers:
                stop_process(worker)
        article_paths = {a.mirror_path: a.doc_id for a in site.catalog.articles()}
        fetched = Counter(p for p in site.paths() if p in article_paths)
        listings = Counter(p for p in site.paths() if p.startswith(ROLL))
    logs = [(tmp_path / f"{n}.log").read_text(errors="replace") for n in ("w1", "w2")]
    assert statuses == [0, 0], logs[0][-2000:] + logs[1][-2000:]
    assert len(fetched) == len(article_paths) == 120
    assert {p: n for p, n in fetched.items() if n > 1} == {}, "an article was fetched twice"
    assert len(listings) == 6 and set(listings.values()) == {1}, f"listings: {listings}"
    summaries = [json.loads((tmp_path / f"{n}.json").read_text("utf-8")) for n in ("w1", "w2")]
    stored = [s["articles"]["stored"] for s in summaries]
    assert sum(stored) == 120 and min(stored) > 0, stored
    assert post_doc_ids(archive) == Counter(set(article_paths.values()))
    assert stray_temp_files(archive) == []


def test_a_worker_that_finds_the_articles_it_lists_already_queued_counts_what_it_stores(
    tmp_path: Path,
    redis_url: str,  # noqa: F811
) -> None:
    # Cron on one machine: the previous run stopped (CLOSESPIDER_TIMEOUT in production) with
    # articles still in the shared queue; this run reads the listing again (its seen entry has
    # expired), its article requests are refused by the shared seen-set, and then it takes the
    # queued ones from the shared queue and stores them itself.
    url = redis_url.rsplit("/", 1)[0] + "/2"  # not the other distributed test's queue
    config = site_config(10)
    config["channels"] = config["channels"][:1]
    args = {**ARGS, "channels": "china"}
    shared = {
        **FAST,
        "REDIS_URL": url,
        "SINACRAWL_REDIS_LISTING_TTL": "1",
        "SINACRAWL_REDIS_IDLE_CLOSE": "1",
        "CONCURRENT_REQUESTS": "1",
        "CONCURRENT_REQUESTS_PER_DOMAIN": "1",
    }
    queue = redis.Redis.from_url(url)

    def crawl(site: RunningSite, name: str, **extra: str) -> Any:
        settings = {**shared, **extra}
        return run_crawl(
            "finance", upstream=site.url, workdir=tmp_path / name, args=args, settings=settings
        )

    with mocksite_process(config, tmp_path / "site") as site:
        earlier = crawl(site, "earlier", CLOSESPIDER_ITEMCOUNT="1")
        left = queue.zcard("sinacrawl:finance:requests")
        time.sleep(1.2)  # the listing's seen entry expires
        later = crawl(site, "later")
    assert 0 < left < 10, earlier.log[-3000:]
    assert later.returncode == ExitCode.OK, later.log[-3000:]
    assert queue.zcard("sinacrawl:finance:requests") == 0
    assert later.summary is not None
    articles = later.summary["articles"]
    assert len(later.posts()) == left
    assert articles["scheduled"] == 10, articles
    assert articles["stored"] == left, articles
    assert articles["duplicate"] == 10 - left, articles  # stored by the earlier run
    assert later.summary["channels"]["china"]["stored"] == left


def test_an_article_that_failed_on_a_later_listing_page_is_stored_by_the_next_run(
    tmp_path: Path,
) -> None:
    config = site_config(40, faults={"china:25": {"kind": "flaky", "status": 503, "times": 2}})
    config["channels"] = config["channels"][:1]
    archive = tmp_path / "archive"
    args = {**ARGS, "channels": "china"}
    with mocksite_process(config, tmp_path / "site") as site:
        expected = {a.doc_id for a in site.catalog.articles()}
        runs = [
            run_crawl(
                "finance",
                upstream=site.url,
                workdir=tmp_path / f"run{n}",
                archive=archive,
                args=args,
                settings=FAST,  # one retry: both tries of the first run get the 503
                timeout=120,
            )
            for n in (1, 2)
        ]
    assert runs[0].summary is not None
    assert runs[0].summary["articles"]["failed"] == {"http_503": 1}
    assert set(post_doc_ids(archive)) == expected, "the failed article was never fetched again"
