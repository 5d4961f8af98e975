"""``scrapy crawl live`` end to end against the mock 7×24 feed, whose clock the tests move.

- a first run stores every flash the feed lists; a run a minute later reads one page and
  stores only the new flashes and the edited one, whose MongoDB revision goes up and whose
  day post is rewritten once; a run with nothing new rewrites nothing;
- an outage longer than the feed reaches back is a gap: one log line, ``gaps`` in the
  summary, exit 9; the next run is clean again;
- ``kill -9`` at random moments, then a final run: every flash in its day post exactly
  once, whole posts, no temporary file, every flash in MongoDB;
- real Hexo builds the day posts: each day's page shows its flashes in time order, with
  their Beijing times.
"""

from __future__ import annotations

import os
import random
import re
import sys
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from lxml import html as lxml_html
from pymongo import MongoClient

from sinacrawl.extensions.summary import ExitCode
from sinacrawl.flashposts import day_post_path
from sinacrawl.testing.flashfeed import FlashFeed
from sinacrawl.testing.process import (
    RunningSite,
    kill_9_when,
    mocksite_process,
    run_crawl,
)
from tests.test_crash import assert_whole_post, posts, stray_temp_files

pytestmark = pytest.mark.slow

FEED = "/zhibo.sina.com.cn/api/zhibo/feed"
FAST = {
    "AUTOTHROTTLE_ENABLED": "False",
    "DOWNLOAD_DELAY": "0",
    "RETRY_TIMES": "1",
    "DOWNLOAD_TIMEOUT": "5",
    "MONGO_FLUSH_SECONDS": "0.5",
}
FLASH_ID = re.compile(r'<div class="flash" id="flash-(\d+)">')


def advance(site: RunningSite, seconds: float) -> None:
    with urllib.request.urlopen(f"{site.url}/_mock/clock?advance={seconds}", timeout=5) as r:
        r.read()


def feed_requests(site: RunningSite) -> int:
    return len(site.paths(FEED))


def archived_ids(archive: Path) -> Counter[str]:
    """Flash ids in the day posts, counted."""
    found: Counter[str] = Counter()
    for post in posts(archive):
        found.update(FLASH_ID.findall(post.read_text(encoding="utf-8")))
    return found


def listed_ids(config: dict[str, Any], now: str | None = None) -> set[str]:
    """What the mock feed lists at its (unmoved or ``now``) time, deleted ones aside."""
    feed = FlashFeed({**config["flash_feed"], **({"now": now} if now else {})})
    return {str(f.id) for f in feed.visible() if not f.deleted}


def crawl(site: RunningSite, tmp: Path, name: str, archive: Path, **settings: str):
    return run_crawl(
        "live",
        upstream=site.url,
        workdir=tmp / name,
        archive=archive,
        settings={**FAST, **settings},
        timeout=120,
    )


def test_first_run_then_a_minute_later_then_nothing_new(tmp_path: Path, mongo_uri: str) -> None:
    # One flash every 20 s; the feed lists the newest 60; flash 88 is edited 100 s after it
    # went out, which is one minute after the first run; flash 89 is deleted by then.
    config = {
        "flash_feed": {
            "interval": 20,
            "reach": 60,
            "edits": [{"n": 88, "after": 100, "text": "<b>更正：</b>第88条快讯已更新。"}],
            "deletions": [{"n": 85, "after": 1}],
        }
    }
    archive = tmp_path / "archive"
    mongo = MongoClient(mongo_uri, serverSelectionTimeoutMS=5000).get_default_database()
    with mocksite_process(config, tmp_path / "site") as site:
        first = crawl(site, tmp_path, "first", archive, MONGO_URI=mongo_uri)
        assert first.returncode == ExitCode.OK, first.log[-3000:]
        expected = listed_ids(config)
        assert {i["id"] for i in first.items} == expected and len(expected) == 59
        assert first.summary["flashes"]["stored"] == 59
        assert first.summary["flashes"]["dropped"] == {"deleted": 1}
        assert feed_requests(site) == 2  # 20 newest, then all 60 in one page of 100
        assert archived_ids(archive) == Counter({i: 1 for i in expected})
        assert mongo.flashes.count_documents({}) == 59
        edited_id = str(5000000 + 88)
        assert mongo.flashes.find_one({"_id": edited_id})["revision"] == 1
        post = archive / day_post_path("2026-09-01")
        written = post.stat().st_mtime_ns

        advance(site, 60)
        before = feed_requests(site)
        later = crawl(site, tmp_path, "later", archive, MONGO_URI=mongo_uri)
        assert later.returncode == ExitCode.OK, later.log[-3000:]
        assert feed_requests(site) - before == 1
        new = {str(5000000 + n) for n in (91, 92, 93)}
        assert {i["id"] for i in later.items} == new | {edited_id}
        assert later.stat("sinacrawl/flashes/hexo/added") == 3
        assert later.stat("sinacrawl/flashes/hexo/changed") == 1
        assert later.stat("sinacrawl/flashes/hexo/posts_written") == 1
        doc = mongo.flashes.find_one({"_id": edited_id})
        assert (doc["revision"], doc["text"]) == (2, "更正：第88条快讯已更新。")
        assert doc["updated_at"] > doc["published_at"]
        assert mongo.flashes.count_documents({}) == 62
        assert mongo.flashes.count_documents({"revision": 1}) == 61
        text = post.read_text(encoding="utf-8")
        assert "第88条快讯已更新" in text and "（更新于 00:31:00）" in text
        assert archived_ids(archive) == Counter({i: 1 for i in expected | new})
        rewritten = post.stat().st_mtime_ns
        assert rewritten != written

        before = feed_requests(site)
        again = crawl(site, tmp_path, "again", archive, MONGO_URI=mongo_uri)
        assert again.returncode == ExitCode.OK, again.log[-3000:]
        assert feed_requests(site) - before == 1
        assert again.items == [] and again.stat("sinacrawl/flashes/skipped_known") == 19
        assert again.summary["flashes"]["dropped"] == {"deleted": 1}  # flash 85, on page 1
        assert post.stat().st_mtime_ns == rewritten
        assert "] WARNING:" not in first.log + later.log + again.log


def test_an_outage_longer_than_the_feed_reaches_is_a_gap(tmp_path: Path) -> None:
    config = {"flash_feed": {"interval": 20, "reach": 60}}
    archive = tmp_path / "archive"
    with mocksite_process(config, tmp_path / "site") as site:
        first = crawl(site, tmp_path, "first", archive)
        assert first.returncode == ExitCode.OK, first.log[-3000:]
        newest = max(first.items, key=lambda i: int(i["id"]))

        advance(site, 3 * 86400)  # three days off: 12,960 flashes went out, 60 are listed
        before = feed_requests(site)
        outage = crawl(site, tmp_path, "outage", archive)
        assert outage.returncode == ExitCode.GAP == 9, outage.log[-3000:]
        assert feed_requests(site) - before == 2  # as far back as the feed reaches
        assert len(outage.items) == 60
        oldest = min(outage.items, key=lambda i: int(i["id"]))
        (gap,) = outage.summary["gaps"]
        assert gap == {
            "channel": "7x24",
            "feed": 152,
            "from": newest["published_at"],
            "to": oldest["published_at"],
            "command": None,
        }
        assert outage.summary["exit_name"] == "gap"
        gap_lines = [line for line in outage.log.splitlines() if "gap from" in line]
        assert len(gap_lines) == 1 and "ERROR" in gap_lines[0]

        advance(site, 60)  # reported once: the next run is back to one page
        before = feed_requests(site)
        after = crawl(site, tmp_path, "after", archive)
        assert after.returncode == ExitCode.OK, after.log[-3000:]
        assert feed_requests(site) - before == 1 and len(after.items) == 3


def test_a_failing_feed_page_is_not_a_gap_and_the_next_run_reads_back_again(
    tmp_path: Path,
) -> None:
    config = {"flash_feed": {"interval": 20, "reach": 60}}
    archive = tmp_path / "archive"
    with mocksite_process(config, tmp_path / "site") as site:
        assert crawl(site, tmp_path, "first", archive).returncode == ExitCode.OK
    later = "2026-09-01T00:40:00+08:00"  # 30 new flashes: more than the first page
    advance_config = {
        "flash_feed": {
            **config["flash_feed"],
            "now": later,
            "faults": {"1:100": {"kind": "status", "status": 500}},
        }
    }
    with mocksite_process(advance_config, tmp_path / "site2") as site:
        broken = crawl(site, tmp_path, "broken", archive)
        assert broken.returncode == ExitCode.SPIDER_ERRORS, broken.log[-3000:]
        assert broken.summary["gaps"] == []
    config["flash_feed"]["now"] = later
    with mocksite_process(config, tmp_path / "site3") as site:
        healed = crawl(site, tmp_path, "healed", archive)
        assert healed.returncode == ExitCode.OK, healed.log[-3000:]
    assert set(archived_ids(archive)) == {str(5000000 + n) for n in range(31, 121)}


def test_kill_9_at_random_moments_then_a_final_run_loses_and_duplicates_nothing(
    tmp_path: Path, mongo_uri: str
) -> None:
    seed = int(os.environ.get("SINACRAWL_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    # A flash every 30 minutes, 300 listed: six days of posts, 30 pages of 10.
    config = {"flash_feed": {"interval": 1800, "reach": 300}}
    archive = tmp_path / "archive"
    settings = {
        **FAST,
        "ARCHIVE_DIR": str(archive),
        "MONGO_URI": mongo_uri,
        "FLASH_FLUSH_ITEMS": "7",
        "MONGO_BATCH_SIZE": "5",
        "DOWNLOAD_DELAY": "0.02",
        "LOG_LEVEL": "INFO",
    }
    kills = []
    pages = ["-a", "page_size=10", "-a", "catchup_size=10", "-a", "max_pages=40"]
    with mocksite_process(config, tmp_path / "site") as site:
        command = [sys.executable, "-m", "scrapy", "crawl", "live"]
        command += pages
        command += ["-s", f"SINACRAWL_UPSTREAM={site.url}"]
        for name, value in settings.items():
            command += ["-s", f"{name}={value}"]
        for moment in range(4):
            target = feed_requests(site) + rng.randint(1, 12)
            finished = kill_9_when(
                command,
                lambda: feed_requests(site) >= target,  # noqa: B023 (called at once)
                tmp_path / f"killed-{moment}.log",
                extra_delay=rng.uniform(0, 0.05),
            )
            kills.append(f"#{moment}: {'finished' if finished else 'killed'} at {target}")
        final = run_crawl(
            "live",
            upstream=site.url,
            workdir=tmp_path / "final",
            archive=archive,
            args={"page_size": "10", "catchup_size": "10", "max_pages": "40"},
            settings=settings,
            timeout=120,
        )
    context = f"seed {seed} (SINACRAWL_CRASH_SEED), kills: {kills}"
    assert sum("killed" in k for k in kills) >= 3, context
    assert final.returncode == ExitCode.OK, f"{context}\n{final.log[-3000:]}"
    expected = listed_ids(config)
    stored = archived_ids(archive)
    assert set(stored) == expected, context
    assert [i for i, n in stored.items() if n > 1] == [], context
    assert len(posts(archive)) >= 6
    for post in posts(archive):
        assert_whole_post(post)
    assert stray_temp_files(archive) == [], context
    mongo = MongoClient(mongo_uri, serverSelectionTimeoutMS=5000).get_default_database()
    assert {d["_id"] for d in mongo.flashes.find({}, {"_id": 1})} == expected, context


def test_real_hexo_shows_each_day_with_its_flashes_in_order(tmp_path: Path) -> None:
    from tests.node_tools import node_project
    from tests.test_hexo_build import HEXO_PACKAGES, generate, make_site

    modules = node_project("hexo8", HEXO_PACKAGES) / "node_modules"
    config = {"flash_feed": {"interval": 3700, "reach": 60}}  # about 23 a day, 3 to 4 days
    posts_dir = make_site(tmp_path / "site", modules, "Asia/Shanghai")
    with mocksite_process(config, tmp_path / "mock") as site:
        result = run_crawl(
            "live",
            upstream=site.url,
            workdir=tmp_path / "run",
            archive=posts_dir,
            settings={**FAST, "HEXO_TIMEZONE": "Asia/Shanghai"},
        )
    assert result.returncode == ExitCode.OK, result.log[-3000:]
    pages = generate(tmp_path / "site", modules)
    days: dict[str, list[dict]] = {}
    for item in result.items:
        days.setdefault(item["published_at"][:10], []).append(item)
    assert len(days) >= 3 and len(pages) == len(days)
    for day, flashes in days.items():
        page = pages["_posts/" + day_post_path(day)]
        assert page.find_class("p-name")[0].text_content() == f"新浪财经 7×24 {day}"
        assert page.find(".//time").get("datetime") == f"{_utc_midnight(day)}"
        content = page.find_class("e-content")[0]
        assert not content.xpath(".//script|.//iframe|.//*[@onclick]")
        flashes.sort(key=lambda f: f["published_at"])
        shown = [(t.get("datetime"), t.text_content()) for t in content.iter("time")]
        assert shown == [(f["published_at"], f["published_at"][11:19]) for f in flashes]
        blocks = content.find_class("flash")
        assert [b.get("id") for b in blocks] == [f"flash-{f['id']}" for f in flashes]
        for block, flash in zip(blocks, flashes, strict=True):
            # <br> shows as a line break, which the plain text has as a space
            said = block.find_class("flash-text")[0].text_content()
            assert re.sub(r"\s+", "", said) == re.sub(r"\s+", "", flash["text"]), flash["id"]
            for img in block.iter("img"):
                assert img.get("referrerpolicy") == "no-referrer"


def _utc_midnight(day: str) -> str:
    from datetime import datetime, timezone

    from sinacrawl.parsing.dates import BEIJING

    midnight = datetime.fromisoformat(day).replace(tzinfo=BEIJING).astimezone(timezone.utc)
    return midnight.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_lxml_is_what_hexo_pages_are_read_with() -> None:
    # The Hexo test reads pages with lxml; a flash id attribute survives it.
    root = lxml_html.fragment_fromstring('<div class="flash" id="flash-1">x</div>')
    assert root.get("id") == "flash-1"


def test_tags_and_since_choose_the_flashes_and_since_ends_the_paging(tmp_path: Path) -> None:
    config = {"flash_feed": {"interval": 20, "reach": 60}}
    since = "2026-09-01T00:25:00+08:00"
    with mocksite_process(config, tmp_path / "site") as site:
        result = run_crawl(
            "live",
            upstream=site.url,
            workdir=tmp_path / "run",
            args={"tags": "A股,宏观", "since": "2026-09-01T00:25"},
            settings=FAST,
        )
        assert result.returncode == ExitCode.OK, result.log[-3000:]
        assert feed_requests(site) == 1  # the first page already reaches back past since
    feed = FlashFeed(config["flash_feed"])
    expected = {
        str(f.id)
        for f in feed.visible()
        if f.created.isoformat() >= since and {"A股", "宏观"} & {name for _, name in f.tags}
    }
    assert expected and {i["id"] for i in result.items} == expected
    assert all({"A股", "宏观"} & set(i["tags"]) for i in result.items)
    state = tmp_path / "run" / "archive" / ".sinacrawl" / "7x24"
    assert [p.name for p in state.glob("run-*.json")] == ["run-7x24-A股,宏观.json"]
