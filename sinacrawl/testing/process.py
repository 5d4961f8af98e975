"""Real processes for end-to-end runs: the mock site in a child process, and ``scrapy crawl``
against it. Used by the end-to-end tests, the benchmarks and the offline demo; every process
started here has a bounded lifetime and is always stopped.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import selectors
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sinacrawl.testing.catalog import Catalog, build_catalog

_ROOT = Path(__file__).resolve().parents[2]
# The checkout (tests and benchmarks run children from it, importing its code); None when
# sinacrawl is pip-installed, where children import the installed copy from anywhere.
REPO = _ROOT if (_ROOT / "pyproject.toml").is_file() else None


class ProcessError(RuntimeError):
    """A child process did not start, or did not finish in time."""


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for children: this repo importable, sinacrawl's settings module."""
    env = dict(os.environ)
    if REPO is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.setdefault("SCRAPY_SETTINGS_MODULE", "sinacrawl.settings")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


@dataclass
class RunningSite:
    """A mock site serving in a child process."""

    url: str
    log_path: Path
    catalog: Catalog
    process: subprocess.Popen

    def requests(self) -> list[dict[str, Any]]:
        """Every request logged so far, in order."""
        if not self.log_path.exists():
            return []
        lines = self.log_path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def paths(self, prefix: str = "") -> list[str]:
        return [r["path"] for r in self.requests() if r["path"].startswith(prefix)]


@contextlib.contextmanager
def mocksite_process(
    config: dict[str, Any] | None, workdir: Path, *, start_timeout: float = 20.0
) -> Iterator[RunningSite]:
    """Start ``python -m sinacrawl.testing.mocksite`` on a free port; stop it on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "mocksite.json"
    config_path.write_text(json.dumps(config or {}, ensure_ascii=False), encoding="utf-8")
    log_path = workdir / "mocksite-requests.jsonl"
    stderr = (workdir / "mocksite-stderr.log").open("wb")
    command = [sys.executable, "-m", "sinacrawl.testing.mocksite", "--port", "0"]
    command += ["--config", str(config_path), "--log", str(log_path)]
    process = subprocess.Popen(
        command, cwd=REPO, env=child_env(), stdout=subprocess.PIPE, stderr=stderr
    )
    try:
        url = _first_line(process, start_timeout)
        yield RunningSite(url, log_path, build_catalog(config), process)
    finally:
        stop_process(process)
        stderr.close()


def _first_line(process: subprocess.Popen, timeout: float) -> str:
    """The URL the site prints once it listens; fails clearly if it never comes."""
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    try:
        if not selector.select(timeout):
            raise ProcessError(f"mock site printed nothing within {timeout}s")
        line = process.stdout.readline().decode().strip()
    finally:
        selector.close()
    if not line.startswith("http://"):
        raise ProcessError(f"mock site did not start (exit {process.poll()}): {line!r}")
    return line


def stop_process(process: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; always reaps the child."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    if process.stdout:
        process.stdout.close()


@dataclass
class CrawlResult:
    """What a finished ``scrapy crawl`` left behind."""

    returncode: int
    log: str
    items: list[dict[str, Any]]
    stats: dict[str, Any]
    summary: dict[str, Any] | None
    archive: Path
    duration: float
    command: list[str] = field(default_factory=list)

    def stat(self, name: str, default: int = 0) -> Any:
        return self.stats.get(name, default)

    def stats_with(self, prefix: str) -> dict[str, Any]:
        return {k: v for k, v in self.stats.items() if k.startswith(prefix)}

    def posts(self) -> list[Path]:
        """The Hexo posts the run left in its archive."""
        return sorted(p for p in self.archive.rglob("*.md") if ".sinacrawl" not in p.parts)


def crawl_command(
    spider: str,
    args: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
    *extra: str,
) -> list[str]:
    """``python -m scrapy crawl SPIDER [extra…] -a NAME=VALUE… -s NAME=VALUE…``."""
    command = [sys.executable, "-m", "scrapy", "crawl", spider, *extra]
    for name, value in (args or {}).items():
        command += ["-a", f"{name}={value}"]
    for name, value in (settings or {}).items():
        command += ["-s", f"{name}={value}"]
    return command


def kill_9_when(
    command: list[str],
    reached: Callable[[], bool],
    log: Path,
    extra_delay: float = 0.0,
    timeout: float = 60.0,
) -> bool:
    """Start ``command`` and ``kill -9`` it once ``reached()`` (or ``timeout`` passed), after
    ``extra_delay`` more seconds; True when it had finished before the kill.

    The crash tests (articles, backfill days, flashes) share this: a kill lands at a moment
    they choose by what is already stored, never by wall-clock time alone.
    """
    with log.open("wb") as stderr:
        child = subprocess.Popen(
            command, cwd=REPO, env=child_env(), stdout=subprocess.DEVNULL, stderr=stderr
        )
    try:
        deadline = time.monotonic() + timeout
        while child.poll() is None and time.monotonic() < deadline and not reached():
            time.sleep(0.005)
        time.sleep(extra_delay)
        finished = child.poll() is not None
        child.kill()
        child.wait(timeout=10)
    finally:
        stop_process(child)
    return finished


def run_crawl(
    spider: str,
    *,
    upstream: str,
    workdir: Path,
    args: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 240.0,
    archive: Path | None = None,
) -> CrawlResult:
    """Run ``scrapy crawl SPIDER`` in a child process against the mirror at ``upstream``.

    Items go to ``workdir/items.jsonl``, posts to ``archive`` (default ``workdir/archive``);
    the stats are read back from the log's final stats dump (``STATS_DUMP``).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    archive = archive or workdir / "archive"
    items_path = workdir / "items.jsonl"
    items_path.unlink(missing_ok=True)
    summary_path = workdir / "summary.json"
    summary_path.unlink(missing_ok=True)
    log_path = workdir / "crawl.log"
    base_settings: dict[str, Any] = {
        "SINACRAWL_UPSTREAM": upstream,
        "ARCHIVE_DIR": str(archive),
        "SINACRAWL_SUMMARY": str(summary_path),
        "STATS_DUMP": "True",
        "LOG_LEVEL": "INFO",
    }
    base_settings.update(settings or {})
    command = crawl_command(spider, args, base_settings, "-o", str(items_path))
    started = time.monotonic()
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command, cwd=REPO, env=child_env(env), stdout=log_file, stderr=subprocess.STDOUT
        )
        try:
            returncode = process.wait(timeout)
        except subprocess.TimeoutExpired:
            stop_process(process)
            raise ProcessError(
                f"scrapy crawl {spider} did not finish within {timeout}s; log: {log_path}"
            ) from None
    log = log_path.read_text(encoding="utf-8", errors="replace")
    return CrawlResult(
        returncode=returncode,
        log=log,
        items=_read_jsonl(items_path),
        stats=parse_stats(log),
        summary=json.loads(summary_path.read_text("utf-8")) if summary_path.exists() else None,
        archive=archive,
        duration=time.monotonic() - started,
        command=command,
    )


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    # "\n" only: splitlines() also splits at U+2028, which JSON Lines keep raw inside strings.
    return [json.loads(line) for line in text.split("\n") if line.strip()]


# pprint's dict, up to the next log line (which starts with a date) or the end of the log.
_STATS_DUMP = re.compile(
    r"Dumping Scrapy stats:\s*\n(\{.*?\})\s*(?:\n(?=\d{4}-\d\d-\d\d )|\Z)", re.S
)
_NOT_LITERAL = re.compile(r"datetime\.\w+\([^()]*\)")


def parse_stats(log: str) -> dict[str, Any]:
    """The last stats dump in a Scrapy log, as a dict (datetimes become None)."""
    dumps = _STATS_DUMP.findall(log)
    if not dumps:
        return {}
    text = dumps[-1]
    while (cleaned := _NOT_LITERAL.sub("None", text)) != text:  # innermost calls first
        text = cleaned
    return ast.literal_eval(text)
