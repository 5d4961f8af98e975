"""Hostile responses (issue 14): each case is a real crawl against a scripted hostile mirror.

Every URL, header and byte a response carries is the attacker's. Payload URLs name only
127.0.0.x addresses and ``.invalid`` hosts. Each crawl is bounded (max_pages, the server's
request cap, CLOSESPIDER_TIMEOUT) and its exit status must be the one its summary and log
report.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from sinacrawl.testing.process import CrawlResult, child_env
from tests.conftest import REPO
from tests.hostile_server import (
    HTML_LISTING_PATH,
    ROLL_PATH,
    HostileSite,
    article_page,
    crawl,
    mirror_path,
    roll_json,
    serving,
)

pytestmark = pytest.mark.slow


def consistent(result: CrawlResult) -> None:
    """The exit status is the one the summary file and the log's summary line report, and
    the log holds no traceback."""
    assert result.summary is not None, result.log[-3000:]
    assert result.returncode == result.summary["exit_status"], result.log[-3000:]
    logged = re.findall(r"run summary: exit (\d+)", result.log)
    assert logged == [str(result.returncode)], logged
    assert "Traceback" not in result.log, result.log[result.log.find("Traceback") - 500 :][:4000]


def html_listing(entries: list[str], next_href: str | None) -> bytes:
    items = "".join(
        f'<li><a href="{href}" target="_blank">标题{i}</a><span>(09月28日 23:{i:02d})</span></li>'
        for i, href in enumerate(entries)
    )
    pager = (
        f'<span class="pagebox_next"><a href="{next_href}">下一页</a></span>' if next_href else ""
    )
    return (
        "<html><head><meta charset='utf-8'></head><body>"
        f"<ul class='list_009'>{items}</ul><div class='pagebox'>{pager}</div></body></html>"
    ).encode()


def test_links_from_responses_never_leave_sina_nor_climb_out_of_their_host(tmp_path):
    """Bugs 1 and 2: next-page links, entries and dot segments in any spelling."""
    site = HostileSite()
    with serving(site):
        good = site.add_article("p05")
        # Bug 1: an off-site next page (through the mirror's own address) whose next link is
        # a local file, and an off-site entry.
        site.add(
            HTML_LISTING_PATH,
            html_listing([good, f"{site.url}/offsite/doc-ioffsite1.shtml"], f"{site.url}/anything"),
        )
        site.add(
            "/anything", html_listing([f"{site.url}/x/doc-ioffsite2.shtml"], "file:///etc/passwd")
        )
        # Bug 2: dot segments that a mirror resolving ``..`` would turn into another host's
        # page, spelled plainly, percent-encoded in mixed case, and with backslashes.
        climbing = [
            "https://finance.sina.com.cn/../127.0.0.9/latest/meta-data/doc-idotseg3.shtml",
            "https://finance.sina.com.cn/a/%2e%2E/%2E%2e/127.0.0.9/doc-idotseg4.shtml",
            "https://finance.sina.com.cn/a\\..\\..\\127.0.0.9\\doc-idotseg5.shtml",
            "https://finance.sina.com.cn/a/%2f..%2f127.0.0.9/doc-idotseg6.shtml",
        ]
        site.add(ROLL_PATH, roll_json(climbing), content_type="application/json")
        for n in (3, 4, 5, 6):
            site.add(f"/127.0.0.9/latest/meta-data/doc-idotseg{n}.shtml", article_page("p11")[1])
            site.add(f"/127.0.0.9/doc-idotseg{n}.shtml", article_page("p11")[1])
        result = crawl(site, tmp_path, channels="listed,china")

    sent = site.requests
    assert not [p for p in sent if "offsite" in p or p.startswith(("/anything", "/x/"))], sent
    assert "file:" not in result.log.replace("file:///etc/passwd (not_http)", "")
    assert not [p for p in sent if ".." in p or "%2e" in p.lower() or "\\" in p], sent
    assert not [p for p in sent if p.startswith("/127.0.0.9")], sent
    assert result.stat("sinacrawl/urls/refused/not_sina") == 2
    assert result.stat("sinacrawl/urls/refused/encoded_separator") == 1
    # one log line per kind of refusal, however many URLs
    assert result.log.count("Refused ") == len(result.stats_with("sinacrawl/urls/refused/"))
    # Resolved, the climbing entries are plain Sina paths the mirror does not have.
    assert sorted(p.name for p in result.posts()) == ["2018-12-28-ihqfskcn2160999.md"]
    assert all("initmeau2811260" not in json.dumps(i) for i in result.items)
    consistent(result)


def test_a_malformed_roll_page_keeps_its_good_entries_and_a_page_is_capped(tmp_path):
    """Bugs 5 and 6: JSON nested 200,000 deep and a total of 1e999 are counted as malformed
    without a traceback, the good entry on the page is stored, and entries past
    LISTING_MAX_ENTRIES are ignored (logged once)."""
    site = HostileSite()
    with serving(site):
        good = site.add_article("p05")
        deep = '{"url": "https://finance.sina.com.cn/deep/doc-ideep1.shtml", "x": %s}' % (
            "[" * 200_000 + "]" * 200_000
        )
        padding = [f"https://finance.sina.com.cn/pad/doc-ipad{i}.shtml" for i in range(40)]
        site.add(
            ROLL_PATH,
            roll_json([good, *padding], total="1e999", extra=deep),
            content_type="application/json",
        )
        result = crawl(site, tmp_path, settings={"LISTING_MAX_ENTRIES": "5"})

    # Without a usable total the listing goes on to max_pages=2 (the same page again).
    pages = result.stat("sinacrawl/listings/pages")
    assert pages == 2
    assert result.stat("sinacrawl/listings/malformed/too_deep") == pages
    assert result.stat("sinacrawl/listings/malformed/bad_total") == pages
    assert result.stat("sinacrawl/listings/entries_over_limit") == 37 * pages  # 42 records, 5 read
    assert result.log.count("LISTING_MAX_ENTRIES=5") == 1
    assert result.log.count("partly malformed") == 2  # once per kind
    pads = [p for p in site.requests if "/pad/" in p]
    assert len(pads) == 4, pads
    assert [p.name for p in result.posts()] == ["2018-12-28-ihqfskcn2160999.md"]
    assert "RecursionError" not in result.log and "OverflowError" not in result.log
    consistent(result)


def test_an_article_page_is_the_article_whole_or_a_counted_failure(tmp_path):
    """Bugs 4 and 7: a meta refresh on an article page is not followed (the page is stored
    as itself, never the refresh target under its doc_id); a refresh stub is counted with a
    reason; a page cut short by a lying Content-Length is data_loss, not a complete post."""
    site = HostileSite()
    with serving(site):
        url11, page11 = article_page("p11")
        refresh_home = b'<meta http-equiv="refresh" content="0;url=https://finance.sina.com.cn/">'
        site.add(mirror_path(url11), page11.replace(b"<head>", b"<head>" + refresh_home, 1))
        site.add("/finance.sina.com.cn/", b"<html><head><title>HOME</title></head></html>")
        stub = (
            f'<html><head><meta http-equiv="refresh" content="0;url={site.url}/elsewhere">'
            "</head><body></body></html>"
        ).encode()
        url05 = site.add_article("p05", stub)
        url04, page04 = article_page("p04")
        cut = len(page04) // 2
        site.add(
            mirror_path(url04),
            raw=b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (cut, page04),
        )
        site.add(ROLL_PATH, roll_json([url11, url05, url04]), content_type="application/json")
        result = crawl(site, tmp_path)

    assert not site.requested("/finance.sina.com.cn/") and not site.requested("/elsewhere")
    posts = result.posts()
    assert [p.name for p in posts] == ["2026-09-28-initmeau2811260.md"]
    assert "奥多比预测今年美国假日季线上购物将创历史新高" in posts[0].read_text("utf-8")
    articles = result.summary["articles"]
    assert articles["stored"] == 1
    assert articles["failed"].get("data_loss") == 1, articles
    lost = sum(articles["failed"].values()) + sum(articles["dropped"].values())
    assert lost == 2 and "unfinished" not in articles["failed"], articles
    consistent(result)


def test_posts_stay_inside_the_archive_and_storage_failures_are_one_line_each(tmp_path):
    """Bugs 3 and 9: a category folder that is a symlink out of the archive is not written
    through; a category path that is a file fails each article with one log line (doc_id,
    reason), counted in the summary, with no traceback and no item dump."""
    site = HostileSite()
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = tmp_path / "archive"
    root = archive / "金融" / "新浪财经"
    root.mkdir(parents=True)
    (root / "新浪财经－国內").symlink_to(outside, target_is_directory=True)
    (root / "新浪财经－宏观经济").write_text("a file where a folder should be")
    with serving(site):
        urls = [site.add_article(k) for k in ("p05", "p11", "p04")]
        # china and macro read the same roll API path: china's posts escape, macro's hit
        # the file; each article is stored once (the first channel to list it).
        site.add(ROLL_PATH, roll_json(urls), content_type="application/json")
        result = crawl(site, tmp_path, channels="china", archive=archive)
        result_macro = crawl(site, tmp_path / "macro", channels="macro", archive=archive)

    assert list(outside.iterdir()) == []
    for run, reason in ((result, "outside_archive"), (result_macro, "not_a_folder")):
        assert run.returncode == 4, run.log[-3000:]
        assert run.summary["articles"]["failed"] == {reason: 3}
        assert run.stat(f"sinacrawl/storage/failed/{reason}") == 3
        lines = [line for line in run.log.splitlines() if "could not store" in line]
        assert len(lines) == 3 and all(reason in line for line in lines), lines
        assert "body_html" not in run.log  # no item dumped into the log
        consistent(run)


def test_bad_settings_get_one_line_each_and_exit_2(tmp_path):
    """Every setting is checked before the crawl: one ``sinacrawl: SETTING=value: …`` line,
    exit 2, no traceback, no summary claiming another status; passwords are not shown."""
    archive_file = tmp_path / "archive"
    archive_file.write_text("not a folder")
    summary = tmp_path / "summary.json"
    cases = [
        ({"ARCHIVE_DIR": str(archive_file), "SINACRAWL_LOCK": "off"}, {}, ["ARCHIVE_DIR="]),
        (
            {
                "HEXO_TIMEZONE": "Mars/Olympus",
                "MONGO_URI": "mongo://user:hunter2@db.invalid/x",
                "LISTING_MAX_ENTRIES": "many",
            },
            {"EXTRACT_TIMEOUT": "soon"},
            [
                "HEXO_TIMEZONE=Mars/Olympus",
                "MONGO_URI=",
                "LISTING_MAX_ENTRIES=many",
                "EXTRACT_TIMEOUT=soon",
            ],
        ),
    ]
    for settings, env, names in cases:
        command = [sys.executable, "-m", "scrapy", "crawl", "finance"]
        settings = {
            "SINACRAWL_UPSTREAM": "http://127.0.0.1:9",
            "SINACRAWL_SUMMARY": str(summary),
            **settings,
        }
        for name, value in settings.items():
            command += ["-s", f"{name}={value}"]
        done = subprocess.run(
            command, cwd=REPO, env=child_env(env), capture_output=True, text=True, timeout=120
        )
        lines = [line for line in done.stderr.splitlines() if line.startswith("sinacrawl: ")]
        assert done.returncode == 2, done.stderr[-3000:]
        assert [
            n for n in names if not any(line.startswith(f"sinacrawl: {n}") for line in lines)
        ] == []
        assert len(lines) == len(names), lines
        assert "Traceback" not in done.stderr + done.stdout
        assert "hunter2" not in done.stderr + done.stdout
        assert not summary.exists()


def test_a_temp_file_left_by_any_writer_is_swept_by_the_next_run(tmp_path):
    """Bug 8: a writer whose temporary file could not be removed (its folder turned
    read-only between write and rename) and that then ended cleanly; the next run's start-up
    sweep must still find the file."""
    archive = tmp_path / "archive"
    script = f"""
import errno
from sinacrawl import archive as a
root = a.Path({str(archive)!r})
swept, mark = a.begin_writing(root)
def read_only(*args, **kwargs):
    raise PermissionError(errno.EACCES, "Permission denied")
a.os.replace = read_only
a.os.unlink = read_only
try:
    a.atomic_write(root / "cat" / "post.md", b"x" * 12000, 0o644)
except PermissionError:
    pass
a.end_writing(mark)  # a clean end, the folder still read-only
"""
    subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=child_env(), check=True, timeout=60
    )
    left = list(archive.rglob(".sinacrawl-tmp-*"))
    assert len(left) == 1  # the writer could not remove it
    from sinacrawl.archive import begin_writing, end_writing

    swept, mark = begin_writing(archive)
    end_writing(mark)
    assert swept == 1
    assert list(archive.rglob(".sinacrawl-tmp-*")) == []
    assert os.listdir(archive / ".sinacrawl" / "writers") == []


def test_a_crawl_that_cannot_start_exits_with_the_status_its_summary_reports(tmp_path):
    """An archive whose state folder cannot be used (found only when the store opens): the
    process, the summary file and the log's summary line all say exit 1."""
    archive = tmp_path / "archive"
    (archive / ".sinacrawl").mkdir(parents=True)
    (archive / ".sinacrawl" / "writers").write_text("a file where a folder should be")
    summary = tmp_path / "summary.json"
    command = [sys.executable, "-m", "scrapy", "crawl", "finance"]
    settings = {
        "ARCHIVE_DIR": str(archive),
        "SINACRAWL_LOCK": "off",
        "SINACRAWL_UPSTREAM": "http://127.0.0.1:9",
        "SINACRAWL_SUMMARY": str(summary),
    }
    for name, value in settings.items():
        command += ["-s", f"{name}={value}"]
    done = subprocess.run(
        command, cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=120
    )
    log = done.stdout + done.stderr
    assert done.returncode == 1, log[-3000:]
    assert json.loads(summary.read_text("utf-8"))["exit_status"] == 1
    assert re.findall(r"run summary: exit (\d+)", log) == ["1"]
    assert "the crawl could not start: [Errno 20] Not a directory" in log
