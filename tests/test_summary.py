"""The run summary: counts by outcome, per-channel newest time, exit status and reasons."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from scrapy import Spider, signals
from scrapy.http import HtmlResponse, Request
from scrapy.utils.test import get_crawler

from sinacrawl.archive import sweep_folder
from sinacrawl.exceptions import DropArticle
from sinacrawl.extensions.summary import (
    EXIT_STAT,
    ExitCode,
    RunSummary,
    article_counts,
    decide,
    write_json_atomic,
)
from sinacrawl.extensions.watchdog import CoverageWatchdog, coverage_problems

A = "sinacrawl/articles/"


def test_counts_group_dropped_and_failed_by_reason() -> None:
    counts = article_counts(
        {
            A + "scheduled": 10,
            A + "stored": 6,
            A + "duplicate": 1,
            A + "skipped_known": 4,
            A + "dropped/invalid": 2,
            A + "dropped/out_of_window": 1,
            A + "failed/http_404": 1,
            "item_scraped_count": 6,
        }
    )
    assert counts == {
        "scheduled": 10,
        "stored": 6,
        "duplicate": 1,
        "skipped_known": 4,
        "dropped": {"invalid": 2, "out_of_window": 1},
        "failed": {"http_404": 1},
    }


@pytest.mark.parametrize(
    ("stats", "reason", "expected"),
    [
        ({A + "scheduled": 3, A + "stored": 3}, "finished", ExitCode.OK),
        # Nothing new in the listings is a good run, not a failure.
        ({A + "skipped_known": 50}, "finished", ExitCode.OK),
        # Some pages failing is an outcome the summary reports, not a failed run.
        ({A + "scheduled": 3, A + "stored": 2, A + "failed/http_500": 1}, "finished", ExitCode.OK),
        # Only duplicates and out-of-window drops: nothing was new.
        (
            {A + "scheduled": 2, A + "duplicate": 1, A + "dropped/out_of_window": 1},
            "finished",
            ExitCode.OK,
        ),
        ({A + "scheduled": 3, A + "dropped/invalid": 3}, "finished", ExitCode.NOTHING_STORED),
        ({A + "scheduled": 3}, "finished", ExitCode.NOTHING_STORED),
        ({A + "stored": 1, "spider_exceptions/count": 1}, "finished", ExitCode.SPIDER_ERRORS),
        ({A + "stored": 1}, "closespider_errorcount", ExitCode.SPIDER_ERRORS),
        ({A + "stored": 1, "sinacrawl/storage/errors": 2}, "finished", ExitCode.STORAGE_FAILURE),
        ({A + "stored": 1, A + "failed/pipeline_error": 2}, "finished", ExitCode.STORAGE_FAILURE),
        ({A + "stored": 1, "sinacrawl/mongo/spooled": 9}, "finished", ExitCode.STORAGE_FAILURE),
        (
            {A + "stored": 1, "sinacrawl/listings/failed/http_503": 1},
            "finished",
            ExitCode.SPIDER_ERRORS,
        ),
        # Ctrl-C before anything was stored: interrupted, not a broken extractor...
        ({A + "scheduled": 5, A + "failed/unfinished": 5}, "shutdown", ExitCode.INTERRUPTED),
        # ...but a cron timeout that stored nothing at all is worth a look.
        (
            {A + "scheduled": 5, A + "failed/unfinished": 5},
            "closespider_timeout",
            ExitCode.NOTHING_STORED,
        ),
        ({A + "stored": 1}, "shutdown", ExitCode.INTERRUPTED),
        ({A + "stored": 1}, "memusage_exceeded", ExitCode.INTERRUPTED),
        # A cron-length timeout is the normal end of a long backfill: the next run continues.
        ({A + "stored": 1}, "closespider_timeout", ExitCode.OK),
    ],
)
def test_exit_status(stats: dict, reason: str, expected: ExitCode) -> None:
    code, reasons = decide(stats, reason)
    assert code == expected
    assert bool(reasons) == (expected != ExitCode.OK)


def test_a_distributed_worker_is_judged_by_its_own_outcomes() -> None:
    # It read the listings; the other worker fetched and stored every article.
    stats = {A + "scheduled": 40}
    assert decide(stats, "finished", shared_queue=True)[0] == ExitCode.OK
    assert decide(stats, "finished")[0] == ExitCode.NOTHING_STORED
    failing = {A + "scheduled": 40, A + "failed/http_500": 3}
    assert decide(failing, "finished", shared_queue=True)[0] == ExitCode.NOTHING_STORED


def test_the_most_severe_failure_wins_and_every_reason_is_listed() -> None:
    stats = {A + "scheduled": 2, A + "failed/http_500": 2, "sinacrawl/storage/errors": 1}
    code, reasons = decide(stats, "shutdown", ["50% of 10 items have no source (limit 20%)"])
    assert code == ExitCode.STORAGE_FAILURE
    assert [r.split()[0] for r in reasons] == ["storage", "listings", "field", "run"]


def test_coverage_problems_respect_threshold_and_minimum() -> None:
    assert coverage_problems(10, {"published_at": 2}, 0.2, 5) == []
    assert coverage_problems(10, {"published_at": 3}, 0.2, 5) == [
        "30% of 10 items have no published_at (limit 20%)"
    ]
    assert coverage_problems(4, {"published_at": 4}, 0.2, 5) == []


def test_write_json_atomic_replaces_whole_files_readable_by_others(tmp_path: Path) -> None:
    target = tmp_path / "out" / "summary.json"
    write_json_atomic(target, {"a": "新京报"})
    write_json_atomic(target, {"b": 2})
    assert json.loads(target.read_text(encoding="utf-8")) == {"b": 2}
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["summary.json"]


def test_write_json_atomic_leaves_the_old_file_when_serialising_fails(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    write_json_atomic(target, {"ok": True})
    with pytest.raises(TypeError):
        write_json_atomic(target, {"bad": object()})
    assert json.loads(target.read_text(encoding="utf-8")) == {"ok": True}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def _response(channel: str) -> HtmlResponse:
    request = Request("https://finance.sina.com.cn/x.shtml", meta={"channel": channel})
    return HtmlResponse(request.url, body=b"<html></html>", request=request)


def test_summary_extension_writes_the_run_and_decides_the_exit(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    crawler = get_crawler(
        Spider,
        {
            "SINACRAWL_SUMMARY": str(path),
            # Judge coverage only from 10 items on: this run is about counts and channels.
            "SINACRAWL_COVERAGE_MIN_ITEMS": 10,
            "EXTENSIONS_BASE": {},
            "EXTENSIONS": {
                "sinacrawl.extensions.watchdog.CoverageWatchdog": 800,
                "sinacrawl.extensions.summary.RunSummary": 900,
            },
        },
    )
    crawler.spider = crawler._create_spider("s")
    crawler.extensions = crawler.extensions.from_crawler(crawler)
    crawler.stats.open_spider()
    crawler.stats.set_value("start_time", datetime.now(timezone.utc) - timedelta(seconds=5))
    send = crawler.signals.send_catch_log
    items = [
        ("china", "2026-11-27T09:00:00+08:00"),
        ("china", "2026-11-27T11:30:00+08:00"),
        ("stock", "2026-11-26T23:00:00+08:00"),
        ("china", None),
    ]
    for channel, published in items:
        item = {"published_at": published, "source": "新京报", "body_text": "x"}
        crawler.stats.inc_value(A + "scheduled")
        crawler.stats.inc_value(A + "stored")
        send(signals.item_scraped, item=item, response=_response(channel), spider=crawler.spider)
    send(
        signals.item_dropped,
        item={"published_at": None, "source": None, "body_text": None},
        response=_response("china"),
        exception=DropArticle("invalid"),
        spider=crawler.spider,
    )
    crawler.stats.inc_value(A + "dropped/invalid")
    send(signals.spider_closed, spider=crawler.spider, reason="finished")

    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["exit_status"] == 0 and data["exit_name"] == "ok"
    assert data["articles"]["stored"] == 4
    assert data["articles"]["dropped"] == {"invalid": 1}
    assert data["channels"] == {
        "china": {"stored": 3, "newest_published_at": "2026-11-27T11:30:00+08:00"},
        "stock": {"stored": 1, "newest_published_at": "2026-11-26T23:00:00+08:00"},
    }
    assert data["coverage"]["items"] == 5
    assert data["coverage"]["missing"]["published_at"] == 2
    assert data["warnings"] == [] and data["reasons"] == []
    assert 4 <= data["duration_s"] < 60
    assert crawler.stats.get_value(EXIT_STAT) == data["exit_status"]
    assert crawler.get_extension(RunSummary).result == data
    assert isinstance(crawler.get_extension(CoverageWatchdog), CoverageWatchdog)


def test_coverage_watchdog_makes_the_exit_non_zero(tmp_path: Path) -> None:
    crawler = get_crawler(
        Spider,
        {
            "SINACRAWL_SUMMARY": str(tmp_path / "s.json"),
            "EXTENSIONS_BASE": {},
            "EXTENSIONS": {
                "sinacrawl.extensions.watchdog.CoverageWatchdog": 800,
                "sinacrawl.extensions.summary.RunSummary": 900,
            },
        },
    )
    crawler.spider = crawler._create_spider("s")
    crawler.extensions = crawler.extensions.from_crawler(crawler)
    crawler.stats.open_spider()
    for i in range(10):
        item = {"published_at": None if i < 3 else "2026-11-27T09:00:00+08:00", "source": "x"}
        item["body_text"] = "正文"
        crawler.stats.inc_value(A + "stored")
        crawler.signals.send_catch_log(
            signals.item_scraped, item=item, response=None, spider=crawler.spider
        )
    crawler.signals.send_catch_log(signals.spider_closed, spider=crawler.spider, reason="finished")
    data = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    assert data["exit_status"] == ExitCode.COVERAGE
    assert data["warnings"] == ["30% of 10 items have no published_at (limit 20%)"]
    assert data["channels"] == {
        "-": {"stored": 10, "newest_published_at": "2026-11-27T09:00:00+08:00"}
    }


def test_temp_files_of_a_killed_summary_write_are_swept(tmp_path: Path) -> None:
    import subprocess
    import sys

    from sinacrawl.archive import TMP_PREFIX, TMP_SUFFIX

    dead = subprocess.run(
        [sys.executable, "-c", "print(__import__('os').getpid())"], capture_output=True
    )
    stale = tmp_path / f"{TMP_PREFIX}{int(dead.stdout)}-k1ll3d-0{TMP_SUFFIX}"
    live = tmp_path / f"{TMP_PREFIX}{os.getppid()}-wr1t1ng-0{TMP_SUFFIX}"  # the runner's parent
    nested = tmp_path / "sub" / stale.name
    nested.parent.mkdir()
    for path in (stale, live, nested):
        path.write_text("{")
    assert sweep_folder(tmp_path) == 1
    assert not stale.exists() and live.exists() and nested.exists()


def test_an_item_a_store_refuses_afterwards_is_not_stored_in_its_channel(tmp_path: Path) -> None:
    from sinacrawl.extensions.accounting import report_store_failed

    crawler = get_crawler(
        Spider,
        {
            "SINACRAWL_SUMMARY": str(tmp_path / "s.json"),
            "EXTENSIONS_BASE": {},
            "EXTENSIONS": {"sinacrawl.extensions.summary.RunSummary": 900},
        },
    )
    crawler.spider = crawler._create_spider("s")
    crawler.extensions = crawler.extensions.from_crawler(crawler)
    crawler.stats.open_spider()
    send = crawler.signals.send_catch_log
    report_store_failed(crawler, "ib", "mongo_rejected")  # before its item left the pipelines
    for doc_id in ("ia", "ib", "ic"):
        item = {"doc_id": doc_id, "published_at": "2026-11-27T09:00:00+08:00"}
        send(signals.item_scraped, item=item, response=_response("china"), spider=crawler.spider)
    report_store_failed(crawler, "ic", "mongo_rejected")  # after
    send(signals.spider_closed, spider=crawler.spider, reason="finished")
    data = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    assert data["channels"]["china"]["stored"] == 1
