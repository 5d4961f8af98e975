"""sinacrawl as an installed package: one ``sinacrawl`` command that works from any folder,
quiet healthy runs, and Scrapy's own ``shell``/``parse`` with the project's settings.

The installed-package test builds a fresh virtualenv, installs this checkout into it with
pip (no dependencies: the venv sees this interpreter's through a .pth file) and runs the
command from an empty folder with no PYTHONPATH, so only the installed copy can answer.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import tomllib
from scrapy import Request
from scrapy.exceptions import UsageError
from scrapy.settings import Settings

from sinacrawl import __version__, cli
from sinacrawl.addons import DistributedAddon, MongoAddon
from sinacrawl.testing.demo import LOCAL_SETTINGS
from sinacrawl.testing.process import mocksite_process, run_crawl
from tests.conftest import REPO, real_pages

# A healthy run logs no warning (cron users alert on them) and no deprecation.
NOISE = re.compile(r"\] (WARNING|ERROR|CRITICAL):|Deprecat")
SMALL_SITE = {
    "seed": 7,
    "size_kb": 20,
    "channels": [{"name": "china", "pageid": 155, "lid": 1686, "count": 6, "path": "china/gncj"}],
}


def noise(log: str) -> list[str]:
    return [line for line in log.splitlines() if NOISE.search(line)]


# --- the command ----------------------------------------------------------------------------


def test_usage_lists_every_command(capsys) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {name}" in out for name in cli.COMMANDS)
    assert cli.main([]) == 2


def test_unknown_command_is_a_usage_error(capsys) -> None:
    assert cli.main(["crwal"]) == 2
    assert "unknown command 'crwal'" in capsys.readouterr().err


def test_every_command_entry_resolves() -> None:
    for target, _ in cli.COMMANDS.values():
        assert callable(cli.load(target)), target


def test_crawl_help_lists_the_spiders_and_their_arguments(capsys) -> None:
    assert cli.main(["crawl", "--help"]) == 0
    out = capsys.readouterr().out
    assert "finance:" in out and "-a channels=china,macro" in out
    assert "article:" in out and "urls_file=" in out


def test_version_and_ranges_live_in_one_place() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]
    assert "version" not in project and "version" in project["dynamic"]
    for name in ("requirements.txt", "requirements-dev.txt"):
        lines = [
            line.strip()
            for line in (REPO / name).read_text("utf-8").splitlines()
            if line.strip() and not line.startswith("#")
        ]
        # The requirement files install the project itself; ranges are pyproject's alone.
        assert lines and all(line.startswith("-e .") for line in lines), (name, lines)
    assert {"mongo", "redis", "dev"} <= set(project["optional-dependencies"])


def test_one_spider_at_most_claims_a_url_for_scrapy_shell() -> None:
    from scrapy.spiderloader import SpiderLoader
    from scrapy.utils.project import get_project_settings

    os.environ.setdefault("SCRAPY_SETTINGS_MODULE", "sinacrawl.settings")
    loader = SpiderLoader.from_settings(get_project_settings())
    listing = "https://feed.mix.sina.com.cn/api/roll/get?pageid=155&lid=1686&page=1"
    article = "https://finance.sina.com.cn/roll/2018-12-28/doc-ihqfskcn2160999.shtml"
    assert loader.find_by_request(Request(listing)) == ["finance"]
    assert loader.find_by_request(Request(article)) == []  # Scrapy's default spider, our settings
    feed = "https://zhibo.sina.com.cn/api/zhibo/feed?page=1&page_size=20&zhibo_id=152"
    assert loader.find_by_request(Request(feed)) == ["live"]


# --- optional stores: switched on by their URL, each needing its extra --------------------


def test_mongo_off_is_one_info_line_and_on_is_silent(caplog) -> None:
    with caplog.at_level(logging.DEBUG, logger="sinacrawl.addons"):
        MongoAddon().update_settings(Settings({"MONGO_URI": None}))
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", "MongoDB off (MONGO_URI is not set)")
    ]
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="sinacrawl.addons"):
        MongoAddon().update_settings(Settings({"MONGO_URI": "mongodb://127.0.0.1:1/sina"}))
    assert caplog.records == []


@pytest.mark.parametrize(
    ("addon", "setting", "module", "extra"),
    [
        (MongoAddon, "MONGO_URI", "pymongo", "mongo"),
        (DistributedAddon, "REDIS_URL", "scrapy_redis", "redis"),
    ],
)
def test_a_url_without_its_extra_stops_the_run_with_the_install_command(
    monkeypatch, addon, setting, module, extra
) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == module else real_find_spec(name, *a),
    )
    with pytest.raises(UsageError, match=re.escape(f"pip install 'sinacrawl[{extra}]'")):
        addon().update_settings(Settings({setting: "x://127.0.0.1:1"}))


# --- installed into a fresh venv ------------------------------------------------------------


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The bin/ folder of a new venv holding a pip-installed copy of this checkout."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # The dependencies: this interpreter's site-packages, after the venv's own.
    Path(purelib, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--ignore-installed", str(REPO)],
        check=True,
        timeout=600,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    return venv / "bin"


def run_installed(
    bin_dir: Path, *args: str, cwd: Path, timeout: float = 240
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SCRAPY_SETTINGS_MODULE")}
    return subprocess.run(
        [str(bin_dir / "sinacrawl"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.slow
def test_the_installed_command_works_from_any_folder(installed: Path, tmp_path: Path) -> None:
    where = run_installed(installed, "--version", cwd=tmp_path)
    assert where.returncode == 0 and where.stdout.strip() == f"sinacrawl {__version__}"
    origin = subprocess.run(
        [str(installed / "python"), "-c", "import sinacrawl; print(sinacrawl.__file__)"],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(installed.parent) in origin and str(REPO) not in origin

    page = real_pages()[0]
    extracted = run_installed(installed, "extract", str(page), cwd=tmp_path)
    assert extracted.returncode == 0, extracted.stderr
    assert json.loads(extracted.stdout)["title"]

    listed = run_installed(installed, "channels", cwd=tmp_path)
    assert listed.returncode == 0 and listed.stdout.startswith("china")

    with mocksite_process(SMALL_SITE, tmp_path / "site") as site:
        settings = {**LOCAL_SETTINGS, "SINACRAWL_UPSTREAM": site.url, "ARCHIVE_DIR": "posts"}
        crawl = run_installed(
            installed,
            "crawl",
            "finance",
            *(f"-s{name}={value}" for name, value in settings.items()),
            "-s",
            "LOG_LEVEL=INFO",
            cwd=tmp_path,
        )
    assert crawl.returncode == 0, crawl.stderr[-3000:]
    assert len(list((tmp_path / "posts").rglob("*.md"))) == 6
    assert "MongoDB off (MONGO_URI is not set)" in crawl.stderr
    assert noise(crawl.stderr) == []


@pytest.mark.slow
def test_the_installed_demo_runs_quietly(installed: Path, tmp_path: Path) -> None:
    demo = run_installed(installed, "demo", cwd=tmp_path)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert re.search(r"^\d+ posts in .*demo-archive$", demo.stdout, re.M)
    log_dir = re.search(r"\(log: (\S+)\)", demo.stdout).group(1)
    log = Path(log_dir, "crawl.log").read_text("utf-8")
    assert "Spider closed (finished)" in log
    assert noise(log) == []


# --- quiet healthy runs from the checkout ---------------------------------------------------


@pytest.mark.slow
def test_a_healthy_mock_site_crawl_logs_no_warning(tmp_path: Path) -> None:
    with mocksite_process(SMALL_SITE, tmp_path / "site") as site:
        result = run_crawl(
            "finance", upstream=site.url, workdir=tmp_path / "run", settings=LOCAL_SETTINGS
        )
    assert result.returncode == 0 and result.stat("sinacrawl/articles/stored") == 6
    assert result.log.count("MongoDB off") == 1
    assert noise(result.log) == []


# --- scrapy shell and scrapy parse ----------------------------------------------------------


def scrapy_command(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "sinacrawl.cli", "scrapy", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_scrapy_shell_and_parse_work_on_an_article(tmp_path: Path) -> None:
    with mocksite_process(SMALL_SITE, tmp_path / "site") as site:
        article = site.catalog.articles()[0]
        upstream = f"SINACRAWL_UPSTREAM={site.url}"
        shell = scrapy_command(
            "shell",
            "-s",
            upstream,
            "-c",
            "(response.status, response.url)",
            article.url,
            cwd=tmp_path,
        )
        parsed = scrapy_command(
            "parse", "--spider=article", "-s", upstream, "--nolog", article.url, cwd=tmp_path
        )
    assert shell.returncode == 0, shell.stderr[-3000:]
    assert shell.stdout.strip() == repr((200, article.url))
    assert "More than one spider" not in shell.stderr and noise(shell.stderr) == []
    assert parsed.returncode == 0, parsed.stderr[-3000:]
    assert "# Scraped Items" in parsed.stdout and f"'doc_id': '{article.doc_id}'" in parsed.stdout
    assert "'title': " in parsed.stdout
