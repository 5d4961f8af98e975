"""The run summary: what a run did, and the exit status it deserves.

At the end of every crawl this extension reads the ``sinacrawl/articles/*`` stats (kept by the
accounting extension), asks the coverage watchdog for problems, decides the exit status and
writes one JSON document atomically to the path in ``SINACRAWL_SUMMARY`` (no file when the
setting is empty; the decision is still logged and put into the stats as
``sinacrawl/exit_code``, where the ``crawl`` command picks it up).

Exit statuses (one table; the README repeats it):

====  ==================  ==================================================================
code  name                meaning
====  ==================  ==================================================================
0     ok                  the run did its job (also when CLOSESPIDER_TIMEOUT cut it short:
                          the next incremental run continues where it stopped)
1     error               Scrapy could not start the crawl (bad settings, unknown spider)
2     usage               wrong command line (Scrapy's own usage error)
3     spider_errors       the spider raised (parse errors, a listing that could not be read)
4     storage_failure     a pipeline failed to store items (disk, MongoDB)
5     nothing_stored      listings announced new articles but none was stored (every page
                          failed, or the extractor/validation rejected them all)
6     coverage            too many items lack date, source or body (watchdog)
7     lock_held           another run holds the lock; this one did nothing
8     interrupted         stopped early: Ctrl-C/SIGTERM, memory limit, or cancelled
9     gap                 a channel's archive has a gap this run could not close (days
                          older than SINACRAWL_CATCHUP_DAYS, failed days or listings); the
                          log and the summary's ``gaps`` give the command that fills it
====  ==================  ==================================================================

When several apply, the first failure of 4, 3, 5, 6, 8, 9 (in that order of severity)
is the exit status; the summary lists every reason.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals

from sinacrawl.archive import atomic_write, sweep_folder
from sinacrawl.extensions.accounting import article_store_failed, shares_queue
from sinacrawl.extensions.watchdog import CoverageWatchdog
from sinacrawl.parsing.dates import parse_stored
from sinacrawl.state import CompactMap

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from typing_extensions import Self

logger = logging.getLogger(__name__)

ARTICLES = "sinacrawl/articles/"
EXIT_STAT = "sinacrawl/exit_code"
STORAGE_ERRORS = "sinacrawl/storage/errors"
MONGO = "sinacrawl/mongo/"
# Drops that are a normal outcome, not a sign that extraction is broken.
DEFAULT_BENIGN_DROPS = ("duplicate", "unchanged", "out_of_window", "too_old", "known")
INTERRUPTED_REASONS = frozenset({"shutdown", "memusage_exceeded", "cancelled"})


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    SPIDER_ERRORS = 3
    STORAGE_FAILURE = 4
    NOTHING_STORED = 5
    COVERAGE = 6
    LOCK_HELD = 7
    INTERRUPTED = 8
    GAP = 9


SEVERITY = (
    ExitCode.STORAGE_FAILURE,
    ExitCode.SPIDER_ERRORS,
    ExitCode.NOTHING_STORED,
    ExitCode.COVERAGE,
    ExitCode.INTERRUPTED,
    ExitCode.GAP,
)


def article_counts(stats: Mapping[str, Any]) -> dict[str, Any]:
    """The ``sinacrawl/articles/*`` stats as a nested dict, reasons grouped.

    >>> article_counts({"sinacrawl/articles/stored": 3, "sinacrawl/articles/failed/http_500": 2,
    ...                 "sinacrawl/articles/dropped/invalid": 1, "other": 9})
    {'scheduled': 0, 'stored': 3, 'duplicate': 0, 'skipped_known': 0, 'dropped': {'invalid': 1}, 'failed': {'http_500': 2}}
    """
    counts: dict[str, Any] = {"scheduled": 0, "stored": 0, "duplicate": 0, "skipped_known": 0}
    grouped: dict[str, dict[str, int]] = {"dropped": {}, "failed": {}}
    for key, value in stats.items():
        if not key.startswith(ARTICLES) or not isinstance(value, (int, float)):
            continue
        name = key[len(ARTICLES) :]
        group, _, reason = name.partition("/")
        if group in grouped and reason:
            grouped[group][reason] = grouped[group].get(reason, 0) + int(value)
        elif "/" not in name:
            counts[name] = int(value)
    counts.update({group: dict(sorted(reasons.items())) for group, reasons in grouped.items()})
    return counts


def _prefixed_total(stats: Mapping[str, Any], *prefixes: str) -> int:
    return sum(
        int(value)
        for key, value in stats.items()
        if isinstance(value, (int, float)) and key.startswith(prefixes)
    )


def storage_failures(stats: Mapping[str, Any], counts: dict[str, Any]) -> dict[str, int]:
    """What failed to reach a store, by kind (empty when storage was fine).

    >>> storage_failures({"sinacrawl/storage/errors": 2, "sinacrawl/mongo/spooled": 5},
    ...                  {"failed": {"pipeline_error": 2, "http_404": 1}})
    {'pipeline errors': 2, 'items spooled to disk (MongoDB unreachable)': 5}
    """
    # A pipeline exception is seen both by this extension (item_error) and by the
    # accounting (failed/pipeline_error): the larger count, not the sum.
    errors = max(
        _prefixed_total(stats, STORAGE_ERRORS, "sinacrawl/storage/failed"),
        counts["failed"].get("pipeline_error", 0),
    )
    # mongo/rejected also counts documents of an earlier run's spool, which are no articles
    # of this run (and the accounting may be off).
    rejected = max(
        _prefixed_total(stats, MONGO + "rejected"), counts["failed"].get("mongo_rejected", 0)
    )
    found = {
        "pipeline errors": errors,
        "items spooled to disk (MongoDB unreachable)": _prefixed_total(stats, MONGO + "spooled"),
        "items MongoDB rejected": rejected,
    }
    return {what: n for what, n in found.items() if n}


def _spider_errors(stats: Mapping[str, Any], close_reason: str | None) -> str | None:
    errors = _prefixed_total(stats, "spider_exceptions/count", "sinacrawl/listings/failed")
    if errors or close_reason in ("closespider_errorcount", "start_error"):
        return f"{errors} spider errors or unreadable listing pages (close reason: {close_reason})"
    return None


def _nothing_stored(
    counts: dict[str, Any],
    close_reason: str | None,
    benign_drops: tuple[str, ...],
    shared_queue: bool,
) -> str | None:
    if counts["stored"]:
        return None
    bad_drops = {r: n for r, n in counts["dropped"].items() if r not in benign_drops}
    benign = sum(counts["dropped"].values()) - sum(bad_drops.values())
    failed = dict(counts["failed"])
    if close_reason in INTERRUPTED_REASONS:
        # Articles cut off by Ctrl-C or the memory limit say nothing about the extractor.
        failed.pop("unfinished", None)
    lost = sum(failed.values()) + sum(bad_drops.values())
    cut_off = counts["failed"].get("unfinished", 0) - failed.get("unfinished", 0)
    new = max(counts["scheduled"] - counts["duplicate"] - benign - cut_off, lost)
    if shared_queue:
        # Another worker may have stored what this one scheduled: judge by own outcomes only.
        new = lost
    if new <= 0:
        return None
    why = "; ".join(
        f"{group}: " + ", ".join(f"{r} {n}" for r, n in reasons.items())
        for group, reasons in (("failed", failed), ("dropped", bad_drops))
        if reasons
    )
    return f"listings had {new} new articles but none was stored ({why or 'no outcome recorded'})"


def decide(
    stats: Mapping[str, Any],
    close_reason: str | None,
    coverage: Sequence[str] = (),
    benign_drops: tuple[str, ...] = DEFAULT_BENIGN_DROPS,
    shared_queue: bool = False,
    gaps: Sequence[Mapping[str, Any]] = (),
) -> tuple[ExitCode, list[str]]:
    """The exit status of a finished run and every reason for it (empty when all is well).

    >>> decide({"sinacrawl/articles/scheduled": 4, "sinacrawl/articles/stored": 4}, "finished")
    (<ExitCode.OK: 0>, [])
    >>> code, why = decide({"sinacrawl/articles/scheduled": 4,
    ...                     "sinacrawl/articles/failed/http_500": 4}, "finished")
    >>> code.name, why
    ('NOTHING_STORED', ['listings had 4 new articles but none was stored (failed: http_500 4)'])
    """
    counts = article_counts(stats)
    storage = storage_failures(stats, counts)
    found = {
        ExitCode.STORAGE_FAILURE: "storage failures: "
        + ", ".join(f"{n} {what}" for what, n in storage.items())
        if storage
        else None,
        ExitCode.SPIDER_ERRORS: _spider_errors(stats, close_reason),
        ExitCode.NOTHING_STORED: _nothing_stored(counts, close_reason, benign_drops, shared_queue),
        ExitCode.COVERAGE: "field coverage too low: " + "; ".join(coverage) if coverage else None,
        ExitCode.INTERRUPTED: f"run stopped early ({close_reason})"
        if close_reason in INTERRUPTED_REASONS
        else None,
        ExitCode.GAP: f"{len(gaps)} gap(s) not closed: "
        + "; ".join(f"{g['channel']} {g['from']} to {g['to']}" for g in gaps)
        if gaps
        else None,
    }
    reasons = [reason for code in SEVERITY if (reason := found[code])]
    worst = next((code for code in SEVERITY if found[code]), ExitCode.OK)
    return worst, reasons


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so readers see the old file or the new one, never half of one."""
    text = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    atomic_write(path, text.encode("utf-8"), 0o644)


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return aware.isoformat()
    return None


class RunSummary:
    """Collects per-channel facts during the run; decides and writes the summary at the end."""

    def __init__(self, crawler: Crawler, path: Path | None, benign_drops: tuple[str, ...]):
        self.crawler = crawler
        self.path = path
        self.benign_drops = benign_drops
        self.channels: dict[str, dict[str, Any]] = {}
        # A store that writes in batches may refuse an item after it was counted here.
        self._stored_in = CompactMap()  # doc_id -> channel
        self._refused_early: set[str] = set()  # refused before its item_scraped came
        self.result: dict[str, Any] | None = None
        self.shared_queue = shares_queue(crawler.settings)
        self._opened = False  # a store that fails to open closes the spider unopened

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        # Always on: the exit status is decided here even when no file is wanted.
        raw = crawler.settings.get("SINACRAWL_SUMMARY")
        benign = tuple(crawler.settings.getlist("SINACRAWL_BENIGN_DROPS")) or DEFAULT_BENIGN_DROPS
        ext = cls(crawler, Path(raw) if raw else None, benign)
        crawler.signals.connect(ext.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(ext.item_error, signal=signals.item_error)
        crawler.signals.connect(ext.store_failed, signal=article_store_failed)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider: Any) -> None:
        self._opened = True
        if self.path is not None:
            sweep_folder(self.path.parent)  # what a killed run's write left

    def item_scraped(self, item: Any, response: Response | None = None, **kwargs: Any) -> None:
        meta = getattr(response, "meta", None) or {}
        channel = meta.get("channel") or "-"
        entry = self.channels.setdefault(channel, {"stored": 0, "newest_published_at": None})
        doc_id = item.get("doc_id") if hasattr(item, "get") else None
        if doc_id in self._refused_early:
            self._refused_early.discard(doc_id)
        else:
            entry["stored"] += 1
            if doc_id:
                self._stored_in[doc_id] = channel
        # Not taken back when a store refuses the item later: it tells how fresh the
        # listings and pages were, not what each store kept.
        try:
            published = item["published_at"]
        except (KeyError, TypeError):
            return
        when = parse_stored(published)
        newest = parse_stored(entry["newest_published_at"])
        if when is not None and (newest is None or when > newest):
            entry["newest_published_at"] = published

    def store_failed(self, doc_id: str, **kwargs: Any) -> None:
        channel = self._stored_in.pop(doc_id, None)
        if channel is None:
            self._refused_early.add(doc_id)
        else:
            self.channels[channel]["stored"] -= 1

    def item_error(self, item: Any, failure: Any = None, **kwargs: Any) -> None:
        # A pipeline raised something other than a drop: the item did not reach its store.
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(STORAGE_ERRORS)

    def _never_opened(self) -> bool:
        """Whether the spider closed without having opened (a store failed to open): the
        engine exists but spider_opened never came."""
        try:
            engine = self.crawler.engine
        except (AttributeError, RuntimeError):  # no engine: not a real crawl (unit tests)
            return False
        return engine is not None and not self._opened

    def spider_closed(self, spider: Any, reason: str) -> None:
        stats = self.crawler.stats
        assert stats is not None
        values = stats.get_stats()
        watchdog = self.crawler.get_extension(CoverageWatchdog)
        coverage = watchdog.problems() if watchdog else []
        history = spider.history_report(reason) if hasattr(spider, "history_report") else {}
        for name, days in history.get("channels", {}).items():
            if days["days_total"] or days["days_incomplete"]:
                self.channels.setdefault(name, {"stored": 0, "newest_published_at": None})
                self.channels[name].update(days)
        if self._never_opened():
            code, reasons = ExitCode.ERROR, ["the crawl could not start (see the error above)"]
        else:
            code, reasons = decide(
                values,
                reason,
                coverage,
                self.benign_drops,
                shared_queue=self.shared_queue,
                gaps=history.get("gaps", ()),
            )
        stats.set_value(EXIT_STAT, int(code))
        finished = datetime.now(timezone.utc)
        started = values.get("start_time")
        self.result = {
            "spider": spider.name,
            "close_reason": reason,
            "exit_status": int(code),
            "exit_name": code.name.lower(),
            "reasons": reasons,
            "warnings": coverage,
            "started_at": _iso(started),
            "finished_at": finished.isoformat(),
            "duration_s": round((finished - started).total_seconds(), 3)
            if isinstance(started, datetime)
            else None,
            "articles": article_counts(values),
            "channels": dict(sorted(self.channels.items())),
            "gaps": list(history.get("gaps", ())),
            "coverage": watchdog.report() if watchdog else None,
            "pages": {
                "requests": values.get("downloader/request_count", 0),
                "responses": values.get("response_received_count", 0),
                "errors_logged": values.get("log_count/ERROR", 0),
                "spider_exceptions": values.get("spider_exceptions/count", 0),
            },
        }
        log = logger.info if code == ExitCode.OK else logger.error
        log(
            "run summary: exit %d (%s)%s",
            code,
            code.name.lower(),
            "".join(f"\n  - {r}" for r in reasons),
        )
        if self.path is not None:
            try:
                write_json_atomic(self.path, self.result)
            except OSError as exc:
                logger.error("could not write the run summary to %s: %s", self.path, exc)
