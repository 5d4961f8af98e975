"""History: date-range backfills through the roll API's day windows, resumable per day, and
gaps a cron run closes or reports — with real ``scrapy crawl`` processes against the mock
Sina site, asserting against the mock's own article list and request log."""

from __future__ import annotations

import json
import os
import random
import shlex
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from sinacrawl.extensions.summary import ExitCode
from sinacrawl.history import DayTracker, HistoryState, backfill_command, day_start
from sinacrawl.parsing.dates import BEIJING
from sinacrawl.testing.catalog import build_catalog
from sinacrawl.testing.daywindows import published_between
from sinacrawl.testing.process import (
    RunningSite,
    crawl_command,
    kill_9_when,
    mocksite_process,
    run_crawl,
)
from tests.test_crawl_e2e import FAST as E2E_FAST

ROLL = "/feed.mix.sina.com.cn/api/roll/get"
NEWEST = datetime(2026, 11, 20, 12, 0, tzinfo=BEIJING)
FAST = {**E2E_FAST, "SINACRAWL_LOCK": "off"}


def site(per_day: list[int], now: datetime = NEWEST, **channel: Any) -> dict[str, Any]:
    """One channel (china) with ``per_day`` articles a day, the day of NEWEST first."""
    spec = {"name": "china", "pageid": 155, "lid": 1686, "per_day": per_day, "path": "china/gncj"}
    spec.update(channel)
    return {
        "seed": 7,
        "newest": NEWEST.isoformat(),
        "now": now.isoformat(),
        "size_kb": 3,
        "gbk_every": 0,
        "channels": [spec],
    }


def day_requests(paths: list[str]) -> list[date]:
    """The days of the day-window requests among ``paths``."""
    days = []
    for path in paths:
        query = parse_qs(urlsplit(path).query)
        if path.startswith(ROLL) and "etime" in query:
            days.append(date.fromisoformat(query["date"][0]))
    return days


def article_paths(paths: list[str]) -> list[str]:
    return [p for p in paths if "/doc-" in p]


def post_ids(archive: Path) -> Counter[str]:
    return Counter(p.stem[11:] for p in archive.rglob("*.md") if ".sinacrawl" not in p.parts)


def state(archive: Path) -> dict[str, Any]:
    path = archive / ".sinacrawl" / "history.json"
    return json.loads(path.read_text("utf-8"))["streams"] if path.exists() else {}


def complete_days(archive: Path) -> set[date]:
    stream = state(archive).get("china/155-1686", {})
    return {date.fromisoformat(d) for d in stream.get("complete", [])}


def crawl(running: RunningSite, workdir: Path, archive: Path, **args: str):
    return run_crawl(
        "finance",
        upstream=running.url,
        workdir=workdir,
        archive=archive,
        args={"num": "10", **args},
        settings=FAST,
        timeout=240,
    )


# --- units ------------------------------------------------------------------------------------


def test_a_day_is_done_once_its_pages_are_read_and_every_article_ended():
    done = []
    tracker = DayTracker(lambda key, bucket: done.append((key, bucket.failed)))
    tracker.add((0, "2026-11-01"), "a")
    tracker.add((0, "2026-11-01"), "b")
    tracker.resolve("a", "stored")
    tracker.pages_done((0, "2026-11-01"))
    assert done == []  # b is still out
    tracker.resolve("b", "failed/http_404")  # permanent: the day is complete without it
    assert done == [((0, "2026-11-01"), 0)]
    tracker.add((0, "2026-11-02"), "c")
    tracker.pages_done((0, "2026-11-02"))
    tracker.resolve("c", "failed/timeout")  # may work next time: the day stays incomplete
    assert done[-1] == ((0, "2026-11-02"), 1)
    assert tracker.resolve("unknown", "stored") is None


def test_history_state_survives_a_torn_or_foreign_file(tmp_path: Path):
    path = tmp_path / "history.json"
    path.write_text("{not json", "utf-8")
    assert HistoryState.load(path).complete_days("china/155-1686") == set()
    path.write_text('{"streams": {"china/155-1686": {"complete": 3, "gaps": [[1]]}}}', "utf-8")
    loaded = HistoryState.load(path)
    assert loaded.complete_days("china/155-1686") == set()
    assert loaded.gaps("china/155-1686") == []
    loaded.mark_complete("china/155-1686", date(2026, 11, 1))
    assert HistoryState.load(path).is_complete("china/155-1686", date(2026, 11, 1))


def test_the_mock_serves_day_windows_with_swapped_names_and_a_total():
    catalog = build_catalog(site([5, 0, 300, 5]))
    channel = catalog.channels["china"]
    from sinacrawl.testing.daywindows import listed

    start = day_start(date(2026, 11, 18))
    window = {"etime": [str(start)], "stime": [str(start + 86400)]}
    assert len(listed(catalog, channel, window)) == 300
    empty = {"etime": [str(start + 86400)], "stime": [str(start + 2 * 86400)]}
    assert listed(catalog, channel, empty) == []
    # the other way round (a crawler that guessed the names) finds nothing
    assert listed(catalog, channel, {"etime": window["stime"], "stime": window["etime"]}) == []


# --- end to end -------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_60_day_backfill_stores_exactly_the_window_and_a_rerun_repeats_nothing(tmp_path: Path):
    per_day = [4] * 64
    per_day[10], per_day[20], per_day[33] = 0, 0, 120  # empty days, a busy day
    archive = tmp_path / "archive"
    since, until = date(2026, 9, 19), date(2026, 11, 18)  # 60 days, all older than page 1
    with mocksite_process(site(per_day), tmp_path / "site") as running:
        window = published_between(
            running.catalog,
            "china",
            datetime(2026, 9, 19, tzinfo=BEIJING),
            datetime(2026, 11, 18, tzinfo=BEIJING),
        )
        first = crawl(running, tmp_path / "one", archive, since=str(since), until=str(until))
        assert first.returncode == ExitCode.OK, first.log[-3000:]
        assert set(post_ids(archive)) == {a.doc_id for a in window}
        assert max(post_ids(archive).values()) == 1
        days = day_requests(running.paths())
        assert days[0] == date(2026, 11, 17) and min(days) == since, "newest day first"
        assert Counter(days)[date(2026, 10, 18)] == 12  # the busy day: ⌈120/10⌉ pages
        assert complete_days(archive) == {since + timedelta(n) for n in range(60)}
        assert first.summary["channels"]["china"]["days_complete"] == 60
        assert first.summary["gaps"] == []

        logged = len(running.requests())
        again = crawl(running, tmp_path / "two", archive, since=str(since), until=str(until))
        repeat = [r["path"] for r in running.requests()[logged:]]
    assert again.returncode == ExitCode.OK, again.log[-3000:]
    assert article_paths(repeat) == []
    assert day_requests(repeat) == []
    assert "60 of 60 days complete from earlier runs" in again.log


@pytest.mark.slow
def test_kill_9_during_a_backfill_then_the_same_command_loses_nothing(tmp_path: Path):
    seed = int(os.environ.get("SINACRAWL_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    per_day = [6] * 24
    archive = tmp_path / "archive"
    since, until = "2026-10-28", "2026-11-18"
    catalog = build_catalog(site(per_day))
    by_day: dict[date, set[str]] = {}
    for article in published_between(
        catalog, "china", datetime(2026, 10, 28, tzinfo=BEIJING), NEWEST
    ):
        by_day.setdefault(article.ctime.date(), set()).add(article.doc_id)
    wanted = {d for day, ids in by_day.items() if day < date(2026, 11, 18) for d in ids}
    kills = []
    with mocksite_process(site(per_day), tmp_path / "site") as running:
        for moment in range(3):
            logged = len(running.requests())
            done_before = complete_days(archive)
            settings = {
                **FAST,
                "CONCURRENT_REQUESTS": "2",
                "SINACRAWL_UPSTREAM": running.url,
                "ARCHIVE_DIR": str(archive),
            }
            args = {"since": since, "until": until, "num": "5"}
            command = crawl_command("finance", args, settings)
            target = len(done_before) + rng.randint(1, 5)
            finished = kill_9_when(
                command,
                lambda: len(complete_days(archive)) >= target,  # noqa: B023 (called at once)
                tmp_path / f"killed-{moment}.log",
                extra_delay=rng.uniform(0, 0.3),
            )
            complete = complete_days(archive)
            kills.append(f"#{moment}: {'finished' if finished else 'killed'}, {len(complete)} days")
            stored = set(post_ids(archive))
            for day in complete:
                assert by_day.get(day, set()) <= stored, f"day {day} complete, articles missing"
            repeated = set(day_requests([r["path"] for r in running.requests()[logged:]]))
            assert not repeated & done_before, f"complete days listed again: {kills}"
        final = crawl(running, tmp_path / "final", archive, since=since, until=until, num="5")
    context = f"seed {seed} (SINACRAWL_CRASH_SEED), {kills}"
    assert sum("killed" in k for k in kills) >= 2, context
    assert final.returncode == ExitCode.OK, context + final.log[-3000:]
    stored = post_ids(archive)
    assert set(stored) == wanted, context
    assert max(stored.values()) == 1, context


@pytest.mark.slow
def test_cron_closes_a_3_day_outage_and_reports_a_30_day_one_with_the_command(tmp_path: Path):
    per_day = [8] * 50
    archive = tmp_path / "archive"
    start = NEWEST - timedelta(days=40)
    cron = {"max_pages": "2", "num": "5"}  # 10 entries a run: about a day and a quarter

    def cron_run(now: datetime, name: str, **args: str):
        with mocksite_process(site(per_day, now), tmp_path / f"site-{name}") as running:
            result = crawl(running, tmp_path / name, archive, **{**cron, **args})
            return result, running.paths()

    first, _ = cron_run(start, "first")
    assert first.returncode == ExitCode.OK, first.log[-3000:]

    # 3 days down: the cron run notices and reads the missing days through day windows
    after3 = start + timedelta(days=3)
    second, paths = cron_run(after3, "after-3-days")
    assert second.returncode == ExitCode.OK, second.log[-3000:]
    assert day_requests(paths), "the gap was not read through day windows"
    catalog = build_catalog(site(per_day, after3))
    expected = {
        a.doc_id for a in published_between(catalog, "china", start - timedelta(hours=3), after3)
    }
    assert expected <= set(post_ids(archive))
    assert second.summary["gaps"] == []

    # 30 days down: 7 days are read, the rest is reported with the command that fills it
    after33 = after3 + timedelta(days=30)
    third, paths = cron_run(after33, "after-30-days")
    assert third.returncode == ExitCode.GAP, third.log[-3000:]
    assert len(set(day_requests(paths))) == 7
    (gap,) = third.summary["gaps"]
    lines = [line for line in third.log.splitlines() if "fill it with" in line]
    assert len(lines) == 1 and gap["command"] in lines[0]
    assert gap["command"].startswith("scrapy crawl finance -a channels=china -a since=")

    # the next cron run still says so: a gap never passes silently
    fourth, _ = cron_run(after33, "still-open")
    assert fourth.returncode == ExitCode.GAP and fourth.summary["gaps"] == [gap]

    args = dict(word.split("=", 1) for word in shlex.split(gap["command"]) if "=" in word)
    filled, _ = cron_run(after33, "backfill", **args)
    assert filled.returncode == ExitCode.OK, filled.log[-3000:]
    catalog = build_catalog(site(per_day, after33))
    everything = {a.doc_id for a in published_between(catalog, "china", start, after33)}
    assert everything <= set(post_ids(archive))
    last, _ = cron_run(after33 + timedelta(hours=1), "after-backfill")
    assert last.returncode == ExitCode.OK and last.summary["gaps"] == []


@pytest.mark.slow
def test_a_channel_that_ignores_day_windows_is_walked_instead_and_said_once(tmp_path: Path):
    archive = tmp_path / "archive"
    with mocksite_process(site([5] * 12, windows=False), tmp_path / "site") as running:
        result = crawl(
            running, tmp_path / "run", archive, since="2026-11-12", until="2026-11-17", num="5"
        )
        wanted = published_between(
            running.catalog,
            "china",
            datetime(2026, 11, 12, tzinfo=BEIJING),
            datetime(2026, 11, 17, tzinfo=BEIJING),
        )
        paths = running.paths()
    assert result.returncode == ExitCode.OK, result.log[-3000:]
    assert len(day_requests(paths)) == 1  # detected on the first page of the first day
    said = [line for line in result.log.splitlines() if "ignores day windows" in line]
    assert len(said) == 1 and "WARNING" in said[0]
    assert set(post_ids(archive)) == {a.doc_id for a in wanted}
    # it walked back to since, not to the end of the listing
    pages = [p for p in paths if p.startswith(ROLL) and "etime" not in p]
    assert len(pages) <= 12


def test_backfill_command_covers_whole_days():
    gap = (day_start(date(2026, 10, 1)) + 3600, day_start(date(2026, 10, 5)) + 1)
    assert backfill_command("macro", gap).endswith("since=2026-10-01 -a until=2026-10-06")


@pytest.mark.slow
def test_an_html_listing_channel_is_walked_back_to_since(tmp_path: Path):
    config = site([10] * 20, name="listed", pageid=0, lid=0, path="roll")
    config["html_listings"] = [{"cid": 56592, "channel": "listed", "per_page": 20}]
    archive = tmp_path / "archive"
    with mocksite_process(config, tmp_path / "site") as running:
        result = crawl(
            running, tmp_path / "run", archive, channels="listed", since="2026-11-08",
            until="2026-11-12",
        )  # fmt: skip
        wanted = published_between(
            running.catalog,
            "listed",
            datetime(2026, 11, 8, tzinfo=BEIJING),
            datetime(2026, 11, 12, tzinfo=BEIJING),
        )
        listings = running.paths("/finance.sina.com.cn/roll/c/")
    assert result.returncode == ExitCode.OK, result.log[-3000:]
    assert set(post_ids(archive)) == {a.doc_id for a in wanted}
    assert len(listings) == 7  # 20 a page, 10 a day: back to Nov 8, no further
    assert "WARNING: Channel listed" not in result.log


@pytest.mark.slow
def test_a_listing_that_fails_leaves_a_gap_the_next_good_run_closes(tmp_path: Path):
    archive = tmp_path / "archive"
    start = NEWEST - timedelta(days=3)
    cron = {"max_pages": "2", "num": "5"}

    def cron_run(now: datetime, name: str, **extra: Any):
        config = {**site([8] * 6, now), **extra}
        with mocksite_process(config, tmp_path / f"site-{name}") as running:
            return crawl(running, tmp_path / name, archive, **cron)

    assert cron_run(start, "first").returncode == ExitCode.OK
    broken = cron_run(
        start + timedelta(hours=6),
        "broken",
        listing_faults={"china:1": {"kind": "status", "status": 500}},
    )
    assert broken.returncode == ExitCode.SPIDER_ERRORS, broken.log[-3000:]
    (gap,) = broken.summary["gaps"]
    assert sum("fill it with" in line for line in broken.log.splitlines()) == 1
    healed = cron_run(start + timedelta(hours=7), "healed")
    assert healed.returncode == ExitCode.OK, healed.log[-3000:]
    assert healed.summary["gaps"] == [], gap
