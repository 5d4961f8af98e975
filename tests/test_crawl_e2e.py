"""End to end: real ``scrapy crawl`` processes against the mock Sina site (a child process on
127.0.0.1), asserting on what a user sees — items, posts, stats — and on the mock's request
log, i.e. on exactly what the crawl fetched."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from sinacrawl.loaders import build_article
from sinacrawl.parsing.dates import BEIJING
from sinacrawl.testing.catalog import MockArticle
from sinacrawl.testing.process import (
    CrawlResult,
    RunningSite,
    child_env,
    mocksite_process,
    run_crawl,
)
from tests.conftest import FIXTURES, REPO

GOLDEN = REPO / "tests" / "golden"

pytestmark = pytest.mark.slow

ROLL = "/feed.mix.sina.com.cn/api/roll/get"
ARTICLES = "sinacrawl/articles/"

# Tests want speed, not politeness: the mock is local. Retries and timeouts stay bounded.
FAST = {
    "AUTOTHROTTLE_ENABLED": "False",
    "DOWNLOAD_DELAY": "0",
    "CONCURRENT_REQUESTS": "16",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "16",
    "RETRY_TIMES": "2",
    "DOWNLOAD_TIMEOUT": "5",
}


def recent_config(**extra: Any) -> dict[str, Any]:
    """A site whose newest article is an hour old, so default time windows include it."""
    newest = datetime.now(BEIJING).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    config: dict[str, Any] = {"seed": 11, "newest": newest.isoformat(), "size_kb": 6}
    config.update(extra)
    return config


THREE_CHANNELS = [
    {"name": "china", "pageid": 155, "lid": 1686, "count": 12, "path": "china/gncj"},
    {
        "name": "macro",
        "pageid": 155,
        "lid": 1687,
        "count": 8,
        "path": "china/hgjj",
        "also_list": ["china:1", "china:4"],
    },
    {
        "name": "usstock",
        "pageid": 153,
        "lid": 2518,
        "count": 7,
        "path": "stock/usstock/c",
        "also_list": ["macro:2"],
    },
]


def crawl(site: RunningSite, workdir: Path, spider: str = "finance", **kwargs: Any) -> CrawlResult:
    settings = {**FAST, **kwargs.pop("settings", {})}
    return run_crawl(spider, upstream=site.url, workdir=workdir, settings=settings, **kwargs)


def accounting(result: CrawlResult) -> dict[str, int]:
    """The run's article outcomes by kind, from its stats."""
    stats = result.stats
    return {
        "scheduled": stats.get(ARTICLES + "scheduled", 0),
        "stored": stats.get(ARTICLES + "stored", 0),
        "dropped": sum(v for k, v in stats.items() if k.startswith(ARTICLES + "dropped/")),
        "failed": sum(v for k, v in stats.items() if k.startswith(ARTICLES + "failed/")),
        "duplicate": stats.get(ARTICLES + "duplicate", 0),
    }


def assert_counts_add_up(result: CrawlResult) -> dict[str, int]:
    counts = accounting(result)
    outcomes = counts["stored"] + counts["dropped"] + counts["failed"] + counts["duplicate"]
    assert counts["scheduled"] == outcomes, (counts, result.stats_with(ARTICLES))
    return counts


def article_fetches(site: RunningSite, since: int = 0) -> Counter[str]:
    """How often each article page was requested (robots, listings and /offsite/ excluded)."""
    paths = Counter()
    for record in site.requests()[since:]:
        path = record["path"].split("?", 1)[0]
        if path in site.catalog.by_path:
            paths[path] += 1
    return paths


def roll_pages(site: RunningSite, lid: int) -> list[int]:
    pages = []
    for path in site.paths(ROLL):
        query = dict(p.split("=", 1) for p in path.split("?", 1)[1].split("&") if "=" in p)
        if query.get("lid") == str(lid):
            pages.append(int(query.get("page", 1)))
    return pages


def no_tracebacks(result: CrawlResult) -> None:
    assert "Traceback" not in result.log, result.log[result.log.index("Traceback") - 2000 :][:6000]


@pytest.fixture
def three_channel_site(tmp_path: Path) -> Iterator[RunningSite]:
    with mocksite_process(recent_config(channels=THREE_CHANNELS), tmp_path / "site") as site:
        yield site


# --- a whole crawl -----------------------------------------------------------------------------


def test_three_channel_crawl_extracts_every_listed_article_exactly_once(
    three_channel_site: RunningSite, tmp_path: Path
) -> None:
    site = three_channel_site
    result = crawl(site, tmp_path / "run", args={"channels": "china,macro,usstock"})
    no_tracebacks(result)
    assert result.returncode == 0, result.log[-3000:]
    expected = {a.doc_id: a for a in site.catalog.articles()}
    doc_ids = [item["doc_id"] for item in result.items]
    assert sorted(doc_ids) == sorted(expected)  # every one, none twice
    assert set(article_fetches(site).values()) == {1}
    assert len(article_fetches(site)) == len(expected)
    for item in result.items:
        article = expected[item["doc_id"]]
        assert item["url"] == article.url
        assert item["title"] == article.title
        assert item["published_at"] == article.ctime.isoformat()
        assert item["source"] == article.media_name
        owner = article.channels[0]  # an article listed twice keeps the first channel's path
        assert (
            item["categories"][-1]
            == {
                "china": "新浪财经－国內",
                "macro": "新浪财经－宏观经济",
                "usstock": "新浪财经－美股",
            }[owner]
        )
    assert len(result.posts()) == len(expected)
    counts = assert_counts_add_up(result)
    assert counts["stored"] == len(expected)


def test_extract_command_gives_what_the_crawl_gave(
    three_channel_site: RunningSite, tmp_path: Path
) -> None:
    """SPEC §3: ``python -m sinacrawl.extract`` and the spiders share one code path."""
    site = three_channel_site
    result = crawl(site, tmp_path / "run", args={"channels": "china,usstock"})
    assert result.items
    pages, command = tmp_path / "pages", [sys.executable, "-m", "sinacrawl.extract"]
    pages.mkdir()
    by_doc_id = {a.doc_id: a for a in site.catalog.articles()}
    for n, item in enumerate(result.items):
        mirror = site.url + by_doc_id[item["doc_id"]].mirror_path
        with urllib.request.urlopen(mirror, timeout=10) as response:  # the mock on 127.0.0.1
            (pages / f"{n}.html").write_bytes(response.read())
        command += ["--url", item["url"]]
    command += [str(pages / f"{n}.html") for n in range(len(result.items))]
    out = subprocess.run(
        command, cwd=REPO, env=child_env(), capture_output=True, timeout=120, check=True
    ).stdout.decode("utf-8")
    extracted = [json.loads(line) for line in out.splitlines()]
    assert len(extracted) == len(result.items)
    for item, direct in zip(result.items, extracted, strict=True):
        assert set(direct) == set(item)
        for name in sorted(set(item) - {"crawled_at", "categories"}):
            assert direct[name] == item[name], (item["url"], name)


def test_since_until_bound_what_is_fetched(three_channel_site: RunningSite, tmp_path: Path) -> None:
    site = three_channel_site
    china = site.catalog.channels["china"].articles
    # Between listing times (30 minutes apart), so no article sits on a boundary.
    since = china[7].ctime + (china[6].ctime - china[7].ctime) / 2
    until = china[2].ctime + (china[1].ctime - china[2].ctime) / 2
    args = {
        "channels": "china,macro",
        "since": since.strftime("%Y-%m-%dT%H:%M:%S"),
        "until": until.strftime("%Y-%m-%dT%H:%M:%S"),
        "num": 5,
        "max_pages": 10,
    }
    result = crawl(site, tmp_path / "run", args=args)
    no_tracebacks(result)
    inside = {
        a.mirror_path
        for name in ("china", "macro")
        for a in site.catalog.channels[name].articles
        if since <= a.ctime < until
    }
    assert inside and set(article_fetches(site)) == inside
    assert {item["doc_id"] for item in result.items} == {
        site.catalog.by_path[p].doc_id for p in inside
    }
    # China holds 12 articles, 5 a page; everything from the 8th on is older than `since`,
    # so page 2 is the last one worth reading.
    assert max(roll_pages(site, 1686)) == 2
    assert_counts_add_up(result)


def test_window_applies_to_the_pages_own_date_too(tmp_path: Path) -> None:
    config = recent_config(
        channels=[{"name": "china", "pageid": 155, "lid": 1686, "count": 6}],
        page_dates={"china:1": "2025-01-02T08:30:00+08:00", "china:2": "2030-01-02T08:30:00+08:00"},
    )
    with mocksite_process(config, tmp_path / "site") as site:
        china = site.catalog.channels["china"].articles
        since = (china[-1].ctime - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
        until = (china[0].ctime + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
        result = crawl(site, tmp_path / "run", args={"since": since, "until": until})
    no_tracebacks(result)
    assert len(article_fetches(site)) == 6  # the listing times are all inside the window
    refs = site.catalog.by_ref
    assert {i["doc_id"] for i in result.items} == {refs[f"china:{n}"].doc_id for n in (0, 3, 4, 5)}
    assert result.stat(ARTICLES + "dropped/out_of_window") == 2
    assert_counts_add_up(result)


def test_max_pages_bounds_the_listing_walk(three_channel_site: RunningSite, tmp_path: Path) -> None:
    site = three_channel_site
    result = crawl(site, tmp_path / "run", args={"channels": "china", "num": 5, "max_pages": 2})
    no_tracebacks(result)
    assert sorted(roll_pages(site, 1686)) == [1, 2]
    first_ten = {a.mirror_path for a in site.catalog.channels["china"].articles[:10]}
    assert set(article_fetches(site)) == first_ten
    assert len(result.items) == 10
    assert_counts_add_up(result)


def test_second_run_downloads_nothing_and_an_edited_article_is_fetched_again(
    tmp_path: Path,
) -> None:
    channels = [{"name": "china", "pageid": 155, "lid": 1686, "count": 6, "path": "china/gncj"}]
    archive = tmp_path / "archive"
    config = recent_config(channels=channels)
    with mocksite_process(config, tmp_path / "site1") as site:
        first = crawl(site, tmp_path / "run1", archive=archive)
        assert len(first.items) == 6
        seen = len(site.requests())
        second = crawl(site, tmp_path / "run2", archive=archive)
        no_tracebacks(second)
        assert article_fetches(site, since=seen) == Counter()
        assert second.stat(ARTICLES + "skipped_known") == 6
        assert second.returncode == 0, second.log[-3000:]
    with mocksite_process({**config, "revised": ["china:2"]}, tmp_path / "site2") as site:
        third = crawl(site, tmp_path / "run3", archive=archive)
        no_tracebacks(third)
        edited = site.catalog.by_ref["china:2"]
        assert article_fetches(site) == Counter({edited.mirror_path: 1})
        assert [item["doc_id"] for item in third.items] == [edited.doc_id]
        posts = [p for p in third.posts() if edited.doc_id in p.name]
        assert len(posts) == 1 and "（更新）" in posts[0].read_text(encoding="utf-8")
        assert len(third.posts()) == 6
        # -a refresh=1 downloads everything again; unchanged posts are not rewritten.
        seen = len(site.requests())
        before = {p: p.stat().st_mtime_ns for p in third.posts()}
        fourth = crawl(site, tmp_path / "run4", archive=archive, args={"refresh": 1})
        assert len(article_fetches(site, since=seen)) == 6
        assert len(fourth.items) == 6
        assert {p: p.stat().st_mtime_ns for p in fourth.posts()} == before


def test_html_listing_channel_is_walked_through_its_page_links(tmp_path: Path) -> None:
    channels = [
        {"name": "china", "pageid": 155, "lid": 1686, "count": 2},
        # No roll id: only the server-rendered listing lists these.
        {"name": "listed", "pageid": 0, "lid": 0, "count": 8, "path": "stock/s"},
    ]
    listing = [{"cid": 56592, "channel": "listed", "per_page": 5}]
    with mocksite_process(
        recent_config(channels=channels, html_listings=listing), tmp_path / "site"
    ) as site:
        result = crawl(site, tmp_path / "run", args={"channels": "listed", "max_pages": 5})
        no_tracebacks(result)
        listed = site.catalog.channels["listed"].articles
        assert {item["doc_id"] for item in result.items} == {a.doc_id for a in listed}
        listing_paths = site.paths("/finance.sina.com.cn/roll/c/56592.shtml")
        assert len(listing_paths) == 2 and any("page=2" in p for p in listing_paths)
        assert_counts_add_up(result)


def test_failing_listing_pages_are_reported_and_fail_the_run(tmp_path: Path) -> None:
    config = recent_config(
        channels=THREE_CHANNELS,
        listing_faults={
            "china:2": {"kind": "status", "status": 500},
            "macro:1": {"kind": "malformed"},
            "usstock:1": {"kind": "flaky", "status": 503, "times": 1},
        },
    )
    with mocksite_process(config, tmp_path / "site") as site:
        args = {"channels": "china,macro,usstock", "num": 5}
        result = crawl(site, tmp_path / "run", args=args)
    no_tracebacks(result)
    channels = site.catalog.channels
    expected = {a.doc_id for a in channels["china"].articles[:5]}
    expected |= {a.doc_id for a in channels["usstock"].articles}  # 503 once, then fine
    assert {item["doc_id"] for item in result.items} == expected
    assert 3 not in roll_pages(site, 1686)  # nothing past the page that failed
    assert result.stats_with("sinacrawl/listings/failed/") == {
        "sinacrawl/listings/failed/http_500": 1,
        "sinacrawl/listings/failed/malformed": 1,
    }
    assert result.returncode != 0  # unread listings: the run did not do its job
    assert result.summary is not None and result.summary["exit_status"] == result.returncode
    assert_counts_add_up(result)


def test_default_politeness_as_the_site_sees_it(tmp_path: Path) -> None:
    """With the shipped settings (no test speed-ups): an honest User-Agent, robots.txt read
    before anything else on a host, and never more requests in flight per host than allowed."""
    from sinacrawl import settings as shipped

    channels = [{"name": "china", "pageid": 155, "lid": 1686, "count": 10}]
    with mocksite_process(recent_config(channels=channels), tmp_path / "site") as site:
        result = run_crawl("finance", upstream=site.url, workdir=tmp_path / "run")
    no_tracebacks(result)
    assert len(result.items) == 10
    requests = site.requests()
    assert all(r["ua"] == shipped.USER_AGENT for r in requests)
    assert "sinacrawl" in shipped.USER_AGENT
    first_by_host: dict[str, str] = {}
    for r in requests:
        first_by_host.setdefault(r["path"].split("/")[1], r["path"])
    assert first_by_host == {
        host: f"/{host}/robots.txt" for host in ("feed.mix.sina.com.cn", "finance.sina.com.cn")
    }
    limit = shipped.CONCURRENT_REQUESTS_PER_DOMAIN
    assert max(r["inflight"] for r in requests) <= limit


# --- faults ------------------------------------------------------------------------------------

FAULTS: dict[str, dict[str, Any]] = {
    "china:1": {"kind": "flaky", "status": 503, "times": 2},
    "china:2": {"kind": "throttle", "retry_after": 2, "times": 1},
    "china:3": {"kind": "status", "status": 404},
    "china:4": {"kind": "redirect_loop"},
    "china:5": {"kind": "offsite"},
    "china:6": {"kind": "hang", "seconds": 60},
    "china:7": {"kind": "reset"},
    "china:8": {"kind": "short_body"},
    "china:9": {"kind": "oversize"},
    "china:10": {"kind": "gbk_utf8_header"},
    "china:13": {"kind": "status", "status": 500},
    "china:14": {"kind": "oversize", "chunked": True},
    "china:15": {"kind": "throttle", "retry_after": 3600, "times": 5},
    "china:16": {"kind": "gzip_bomb"},
}
STORED = ("china:0", "china:1", "china:2", "china:10", "china:11")
# Each article that cannot be stored fails for its own, named reason.
FAILED_REASONS = {
    "china:3": "http_404",
    "china:4": "redirect_loop",
    "china:5": "offsite_redirect",
    "china:6": "timeout",
    "china:7": "connection_lost",
    "china:8": "data_loss",
    "china:9": "too_large",
    "china:12": "robots_unreachable",  # its host's robots.txt answers 503
    "china:13": "http_500",
    "china:15": "http_429",
    "china:14": "too_large",  # streamed (chunked) past DOWNLOAD_MAXSIZE
    "china:16": "too_large",  # inflated beyond DOWNLOAD_MAXSIZE
}


@pytest.fixture(scope="module")
def fault_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningSite, Any]]:
    """One crawl over a channel where most articles misbehave; the tests below read it."""
    tmp = tmp_path_factory.mktemp("faults")
    config = recent_config(
        channels=[{"name": "china", "pageid": 155, "lid": 1686, "count": 17}],
        faults=FAULTS,
        omit={"china:11": ["date", "source"]},
        hosts={"china:12": "tech.sina.com.cn"},
        robots={"tech.sina.com.cn": {"status": 503}},
    )
    with mocksite_process(config, tmp / "site") as site:
        result = crawl(site, tmp / "run", settings={"DOWNLOAD_TIMEOUT": "4"}, timeout=300)
        yield site, result


def stored_ids(result: CrawlResult) -> set[str]:
    return {item["doc_id"] for item in result.items}


def test_faults_end_in_the_expected_outcome(fault_run) -> None:
    site, result = fault_run
    no_tracebacks(result)
    by_ref = site.catalog.by_ref
    assert result.summary is not None, "no SINACRAWL_SUMMARY file"
    assert stored_ids(result) == {by_ref[r].doc_id for r in STORED}
    assert len(result.posts()) == len(STORED)
    counts = assert_counts_add_up(result)
    assert counts["scheduled"] == 17
    assert counts["stored"] == len(STORED)
    assert result.summary["articles"]["failed"] == dict(Counter(FAILED_REASONS.values()))
    assert counts["failed"] == len(FAILED_REASONS)
    assert counts["dropped"] == counts["duplicate"] == 0


def test_run_summary_agrees_with_the_stats(fault_run) -> None:
    _, result = fault_run
    assert result.summary is not None, "no SINACRAWL_SUMMARY file"
    articles = result.summary["articles"]
    assert articles["scheduled"] == 17 and articles["stored"] == len(STORED)
    stats_failed = {
        k.removeprefix(ARTICLES + "failed/"): v
        for k, v in result.stats_with(ARTICLES + "failed/").items()
    }
    assert articles["failed"] == stats_failed
    assert result.summary["exit_status"] == result.returncode


def test_transient_errors_are_retried_a_bounded_number_of_times(fault_run) -> None:
    site, result = fault_run
    fetches = article_fetches(site)
    assert fetches[site.catalog.by_ref["china:1"].mirror_path] == 3  # 503, 503, 200
    assert fetches[site.catalog.by_ref["china:13"].mirror_path] <= 3  # RETRY_TIMES=2
    assert fetches[site.catalog.by_ref["china:3"].mirror_path] == 1  # a 404 is final
    # Retry-After beyond what a run waits for: given up at once, not retried.
    assert fetches[site.catalog.by_ref["china:15"].mirror_path] == 1
    assert result.duration < 120


def test_retry_after_is_honoured(fault_run) -> None:
    site, _ = fault_run
    path = site.catalog.by_ref["china:2"].mirror_path
    times = [r["t"] for r in site.requests() if r["path"] == path]
    assert len(times) == 2 and times[1] - times[0] >= 1.8


def test_redirects_off_sina_are_never_followed(fault_run) -> None:
    site, result = fault_run
    assert not site.paths("/offsite/")
    assert result.stats_with(ARTICLES + "failed/") or result.stats_with(ARTICLES + "dropped/")


def test_robots_txt_that_fails_with_5xx_disallows_the_host(fault_run) -> None:
    site, _ = fault_run
    assert [r["status"] for r in site.requests() if r["path"] == "/tech.sina.com.cn/robots.txt"]
    assert site.catalog.by_ref["china:12"].mirror_path not in article_fetches(site)


def test_gbk_page_behind_a_utf8_header_is_read_right(fault_run) -> None:
    site, result = fault_run
    article = site.catalog.by_ref["china:10"]
    item = next(i for i in result.items if i["doc_id"] == article.doc_id)
    assert item["title"] == article.title
    assert "\ufffd" not in json.dumps(item, ensure_ascii=False)


def test_page_without_date_or_source_takes_them_from_the_listing(fault_run) -> None:
    site, result = fault_run
    article: MockArticle = site.catalog.by_ref["china:11"]
    item = next(i for i in result.items if i["doc_id"] == article.doc_id)
    assert item["published_at"] == article.ctime.isoformat()
    assert item["source"] == article.media_name
    assert item["title"] == article.title


# --- the article spider and the real pages ---------------------------------------------------


def test_article_spider_fetches_given_urls_and_skips_bad_ones(
    three_channel_site: RunningSite, tmp_path: Path
) -> None:
    site = three_channel_site
    wanted = [site.catalog.by_ref["china:0"], site.catalog.by_ref["usstock:3"]]
    urls = ",".join([wanted[0].url, "not a url", "ftp://finance.sina.com.cn/x", wanted[1].url])
    result = crawl(site, tmp_path / "run", spider="article", args={"urls": urls})
    no_tracebacks(result)
    assert sorted(i["doc_id"] for i in result.items) == sorted(a.doc_id for a in wanted)
    assert "not a url" in result.log
    urls_file = tmp_path / "urls.txt"
    urls_file.write_text(f"{wanted[1].url}\n\n", encoding="utf-8")
    again = crawl(site, tmp_path / "run2", spider="article", args={"urls_file": urls_file})
    assert [i["doc_id"] for i in again.items] == [wanted[1].doc_id]


@pytest.mark.skipif(not (FIXTURES / "sina-pages").is_dir(), reason="real fixtures not present")
def test_real_pages_crawled_through_a_listing_match_their_golden_files(tmp_path: Path) -> None:
    """The crawl and ``python -m sinacrawl.extract`` share one code path: what a crawl gets
    from each real page is what the hand-checked golden file says."""
    channels = [{"name": "china", "pageid": 155, "lid": 1686, "count": 3}]
    config = recent_config(channels=channels, real_pages=str(FIXTURES))
    with mocksite_process(config, tmp_path / "site") as site:
        result = crawl(site, tmp_path / "run", args={"channels": "china", "max_pages": 5})
    no_tracebacks(result)
    real = [a for a in site.catalog.articles() if a.real_file]
    assert len(real) == 16
    counts = assert_counts_add_up(result)
    assert counts["scheduled"] == 19 and counts["stored"] == 19
    items = {item["doc_id"]: item for item in result.items}
    for article in real:
        item = items[article.doc_id]
        golden_path = GOLDEN / (Path(article.real_file).stem + ".json")
        golden = json.loads(golden_path.read_text(encoding="utf-8"))
        for name in ("title", "editor"):
            assert item[name] == golden[name], (article.ref, name)
        for name in ("published_at", "source"):  # the listing fills these only when missing
            if golden[name] is not None:
                assert item[name] == golden[name], (article.ref, name)
        body = Path(article.real_file).read_bytes()
        direct = dict(build_article(body, item["url"], content_type="text/html"))
        for name in sorted(set(direct) - {"crawled_at", "categories", "published_at", "source"}):
            assert item[name] == direct[name], (article.ref, name)


def test_offline_demo_archives_every_listed_article(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sinacrawl.testing import demo

    archive = tmp_path / "demo-archive"
    assert demo.main(["--archive", str(archive), "--no-real-pages"]) == 0
    out = capsys.readouterr().out
    generated = sum(c["count"] for c in demo.CHANNELS)
    posts = [p for p in archive.rglob("*.md") if ".sinacrawl" not in p.parts]
    assert len(posts) == generated
    assert f"{generated} posts in {archive}" in out
    # Run again: every article is stored already, nothing is downloaded twice.
    assert demo.main(["--archive", str(archive), "--no-real-pages"]) == 0
    again = capsys.readouterr().out
    assert f"sinacrawl/articles/skipped_known: {generated + 1}" in again  # one is listed twice
    assert "sinacrawl/articles/stored" not in again


def test_crawl_into_mongodb_and_the_archive_together(
    three_channel_site: RunningSite, tmp_path: Path, mongo_uri: str
) -> None:
    from pymongo import MongoClient

    site = three_channel_site
    args = {"channels": "china,macro,usstock"}
    settings = {"MONGO_URI": mongo_uri}
    result = crawl(site, tmp_path / "run", args=args, settings=settings)
    no_tracebacks(result)
    assert result.returncode == 0, result.log[-3000:]
    expected = {a.doc_id: a for a in site.catalog.articles()}
    client = MongoClient(mongo_uri, serverSelectionTimeoutMS=5000)
    try:
        docs = {d["_id"]: d for d in client.get_default_database()["articles"].find()}
    finally:
        client.close()
    assert set(docs) == set(expected)
    for doc_id, doc in docs.items():
        article = expected[doc_id]
        assert doc["revision"] == 1 and doc["title"] == article.title
        assert isinstance(doc["published_at"], datetime)
        stored_mtime = doc["listing_mtime"].replace(tzinfo=timezone.utc)  # BSON dates are UTC
        assert int(stored_mtime.timestamp()) == int(article.mtime.timestamp())
    assert len(result.posts()) == len(expected)
    # Both stores hold everything: the next run downloads no article.
    seen = len(site.requests())
    again = crawl(site, tmp_path / "run2", args=args, settings=settings, archive=result.archive)
    assert article_fetches(site, since=seen) == Counter()
    listed = sum(len(c.articles) for c in site.catalog.channels.values())
    assert again.stat(ARTICLES + "skipped_known") == listed  # an entry listed twice counts twice
