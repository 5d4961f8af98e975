"""Crawl throughput on loopback: a bare Scrapy spider vs the full sinacrawl pipeline.

    .venv/bin/python bench/crawl_bench.py [--articles 2000] [--rounds 1] [--skip mongo,redis]
    .venv/bin/python bench/crawl_bench.py --only redis     # just one vs two Redis workers

One mock Sina site (``sinacrawl.testing.mocksite``, a child process) serves at least 2,000
generated article pages of 80–150 KB (every 5th in GBK) through the roll API. Then, in one
run and against that same site, each in its own process:

- ``bare``: a Scrapy spider with Scrapy's default settings that fetches the same article pages
  (URLs given, no listings) and does nothing with them: the upper bound;
- ``hexo``: ``scrapy crawl finance`` — listings, incremental check, extraction, validation,
  dedupe, Hexo posts — into a fresh archive;
- ``hexo+mongo``: the same, also storing into MongoDB (nx-27017 on loopback);
- ``redis x1`` / ``redis x2``: one, then two ``scrapy crawl finance`` workers sharing a
  redis-server (distributed mode), into a fresh archive.

Every run uses the same concurrency (``--concurrency``, no AutoThrottle, no delay). The rate
is article pages per second between a run's first and last request as the mock site logged
them (so interpreter start-up and the distributed idle wait are not counted); peak RSS is the
process's own (``wait4``), the largest worker's for two workers. Printed: pages/s per run,
ratios to the bare spider and two workers to one, and a check that each run stored every
article exactly once. These machines are shared and noisy: compare ratios within a run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sinacrawl.parsing.dates import BEIJING  # noqa: E402
from sinacrawl.testing.process import RunningSite, child_env, mocksite_process  # noqa: E402

# Channels of the registry on the roll API (pageid 155), as the mock serves them.
CHANNELS = (
    ("china", 1686, "china/gncj"),
    ("macro", 1687, "china/hgjj"),
    ("local", 1688, "china/dfjj"),
    ("ministries", 1689, "china/bwdt"),
)
PER_PAGE = 50
RUNS = {"bare", "hexo", "mongo", "redis"}
TARGETS = {"hexo/bare": 0.6, "redis x2/redis x1": 1.7}

BARE_SPIDER = '''
"""The upper bound: fetch the given pages, do nothing with them (Scrapy defaults)."""
import scrapy


class Bare(scrapy.Spider):
    name = "bare"

    def __init__(self, urls, **kwargs):
        super().__init__(**kwargs)
        self.urls_file = urls

    async def start(self):
        with open(self.urls_file, encoding="utf-8") as lines:
            for line in lines:
                yield scrapy.Request(line.strip(), callback=self.parse)

    def parse(self, response):
        pass
'''


@dataclass
class Result:
    name: str
    pages: int = 0
    seconds: float = 0.0
    wall: float = 0.0
    rss_mb: float = 0.0
    cpu_s: float = 0.0
    """CPU seconds of the crawl process(es), user + system."""
    site_cpu_s: float = 0.0
    """CPU seconds the mock site spent serving this run."""
    other_cores: float = 0.0
    """Cores busy with anything else meanwhile (other jobs, Redis, the OS): noise."""
    stored: int | None = None
    unique: bool | None = None
    exits: list[int] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.pages / self.seconds if self.seconds > 0 else 0.0


def site_config(articles: int) -> dict[str, Any]:
    per_channel = -(-articles // len(CHANNELS))
    newest = datetime.now(BEIJING).replace(second=0, microsecond=0) - timedelta(hours=1)
    return {
        "seed": 2026,
        "newest": newest.isoformat(),
        "spacing_minutes": 1,
        "size_kb": [80, 150],
        "gbk_every": 5,
        "max_num": PER_PAGE,
        "channels": [
            {"name": name, "pageid": 155, "lid": lid, "count": per_channel, "path": path}
            for name, lid, path in CHANNELS
        ],
    }


def crawl_settings(concurrency: int) -> dict[str, str]:
    return {
        "AUTOTHROTTLE_ENABLED": "False",
        "DOWNLOAD_DELAY": "0",
        "CONCURRENT_REQUESTS": str(concurrency),
        "CONCURRENT_REQUESTS_PER_DOMAIN": str(concurrency),
        "LOG_LEVEL": "INFO",
        "SINACRAWL_PROGRESS": "off",
        "CLOSESPIDER_TIMEOUT": "0",
    }


def run_processes(commands: list[tuple[list[str], Path, dict[str, str]]], logs: list[Path]):
    """Start the processes together; wait for all; return (exit codes, peak RSS in MB each)."""
    children = []
    for (command, cwd, env), log in zip(commands, logs, strict=True):
        with log.open("wb") as out:
            children.append(
                subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
            )
    exits, rss, cpu = [], [], []
    deadline = time.monotonic() + 1800
    for child in children:
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                child.kill()
                pid, status, usage = os.wait4(child.pid, 0)
                break
            time.sleep(0.05)
        child.returncode = os.waitstatus_to_exitcode(status)
        exits.append(child.returncode)
        rss.append(usage.ru_maxrss / 1024)  # Linux reports KB
        cpu.append(usage.ru_utime + usage.ru_stime)
    return exits, rss, cpu


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a running process has used so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def busy_cpu() -> float:
    """CPU seconds all of the machine's CPUs spent busy since boot (Linux /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    ticks = [int(f) for f in fields]
    # user nice system idle iowait irq softirq (steal, guest: not this machine's work)
    busy = sum(ticks[:7]) - ticks[3] - ticks[4]
    return busy / os.sysconf("SC_CLK_TCK")


def log_records(site: RunningSite, start: int) -> list[dict[str, Any]]:
    return site.requests()[start:]


def measure(name: str, site: RunningSite, start: int, article_paths: set[str]) -> Result:
    records = [r for r in log_records(site, start) if r["path"] != "/robots.txt"]
    articles = [r for r in records if r["path"] in article_paths]
    result = Result(name, pages=len(articles))
    if articles:
        first = min(r["t"] for r in records)
        result.seconds = max(r["t"] for r in articles) - first
    return result


def check_archive(result: Result, archive: Path, expected: set[str]) -> None:
    posts = [p for p in archive.rglob("*.md") if ".sinacrawl" not in p.parts]
    doc_ids = [p.stem[11:] for p in posts]
    result.stored = len(posts)
    result.unique = len(doc_ids) == len(set(doc_ids)) and set(doc_ids) == expected


@contextmanager
def mongo_server(workdir: Path) -> Iterator[str]:
    from tests.mongo_server import NxServer

    server = NxServer(workdir, db=str(workdir / "bench.db")).start()
    try:
        yield server.uri + "sina_bench"
    finally:
        server.stop()


def finance_command(site: RunningSite, archive: Path, pages: int, **settings: str) -> list[str]:
    names = ",".join(name for name, _, _ in CHANNELS)
    command = [sys.executable, "-m", "scrapy", "crawl", "finance", "-a", f"channels={names}"]
    command += ["-a", f"num={PER_PAGE}", "-a", f"max_pages={pages}"]
    all_settings = {"SINACRAWL_UPSTREAM": site.url, "ARCHIVE_DIR": str(archive), **settings}
    for key, value in all_settings.items():
        command += ["-s", f"{key}={value}"]
    return command


def bench_round(
    site: RunningSite, work: Path, args: argparse.Namespace, redis_url: str | None,
    mongo_uri: str | None, tag: str,
) -> list[Result]:  # fmt: skip
    articles = site.catalog.articles()
    article_paths = {a.mirror_path for a in articles}
    expected = {a.doc_id for a in articles}
    pages = -(-len(articles) // len(CHANNELS) // PER_PAGE) + 1
    settings = crawl_settings(args.concurrency)
    results: list[Result] = []

    def run(name: str, commands, archive: Path | None) -> None:
        start = len(site.requests())
        logs = [
            work / f"{tag}-{name.replace(' ', '_').replace('+', '_')}-{i}.log"
            for i in range(len(commands))
        ]
        began = time.monotonic()
        site_cpu = process_cpu(site.process.pid)
        machine_cpu = busy_cpu()
        exits, rss, cpu = run_processes(commands, logs)
        result = measure(name, site, start, article_paths)
        result.wall = time.monotonic() - began
        result.rss_mb = max(rss)
        result.exits = exits
        result.cpu_s = sum(cpu)
        result.site_cpu_s = process_cpu(site.process.pid) - site_cpu
        # CPU the rest of the machine (other jobs, Redis, the OS) used meanwhile, in cores
        others = busy_cpu() - machine_cpu - result.cpu_s - result.site_cpu_s
        result.other_cores = max(others, 0.0) / max(result.wall, 1e-9)
        if archive is not None:
            check_archive(result, archive, expected)
        results.append(result)
        per_page = 1000 / max(result.pages, 1)
        print(f"  {name:<12} {result.rate:7.1f} pages/s  ({result.pages} pages, "
              f"{result.seconds:.1f} s; exit {exits}; RSS {result.rss_mb:.0f} MB; CPU per page: "
              f"crawler {result.cpu_s * per_page:.1f} ms, mock site "
              f"{result.site_cpu_s * per_page:.1f} ms; other load "
              f"{result.other_cores:.2f} cores)", flush=True)  # fmt: skip

    # bare: Scrapy's defaults (no project), same concurrency, the article URLs on the mirror.
    if "bare" in args.runs:
        run_bare(site, work, tag, settings, run)
    if "hexo" in args.runs:
        archive = work / f"{tag}-hexo"
        command = finance_command(site, archive, pages, **settings)
        run("hexo", [(command, REPO, child_env())], archive)

    if mongo_uri:
        archive = work / f"{tag}-mongo"
        command = finance_command(site, archive, pages, MONGO_URI=mongo_uri, **settings)
        run("hexo+mongo", [(command, REPO, child_env())], archive)

    if redis_url:
        import redis

        for workers in (1, 2):
            redis.Redis.from_url(redis_url).flushall()
            archive = work / f"{tag}-redis{workers}"
            extra = {"REDIS_URL": redis_url, "SINACRAWL_REDIS_IDLE_CLOSE": "2", **settings}
            commands = [
                (finance_command(site, archive, pages, **extra), REPO, child_env())
                for _ in range(workers)
            ]
            run(f"redis x{workers}", commands, archive)
    return results


def run_bare(site: RunningSite, work: Path, tag: str, settings: dict[str, str], run) -> None:
    articles = site.catalog.articles()
    bare_dir = work / f"{tag}-bare"
    bare_dir.mkdir()
    (bare_dir / "bare.py").write_text(BARE_SPIDER, encoding="utf-8")
    (bare_dir / "urls.txt").write_text(
        "".join(f"{site.url}{a.mirror_path}\n" for a in articles), encoding="utf-8"
    )
    bare_env = {k: v for k, v in os.environ.items() if k != "SCRAPY_SETTINGS_MODULE"}
    bare = [sys.executable, "-m", "scrapy", "runspider", "bare.py", "-a", "urls=urls.txt"]
    bare += ["-s", "ROBOTSTXT_OBEY=False", "-s", "TELNETCONSOLE_ENABLED=False"]
    for key in ("CONCURRENT_REQUESTS", "CONCURRENT_REQUESTS_PER_DOMAIN", "LOG_LEVEL"):
        bare += ["-s", f"{key}={settings[key]}"]
    run("bare", [(bare, bare_dir, bare_env)], None)


def warm_up(site: RunningSite) -> None:
    """Have the mock site render (and cache) every page before the first measured run, which
    would otherwise pay for rendering them and look slower than the runs after it."""
    from concurrent.futures import ThreadPoolExecutor
    from urllib.request import urlopen

    def fetch(path: str) -> None:
        with urlopen(f"{site.url}{path}", timeout=30) as response:  # loopback only
            response.read()

    began = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(fetch, [a.mirror_path for a in site.catalog.articles()]))
    print(f"site warmed up in {time.monotonic() - began:.1f} s", flush=True)


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, {platform.system()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=2000, help="article pages (≥ 2000)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=1, help="repeat; medians are printed")
    parser.add_argument("--skip", default="", help="comma list: mongo, redis")
    parser.add_argument("--only", default="", help="comma list of runs: bare, hexo, mongo, redis")
    parser.add_argument("--keep", type=Path, help="keep the work folder here")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    if only:
        skip |= RUNS - only
    args.runs = RUNS - skip

    work = args.keep or Path(tempfile.mkdtemp(prefix="sinacrawl-crawl-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}")
    print(f"site: {args.articles} articles of 80-150 KB in {len(CHANNELS)} channels; "
          f"concurrency {args.concurrency}; work folder {work}", flush=True)  # fmt: skip
    rounds: list[list[Result]] = []
    try:
        with ExitStack() as stack:
            site = stack.enter_context(mocksite_process(site_config(args.articles), work / "site"))
            warm_up(site)
            mongo_uri = None if "mongo" in skip else stack.enter_context(mongo_server(work / "nx"))
            redis_url = None
            if "redis" not in skip:
                from tests.redis_server import redis_server

                redis_url = stack.enter_context(redis_server(work / "redis"))
            for number in range(args.rounds):
                print(f"round {number + 1}:", flush=True)
                rounds.append(bench_round(site, work, args, redis_url, mongo_uri, f"r{number}"))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return report(rounds, args.json)


def report(rounds: list[list[Result]], json_path: Path | None) -> int:
    names = [r.name for r in rounds[0]]
    rate = {
        n: statistics.median(r.rate for rnd in rounds for r in rnd if r.name == n) for n in names
    }
    rss = {n: max(r.rss_mb for rnd in rounds for r in rnd if r.name == n) for n in names}
    print(
        "\nrun           pages/s   × bare   peak RSS   CPU ms/page (crawler + site)   stored once"
    )
    for result in rounds[-1]:
        n = result.name
        ok = "-" if result.unique is None else ("yes" if result.unique else f"NO ({result.stored})")
        per_page = 1000 / max(result.pages, 1)
        to_bare = f"{rate[n] / rate['bare']:.2f}" if rate.get("bare") else "-"
        cpu = f"{result.cpu_s * per_page:6.1f} + {result.site_cpu_s * per_page:4.1f}"
        print(f"{n:<12} {rate[n]:8.1f} {to_bare:>8} {rss[n]:8.0f} MB   {cpu:<28}   {ok}")
    ratios = {}
    for target, floor in TARGETS.items():
        top, bottom = target.split("/")
        if top in rate and bottom in rate and rate[bottom]:
            ratios[target] = rate[top] / rate[bottom]
            verdict = "meets" if ratios[target] >= floor else "BELOW"
            print(f"{target}: {ratios[target]:.2f} ({verdict} the {floor}× target)")
    if json_path:
        json_path.write_text(
            json.dumps(
                {
                    "machine": machine(),
                    "rate": rate,
                    "rss_mb": rss,
                    "ratios": ratios,
                    "cpu_ms_per_page": {
                        r.name: [round(1000 * r.cpu_s / max(r.pages, 1), 2),
                                 round(1000 * r.site_cpu_s / max(r.pages, 1), 2)]
                        for r in rounds[-1]
                    },
                },
                indent=2,
            ),
            encoding="utf-8",
        )  # fmt: skip
    failed = [r for rnd in rounds for r in rnd if any(r.exits) or r.unique is False]
    for r in failed:
        print(f"warning: run {r.name} exited {r.exits} / stored {r.stored}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
