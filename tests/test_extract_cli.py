"""``python -m sinacrawl.extract``: JSON Lines of exactly the item fields, real characters."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sinacrawl.extract import main
from sinacrawl.items import FIELDS
from tests.conftest import FIXTURES, REPO
from tests.update_golden import load_golden

PAGES = FIXTURES / "sina-pages"
P05 = PAGES / "p05_2018_finance_roll.html"
P05_URL = "https://finance.sina.com.cn/roll/2018-12-28/doc-ihqfskcn2160999.shtml"


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    """The real command in a child process, with a locale that is not UTF-8."""
    env = dict(os.environ, PYTHONPATH=str(REPO), LC_ALL="C", LANG="C", PYTHONIOENCODING="")
    return subprocess.run(
        [sys.executable, "-m", "sinacrawl.extract", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_one_page_one_json_line_with_exactly_the_item_fields():
    run = run_cli("--url", P05_URL + "?cre=tianyi", str(P05))
    assert run.returncode == 0, run.stderr.decode()
    lines = run.stdout.decode("utf-8").splitlines()
    assert len(lines) == 1
    item = json.loads(lines[0])
    assert list(item) == list(FIELDS)
    assert item["url"] == P05_URL
    assert item["title"] == load_golden("p05_2018_finance_roll")["title"]
    assert item["published_at"] == "2018-12-28T19:55:00+08:00"
    assert item["editor"] == "霍琦"
    # UTF-8, not ASCII-escaped: the Chinese title is in the raw bytes
    assert "中铁总辟谣".encode() in run.stdout
    assert b"\\u" not in run.stdout


@pytest.mark.slow
def test_several_files_in_order_urls_found_in_the_pages():
    """p16's og:url is percent-encoded with a query; p03 names itself only in a widget."""
    pages = [PAGES / "p16_2018_t_cj_caijingtoutiao.html", PAGES / "p03_2009_ent_blk_gb2312.html"]
    run = run_cli(*map(str, pages))
    assert run.returncode == 0, run.stderr.decode()
    items = [json.loads(line) for line in run.stdout.decode("utf-8").splitlines()]
    assert [i["url"] for i in items] == [
        "https://t.cj.sina.com.cn/articles/view/6479293414/182322be600100i6z0",
        "https://ent.sina.com.cn/y/2009-11-09/13482762951.shtml",
    ]
    assert [i["doc_id"] for i in items] == ["182322be600100i6z0", "13482762951"]
    assert items[1]["title"] == "爱戴掀起红盖头 庆东南劲爆音乐颁奖七周年(图)"  # GB2312 page


def test_nth_url_belongs_to_the_nth_file():
    out = io.StringIO()
    p14 = PAGES / "p14_2018_k_sina.html"
    url = "http://k.sina.com.cn/article_6598441619_1894c3a9300100elpc.html"
    assert main(["--url", url, str(p14), str(P05)], out=out) == 0
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["url"] == "https://k.sina.com.cn/article_6598441619_1894c3a9300100elpc.html"
    assert second["url"] == P05_URL  # found in p05 itself (og:url)


def test_same_code_path_as_the_spiders():
    from sinacrawl.loaders import build_article

    out = io.StringIO()
    assert main(["--url", P05_URL, str(P05)], out=out) == 0
    cli = json.loads(out.getvalue())
    direct = dict(build_article(P05.read_bytes(), P05_URL))
    for name in FIELDS:
        if name != "crawled_at":
            assert cli[name] == direct[name], name


def test_unreadable_file_is_reported_and_the_rest_still_printed(tmp_path: Path):
    missing = tmp_path / "nope.html"
    out = io.StringIO()
    assert main([str(missing), str(P05)], out=out) == 1
    assert len(out.getvalue().splitlines()) == 1


def test_empty_and_junk_files_give_items_with_nulls(tmp_path: Path):
    empty = tmp_path / "empty.html"
    empty.write_bytes(b"")
    junk = tmp_path / "junk.html"
    junk.write_bytes(bytes(range(256)) * 50)
    out = io.StringIO()
    assert main([str(empty), str(junk)], out=out) == 0
    for line in out.getvalue().splitlines():
        item = json.loads(line)
        assert list(item) == list(FIELDS)
        assert item["title"] is None and item["body_text"] is None and item["images"] == []


def test_more_urls_than_files_is_a_usage_error():
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "--url",
                "https://a.sina.com.cn/1.shtml",
                "--url",
                "https://b.sina.com.cn/2.shtml",
                str(P05),
            ]
        )
    assert exc.value.code == 2
