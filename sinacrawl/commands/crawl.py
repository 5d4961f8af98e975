"""``scrapy crawl`` for cron: one run per archive at a time, and an exit status that means something.

It replaces Scrapy's built-in ``crawl`` (``COMMANDS_MODULE = "sinacrawl.commands"``) and
behaves the same, except that it

- takes the run lock first (``sinacrawl.extensions.lock``): when another run holds it, it
  says so on stderr and exits at once with status 7, before touching the network;
- exits with the status the run summary decided (``sinacrawl.extensions.summary.ExitCode``).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import TYPE_CHECKING

from scrapy.commands.crawl import Command as ScrapyCrawl
from scrapy.exceptions import UsageError

from sinacrawl.config import problems
from sinacrawl.extensions.accounting import shares_queue
from sinacrawl.extensions.lock import LockHeld, RunLock, lock_path
from sinacrawl.extensions.summary import EXIT_STAT, ExitCode, decide

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    import argparse

    from scrapy.crawler import Crawler


class Command(ScrapyCrawl):
    def short_desc(self) -> str:
        return "Run a spider (with sinacrawl's run lock and exit statuses)"

    def long_desc(self) -> str:
        return (
            "Run a spider. Exit status: 0 ok, 3 spider errors, 4 storage failure, 5 nothing "
            "stored although listings had new articles, 6 field coverage too low, 7 another "
            "run holds the lock, 8 interrupted, 9 a gap the run could not close (docs/history.md). "
            "See the README's cron section."
        )

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            raise UsageError("give exactly one spider name, e.g. `scrapy crawl finance`")
        assert self.settings is not None
        bad = list(problems(self.settings))
        if bad:  # before the lock, which lives in the archive a bad ARCHIVE_DIR names
            print("\n".join(f"sinacrawl: {line}" for line in bad), file=sys.stderr)
            self.exitcode = int(ExitCode.USAGE)
            return
        path = lock_path(self.settings, args[0])
        lock = RunLock(path) if path is not None else None
        try:
            if lock is not None:
                lock.acquire()
        except LockHeld as held:
            print(
                f"sinacrawl: another run is in progress ({held.holder or 'pid unknown'}); "
                f"lock {held.path}. Exiting with status {int(ExitCode.LOCK_HELD)}.",
                file=sys.stderr,
            )
            self.exitcode = int(ExitCode.LOCK_HELD)
            return
        except OSError as exc:
            print(
                f"sinacrawl: cannot take the run lock {path}: {exc}. Set SINACRAWL_LOCK to a "
                f"writable file, or SINACRAWL_LOCK=off.",
                file=sys.stderr,
            )
            self.exitcode = int(ExitCode.ERROR)
            return
        try:
            self.exitcode = self._crawl(args[0], opts)
        finally:
            if lock is not None:
                lock.release()

    def _crawl(self, spider_name: str, opts: argparse.Namespace) -> int:
        assert self.crawler_process is not None
        crawler = self.crawler_process.create_crawler(spider_name)
        usage: list[str] = []

        def bad_arguments(task: asyncio.Task) -> None:
            # A misspelled channel or a bad date deserves one clear line, not a traceback;
            # retrieving the exception here also keeps asyncio from logging one.
            exc = None if task.cancelled() else task.exception()
            if isinstance(exc, UsageError):
                usage.append(str(exc))
            elif isinstance(exc, OSError):  # the archive or a state file: its message says it
                logger.error("the crawl could not start: %s", exc)
            elif exc is not None:
                logger.error("the crawl could not start", exc_info=exc)

        started = self.crawler_process.crawl(crawler, **opts.spargs)
        if isinstance(started, asyncio.Future):  # Scrapy's asyncio crawler process
            started.add_done_callback(bad_arguments)
        self.crawler_process.start()
        if usage:
            print(f"sinacrawl: {usage[0]}", file=sys.stderr)
            return int(ExitCode.USAGE)
        if self.crawler_process.bootstrap_failed:
            return int(ExitCode.ERROR)
        return exit_status(crawler)


def exit_status(crawler: Crawler) -> int:
    """The status the summary put into the stats, else one decided from the stats alone."""
    stats = crawler.stats
    if stats is None:
        return int(ExitCode.ERROR)
    code = stats.get_value(EXIT_STAT)
    if code is None:
        values = stats.get_stats()
        code, _ = decide(
            values, values.get("finish_reason"), shared_queue=shares_queue(crawler.settings)
        )
    return int(code)
