"""`scrapy crawl` exits with the status the run summary decided (real processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from sinacrawl.extensions.lock import RunLock
from sinacrawl.extensions.summary import ExitCode
from tests.opskit import (
    OPS_SETTINGS,
    PYTHON,
    crawl_ops,
    local_site,
    scrapy_env,
    settings_args,
    write_spider_module,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site():
    with local_site() as server:
        yield server.base


def test_a_good_run_exits_0_and_writes_its_summary(tmp_path: Path, site: str) -> None:
    run = crawl_ops(tmp_path, site, "ok", n=6)
    assert run.returncode == ExitCode.OK, run.stderr[-2000:]
    assert run.summary is not None
    assert run.summary["exit_status"] == 0 and run.summary["reasons"] == []
    assert run.summary["articles"]["scheduled"] == 6
    assert run.summary["articles"]["stored"] == 6
    assert run.summary["channels"]["china"] == {
        "stored": 6,
        "newest_published_at": "2026-11-27T15:00:00+08:00",
    }
    assert run.summary["duration_s"] >= 0
    assert not list(tmp_path.glob(".summary*.tmp")), "the atomic write left a temp file"


def test_every_article_page_failing_exits_nothing_stored(tmp_path: Path, site: str) -> None:
    run = crawl_ops(tmp_path, site, "fail", n=5)
    assert run.returncode == ExitCode.NOTHING_STORED, run.stderr[-2000:]
    assert run.summary is not None
    assert run.summary["exit_name"] == "nothing_stored"
    assert run.summary["articles"]["failed"] == {"http_500": 5}
    assert "none was stored" in run.summary["reasons"][0]
    assert "http_500 5" in run.summary["reasons"][0]


def test_a_broken_extractor_exits_nothing_stored(tmp_path: Path, site: str) -> None:
    run = crawl_ops(tmp_path, site, "invalid", n=3)
    assert run.returncode == ExitCode.NOTHING_STORED
    assert run.summary is not None
    assert run.summary["articles"]["dropped"] == {"invalid": 3}


def test_spider_exceptions_exit_spider_errors(tmp_path: Path, site: str) -> None:
    run = crawl_ops(tmp_path, site, "raise", n=3)
    assert run.returncode == ExitCode.SPIDER_ERRORS
    assert run.summary is not None
    assert run.summary["exit_name"] == "spider_errors"
    assert run.summary["pages"]["spider_exceptions"] == 3
    # The nothing-stored reason is listed too, after the more severe one.
    assert len(run.summary["reasons"]) == 2


def test_a_failing_store_exits_storage_failure(tmp_path: Path, site: str) -> None:
    run = crawl_ops(tmp_path, site, "storage", n=3)
    assert run.returncode == ExitCode.STORAGE_FAILURE
    assert run.summary is not None
    assert run.summary["reasons"][0] == "storage failures: 3 pipeline errors"


def test_low_field_coverage_warns_and_exits_coverage(tmp_path: Path, site: str) -> None:
    run = crawl_ops(tmp_path, site, "nosource", n=6)
    assert run.returncode == ExitCode.COVERAGE
    assert run.summary is not None
    assert run.summary["warnings"] == ["100% of 6 items have no source (limit 20%)"]
    assert run.summary["coverage"]["missing"]["source"] == 6
    # The threshold is a setting: allow everything missing and the same run is fine.
    relaxed = crawl_ops(tmp_path, site, "nosource", n=6, SINACRAWL_COVERAGE_MAX_MISSING="1.0")
    assert relaxed.returncode == ExitCode.OK


def test_a_held_lock_exits_at_once_with_the_lock_code(tmp_path: Path, site: str) -> None:
    lock = tmp_path / "run.lock"
    with RunLock(lock):
        started = time.monotonic()
        run = crawl_ops(tmp_path, site, "ok", SINACRAWL_LOCK=str(lock))
        took = time.monotonic() - started
    assert run.returncode == ExitCode.LOCK_HELD
    assert "another run is in progress" in run.stderr
    assert f"pid {os.getpid()}" in run.stderr
    assert run.summary is None, "a run that did nothing must not overwrite the summary"
    assert took < 20
    # Released: the next run goes ahead.
    assert crawl_ops(tmp_path, site, "ok", SINACRAWL_LOCK=str(lock)).returncode == ExitCode.OK


def test_a_lock_that_cannot_be_taken_is_a_clear_error(tmp_path: Path, site: str) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    run = crawl_ops(tmp_path, site, "ok", SINACRAWL_LOCK=str(not_a_folder / "run.lock"))
    # a setting that cannot work is found before the crawl (sinacrawl.config): usage, exit 2
    assert run.returncode == ExitCode.USAGE
    assert "sinacrawl: SINACRAWL_LOCK=" in run.stderr and "Traceback" not in run.stderr
    assert run.summary is None


def test_ctrl_c_exits_interrupted_with_a_summary(tmp_path: Path, site: str) -> None:
    write_spider_module(tmp_path)
    summary = tmp_path / "summary.json"
    settings = {
        **OPS_SETTINGS,
        "ARCHIVE_DIR": str(tmp_path / "archive"),
        "SINACRAWL_SUMMARY": str(summary),
        "CONCURRENT_REQUESTS": "1",
    }
    command = [PYTHON, "-m", "scrapy", "crawl", "ops", "-a", f"base={site}", "-a", "n=40"]
    command += ["-a", "mode=slow", *settings_args(settings)]
    child = subprocess.Popen(
        command, cwd=tmp_path, env=scrapy_env(tmp_path), stderr=subprocess.PIPE, text=True
    )
    try:
        _wait_for(lambda: (tmp_path / "archive" / ".sinacrawl" / "run.lock").exists(), 30)
        time.sleep(2.5)  # a few slow pages in
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == ExitCode.INTERRUPTED, err[-2000:]
    data = __import__("json").loads(summary.read_text(encoding="utf-8"))
    assert data["close_reason"] == "shutdown"
    assert data["reasons"] == ["run stopped early (shutdown)"]


def _wait_for(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


BAD_SYMBOL = "expected sh, sz or bj followed by 6 digits, e.g. sh600519, sz000001, bj430047"


@pytest.mark.parametrize(
    ("spider", "argument", "message"),
    [
        ("finance", "channels=chna", "unknown channel 'chna'; valid names: china"),
        ("finance", "since=yesterday", "-a since='yesterday': expected a date or datetime"),
        ("stock", "symbols=sh600519,600519", f"bad stock symbol '600519': {BAD_SYMBOL}"),
        ("stock", "symbols=hk00700", f"bad stock symbol 'hk00700': {BAD_SYMBOL}"),
    ],
)
def test_bad_spider_arguments_exit_usage_with_one_clear_line(
    tmp_path: Path, spider: str, argument: str, message: str
) -> None:
    run = subprocess.run(
        [
            *(PYTHON, "-m", "scrapy", "crawl", spider, "-a", argument),
            *("-s", f"ARCHIVE_DIR={tmp_path / 'archive'}"),
            *("-s", "SINACRAWL_UPSTREAM=http://127.0.0.1:9"),
        ],
        cwd=tmp_path,
        env=scrapy_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == ExitCode.USAGE
    assert f"sinacrawl: {message}" in run.stderr
    assert len([line for line in run.stderr.splitlines() if line.startswith("sinacrawl:")]) == 1
    assert "Traceback" not in run.stderr
