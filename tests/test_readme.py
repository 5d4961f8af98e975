"""Every command in the README's ``sh`` and ``crontab`` blocks runs, as written.

Each command is run here, in a scratch folder, against local stand-ins for the outside
world: the mock Sina site (through ``SINACRAWL_UPSTREAM`` in the environment, which the
settings read), nx-27017 for MongoDB and a real redis-server for Redis; placeholders that
name those (the example mirror URL, ``localhost:27017``, ``REDIS_HOST``, ``/srv``) are
replaced by the stand-ins' addresses. ``pip install`` is run with ``--dry-run``. The few
commands that cannot run inside a test are in :data:`ELSEWHERE` with the file that runs them
and the text that file must contain; a README command in neither place fails the test.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from sinacrawl.testing.demo import LOCAL_SETTINGS, demo_config
from sinacrawl.testing.process import mocksite_process, stop_process
from tests.conftest import FIXTURES, REPO
from tests.mongo_server import mongo_server_uri, mongo_uri  # noqa: F401  (the fixtures)
from tests.redis_server import redis_url  # noqa: F401  (the fixture)

README = REPO / "README.md"
TEST_COMMAND = (
    "python3 -m venv .venv && .venv/bin/pip install -q -r requirements-dev.txt "
    "&& .venv/bin/python -m pytest"
)
# Command (or one `&&` part of one) → (file that runs it, text that file must contain).
ELSEWHERE = {
    ".venv/bin/python -m pytest": (".ci/run", TEST_COMMAND),
    "MONGO_URI=mongodb://localhost:27017 .venv/bin/python -m pytest tests/test_mongo.py": (
        "tests/mongo_server.py",
        'os.environ.get("MONGO_URI")',
    ),
    "cd ~/blog && npx hexo generate": ("tests/test_hexo_build.py", '"generate"'),
}
EXAMPLE_MIRROR = "http://127.0.0.1:40817"


def readme_commands() -> list[str]:
    """The commands of the README's sh/crontab blocks; `&` lines join the `wait` after them."""
    commands: list[str] = []
    for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", README.read_text("utf-8"), re.M | re.S):
        if lang not in ("sh", "crontab"):
            continue
        pending: list[str] = []
        for raw in body.splitlines():
            line = re.sub(r"\s+# .*$", "", raw).strip()
            if not line or line.startswith("#"):
                continue
            if lang == "crontab":
                line = line.split(None, 5)[5]  # the command after the five schedule fields
            pending.append(line)
            if not line.endswith("&"):
                commands.append("\n".join(pending))
                pending = []
    return commands


def test_the_readme_shows_the_two_commands_and_ci_runs_the_test_one() -> None:
    commands = readme_commands()
    main_job = "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt"
    assert commands[0] == main_job + " && .venv/bin/sinacrawl crawl finance"
    assert commands[1] == TEST_COMMAND
    ci = (REPO / ".ci" / "run").read_text("utf-8")
    assert TEST_COMMAND in ci.splitlines()


def test_commands_run_elsewhere_are_where_the_table_says() -> None:
    everything = readme_commands() + [p for c in readme_commands() for p in c.split(" && ")]
    for command, (path, text) in ELSEWHERE.items():
        assert command in everything, f"{command!r} is no longer in the README"
        assert text in (REPO / path).read_text("utf-8"), (command, path)


@pytest.fixture
def sandbox(tmp_path: Path) -> dict:
    """A scratch folder whose `sinacrawl`, `python` and `.venv/bin/*` run this checkout."""
    bin_dir = tmp_path / "bin"
    venv_bin = tmp_path / "srv" / ".venv" / "bin"
    for folder in (bin_dir, venv_bin):
        folder.mkdir(parents=True)
        for name, target in (("sinacrawl", "-m sinacrawl.cli "), ("python", "")):
            script = folder / name
            script.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {target}"$@"\n')
            script.chmod(0o755)
    (tmp_path / "log").mkdir()
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(REPO),
        "HOME": str(tmp_path),
        "SINACRAWL_PROGRESS": "off",
        "SINACRAWL_LOCK": "off",
    }
    env.pop("MONGO_URI", None)
    env.pop("REDIS_URL", None)
    return {"root": tmp_path, "cwd": tmp_path / "srv", "env": env}


FAST = " ".join(f"-s {name}={value}" for name, value in LOCAL_SETTINGS.items())


def localised(command: str, box: dict, site_url: str, mongo: str, redis: str) -> str:
    """The command with the stand-ins' addresses, fast crawl settings and --dry-run pip."""
    root = box["root"]
    command = command.replace(EXAMPLE_MIRROR, site_url)
    command = command.replace("mongodb://localhost:27017/sina", mongo)
    command = command.replace("redis://REDIS_HOST:6379/0", redis)
    command = command.replace("/srv/sinacrawl", str(box["cwd"]))
    command = command.replace("/var/log/sinacrawl", str(root / "log"))
    command = command.replace("../shared/fixtures", str(FIXTURES))
    # The mock site is local: no need for AutoThrottle's one page a second.
    command = re.sub(r"(sinacrawl crawl \w+)", rf"\1 {FAST}", command)
    # Installing is CI's job; here pip resolves and builds what the command names, no more.
    return command.replace(".venv/bin/pip install", "python -m pip install --dry-run --no-deps")


def run_part(part: str, box: dict) -> None:
    if part.startswith("python -m sinacrawl.testing.mocksite"):
        process = subprocess.Popen(
            part.split(), cwd=box["cwd"], env=box["env"], stdout=subprocess.PIPE, text=True
        )
        try:
            assert process.stdout.readline().startswith("http://127.0.0.1:")
        finally:
            stop_process(process)
        return
    cwd = REPO if "pip install" in part else box["cwd"]
    done = subprocess.run(
        ["bash", "-c", part], cwd=cwd, env=box["env"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{part}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"


@pytest.mark.slow
def test_every_readme_command_runs(sandbox, mongo_uri, redis_url, tmp_path) -> None:  # noqa: F811
    ran = []
    config = demo_config(with_real_pages=True)
    config["stock_news"] = [  # the per-stock news lists of the README's symbols
        {"symbol": "sh600519", "name": "贵州茅台", "per_page": 3, "refs": ["china:0", "macro:1"]},
        {"symbol": "sz000001", "name": "平安银行", "per_page": 3, "refs": ["china:2"]},
    ]
    with mocksite_process(config, tmp_path / "site") as site:
        sandbox["env"]["SINACRAWL_UPSTREAM"] = site.url
        (sandbox["cwd"] / "urls.txt").write_text(site.catalog.articles()[0].url + "\n")
        for command in readme_commands():
            if command in ELSEWHERE:
                continue
            parts = [p for p in command.split(" && ") if p not in ELSEWHERE]
            for part in parts:
                if part == "python3 -m venv .venv":
                    part = f"python3 -m venv --without-pip {sandbox['root']}/venv-check"
                run_part(localised(part, sandbox, site.url, mongo_uri, redis_url), sandbox)
                ran.append(part)
    assert len(ran) >= 15
    posts = list((sandbox["root"] / "blog" / "source" / "_posts").rglob("*.md"))
    assert posts, "the Hexo example wrote no post"
    assert (sandbox["root"] / "log" / "summary.json").exists()  # the cron line ran
    assert list((sandbox["cwd"] / "demo-archive").rglob("*.md"))


OWN_SETTING = re.compile(
    r"^(SINACRAWL_|MONGO_|REDIS_URL|ARCHIVE_DIR|HEXO_|EXTRACT_|STOP_ON_|RETRY_AFTER)"
)


def test_the_settings_table_lists_every_setting_sinacrawl_reads() -> None:
    read = set()
    for path in (REPO / "sinacrawl").rglob("*.py"):
        if "testing" in path.parts:  # the mock site's knobs are not crawl settings
            continue
        text = path.read_text("utf-8")
        read |= set(re.findall(r"\"([A-Z][A-Z_]+)\"", text))  # every all-caps string
    own = {name for name in read if OWN_SETTING.match(name)}
    rows = dict(re.findall(r"^\| `([A-Z_]+)`( \*env\*)? \|", README.read_text("utf-8"), re.M))
    assert sorted(own - set(rows)) == []
    # "*env*" is a promise: settings.py reads exactly those from the environment.
    from_env = set(re.findall(r"_env\(\"([A-Z_]+)\"", (REPO / "sinacrawl/settings.py").read_text()))
    assert {name for name, env in rows.items() if env} == from_env
