"""Article accounting: every scheduled article ends as stored, dropped, failed or duplicate.

Stats (SPEC shared names)::

    sinacrawl/articles/scheduled          article requests handed to the scheduler (per doc_id)
    sinacrawl/articles/stored             items that went through every pipeline and that no
                                          store refused afterwards
    sinacrawl/articles/dropped/<reason>   items a pipeline (or the spider) dropped on purpose
    sinacrawl/articles/failed/<reason>    downloads or extractions that failed (http_404, timeout…)
    sinacrawl/articles/duplicate          DuplicateArticle, or a second listing of a doc_id
    sinacrawl/articles/skipped_known      (also kept by sinacrawl.incremental) already stored

so that ``scheduled == stored + dropped + failed + duplicate`` at the end of a run; what is
still pending when the spider closes counts as ``failed/unfinished`` (except with a shared
scheduler queue, where another worker may finish it). Article requests are the ones whose
``meta`` holds ``doc_id`` and ``listing``; spiders report what only they know (download
errors in their errback, out-of-window pages) with :func:`report`, and a doc_id listed
again with :func:`report_relisted`.

Each doc_id counts once, with two corrections that replace its first count:

- A doc_id whose request the scheduler's seen-filter refuses counts as ``duplicate`` at once:
  another worker (shared Redis queue) or a previous run (``JOBDIR``) queued the same request,
  or a redirect led onto a URL already fetched. Should that queued request then end in this
  process, its outcome (usually ``stored``) replaces the ``duplicate``; otherwise someone
  else finished it.
- A store that writes in batches learns that it refused an item only after the item left the
  pipelines (MongoDB's bulk writes). It says so with :func:`report_store_failed`, and the
  article's ``stored`` becomes ``failed/<reason>`` (``mongo_rejected``).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    DropItem,
    IgnoreRequest,
    NotConfigured,
    ResponseDataLossError,
)
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.error import ConnectionDone, ConnectionLost, TimeoutError

from sinacrawl.exceptions import DropArticle, DuplicateArticle, StorageFailed
from sinacrawl.guards import OtherPage
from sinacrawl.middlewares import OffsiteRedirect, RedirectLoop, TooManyRedirects
from sinacrawl.state import CompactMap
from sinacrawl.urlpolicy import RefusedUrl

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)

PREFIX = "sinacrawl/articles/"
OUTCOMES = ("stored", "dropped", "failed", "duplicate")
DEFAULT_SCHEDULER = "scrapy.core.scheduler.Scheduler"


def shares_queue(settings: Any) -> bool:
    """Whether other processes take requests from this crawl's queue, so that another worker
    may finish what this one scheduled: any scheduler but Scrapy's own (the Redis one that
    ``REDIS_URL`` turns on, or one set by hand)."""
    scheduler = settings.get("SCHEDULER") or DEFAULT_SCHEDULER
    if not isinstance(scheduler, str):
        scheduler = f"{scheduler.__module__}.{scheduler.__qualname__}"
    return scheduler != DEFAULT_SCHEDULER


article_outcome = object()
"""Signal: ``request`` (the article request), ``outcome`` (one of OUTCOMES), ``reason``."""
article_relisted = object()
"""Signal: ``doc_id`` listed again (another channel, another page) after its first listing."""
article_store_failed = object()
"""Signal: ``doc_id`` whose item a store refused after it left the pipelines, ``reason``."""
article_counted = object()
"""Signal: ``doc_id`` got its outcome ``key`` (``stored``, ``failed/timeout``…), sent once per
doc_id and again when a correction replaces it (for the history's day bookkeeping)."""

# Failure types → reason tokens, most specific first.
FAILURE_REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (RefusedUrl, "refused_url"),
    (OtherPage, "other_page"),
    (OffsiteRedirect, "offsite_redirect"),
    (RedirectLoop, "redirect_loop"),
    (TooManyRedirects, "too_many_redirects"),
    (DownloadTimeoutError, "timeout"),
    (TimeoutError, "timeout"),
    (CannotResolveHostError, "dns"),
    (DownloadConnectionRefusedError, "connection_refused"),
    (ResponseDataLossError, "data_loss"),
    (DownloadFailedError, "connection_lost"),
    (ConnectionLost, "connection_lost"),
    (ConnectionDone, "connection_lost"),
)
IGNORE_REASONS: tuple[tuple[str, str], ...] = (
    ("robots.txt unreachable", "robots_unreachable"),
    ("robots.txt", "robots"),
    ("max redirections", "too_many_redirects"),
    ("offsite", "offsite"),
    # HttpCompressionMiddleware: a gzip/br body that inflates beyond DOWNLOAD_MAXSIZE.
    ("download_maxsize", "too_large"),
)


def failure_reason(exc: BaseException) -> str:
    """A short stable token for why a request failed.

    >>> failure_reason(DownloadTimeoutError("took too long"))
    'timeout'
    >>> failure_reason(IgnoreRequest("Forbidden by robots.txt"))
    'robots'
    >>> failure_reason(KeyError("x"))
    'key_error'
    """
    if isinstance(exc, HttpError):
        return f"http_{exc.response.status}"
    for kind, reason in FAILURE_REASONS:
        if isinstance(exc, kind):
            return reason
    if isinstance(exc, DownloadCancelledError):
        # An announced size over DOWNLOAD_MAXSIZE says "max size"; a streamed (chunked) body
        # that grows past it is cancelled by Scrapy's HTTP/1.1 handler with no message at all.
        return "too_large" if "max size" in str(exc) or not str(exc) else "cancelled"
    if isinstance(exc, IgnoreRequest):
        text = str(exc).lower()
        return next((reason for key, reason in IGNORE_REASONS if key in text), "ignored")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


def article_doc_id(meta: dict[str, Any] | None) -> str | None:
    """The doc_id an article request carries, None for other requests (listings, robots)."""
    if not meta or "listing" not in meta:
        return None
    doc_id = meta.get("doc_id")
    return str(doc_id) if doc_id else None


def report_relisted(crawler: Crawler, doc_id: str) -> None:
    """Tell the accounting a listing named a doc_id the spider had already requested."""
    crawler.signals.send_catch_log(signal=article_relisted, doc_id=doc_id)


def report_store_failed(crawler: Crawler, doc_id: str, reason: str) -> None:
    """Tell the accounting a store refused an article after its item left the pipelines."""
    crawler.signals.send_catch_log(signal=article_store_failed, doc_id=doc_id, reason=reason)


def report(crawler: Crawler, request: Request, outcome: str, reason: str | None = None) -> None:
    """Tell the accounting how an article request ended (used by spiders)."""
    crawler.signals.send_catch_log(
        signal=article_outcome, request=request, outcome=outcome, reason=reason
    )


class ArticleAccounting:
    """Counts every article request's outcome; logs the balance when the spider closes."""

    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.stats = crawler.stats
        self.pending: dict[str, str] = {}  # doc_id -> URL
        self.finished = CompactMap()  # doc_id -> the stat it was counted under
        # Counted as duplicate because the seen-filter refused its request: see the docstring.
        self.refused: set[str] = set()
        self._just_scheduled: tuple[Request, str] | None = None
        self.shared_queue = shares_queue(crawler.settings)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArticleAccounting:
        if not crawler.settings.getbool("SINACRAWL_ACCOUNTING_ENABLED", True):
            raise NotConfigured
        ext = cls(crawler)
        connect = crawler.signals.connect
        connect(ext.request_scheduled, signal=signals.request_scheduled)
        connect(ext.request_dropped, signal=signals.request_dropped)
        connect(ext.item_scraped, signal=signals.item_scraped)
        connect(ext.item_dropped, signal=signals.item_dropped)
        connect(ext.item_error, signal=signals.item_error)
        connect(ext.spider_error, signal=signals.spider_error)
        connect(ext.article_outcome, signal=article_outcome)
        connect(ext.article_relisted, signal=article_relisted)
        connect(ext.store_failed, signal=article_store_failed)
        connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    # --- counting ---

    def _inc(self, key: str) -> None:
        self.stats.inc_value(PREFIX + key)

    def _schedule(self, doc_id: str, url: str) -> None:
        self.pending[doc_id] = url
        self._inc("scheduled")

    @staticmethod
    def _key(outcome: str, reason: str | None) -> str:
        return (
            f"{outcome}/{reason or 'unspecified'}" if outcome in ("dropped", "failed") else outcome
        )

    def _count(self, doc_id: str, outcome: str, reason: str | None) -> None:
        key = self._key(outcome, reason)
        self.finished[doc_id] = key
        self._inc(key)
        self.crawler.signals.send_catch_log(signal=article_counted, doc_id=doc_id, key=key)

    def _recount(self, doc_id: str, outcome: str, reason: str | None) -> None:
        """Replace the outcome a doc_id was counted under (scheduled stays as it is)."""
        self.stats.inc_value(PREFIX + self.finished[doc_id], -1)
        self.refused.discard(doc_id)
        self._count(doc_id, outcome, reason)

    def resolve(self, doc_id: str | None, outcome: str, reason: str | None = None) -> bool:
        """Record a doc_id's outcome once (True when counted now); later outcomes for it are
        ignored, except that a real outcome replaces a refused request's duplicate."""
        if not doc_id:
            return False
        if doc_id in self.finished:
            if doc_id in self.refused and outcome != "duplicate":
                self._recount(doc_id, outcome, reason)
                return True
            logger.debug("second outcome %s for %s ignored", outcome, doc_id)
            return False
        if doc_id not in self.pending and not self.shared_queue:
            self._inc("scheduled")  # reached us without the scheduler; keep the balance
        self.pending.pop(doc_id, None)
        self._count(doc_id, outcome, reason)
        return True

    @staticmethod
    def _doc_id(item: Any, response: Response | None) -> str | None:
        """The doc_id the request was scheduled under, else the item's own."""
        doc_id = article_doc_id(getattr(response, "meta", None))
        if doc_id is None and hasattr(item, "get"):
            doc_id = item.get("doc_id")
        return doc_id

    # --- signal handlers ---

    def request_scheduled(self, request: Request, spider: Spider) -> None:
        doc_id = article_doc_id(request.meta)
        self._just_scheduled = None
        if doc_id and doc_id not in self.pending and doc_id not in self.finished:
            self._schedule(doc_id, request.url)
            self._just_scheduled = (request, doc_id)

    def request_dropped(self, request: Request, spider: Spider) -> None:
        """The scheduler's duplicate filter refused an article request."""
        doc_id = article_doc_id(request.meta)
        if not doc_id:
            return
        just = self._just_scheduled
        self._just_scheduled = None
        if (just is not None and just[0] is request) or request.meta.get("redirect_times"):
            # its only request (e.g. seen in a resumed job or by another worker), or a redirect
            # onto a URL already fetched
            if self.resolve(doc_id, "duplicate"):
                self.refused.add(doc_id)
        else:  # a second listing of a doc_id already scheduled in this run
            self._inc("scheduled")
            self._inc("duplicate")

    def item_scraped(self, item: Any, response: Response, spider: Spider) -> None:
        self.resolve(self._doc_id(item, response), "stored")

    def item_dropped(
        self, item: Any, response: Response, exception: BaseException, spider: Spider
    ) -> None:
        doc_id = self._doc_id(item, response)
        if isinstance(exception, StorageFailed):
            self.resolve(doc_id, "failed", exception.reason)
        elif isinstance(exception, DuplicateArticle):
            self.resolve(doc_id, "duplicate")
        elif isinstance(exception, DropArticle):
            self.resolve(doc_id, "dropped", exception.reason)
        elif isinstance(exception, DropItem):
            self.resolve(doc_id, "dropped", "unspecified")

    def item_error(self, item: Any, response: Response, spider: Spider, failure: Failure) -> None:
        self.resolve(self._doc_id(item, response), "failed", "pipeline_error")

    def spider_error(self, failure: Failure, response: Response, spider: Spider) -> None:
        self.resolve(article_doc_id(getattr(response, "meta", None)), "failed", "callback_error")

    def article_outcome(self, request: Request, outcome: str, reason: str | None = None) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown article outcome {outcome!r}; expected one of {OUTCOMES}")
        self.resolve(article_doc_id(request.meta), outcome, reason)

    def store_failed(self, doc_id: str, reason: str) -> None:
        if self.finished.get(doc_id) == "stored":
            self._recount(doc_id, "failed", reason)
        else:  # refused before its item_scraped arrived, which is then a second outcome
            self.resolve(doc_id, "failed", reason)

    def article_relisted(self, doc_id: str) -> None:
        """A second listing: a duplicate of the scheduled one, or (when the first listing was
        skipped as already stored) one more known article."""
        if doc_id in self.pending or doc_id in self.finished:
            self._inc("scheduled")
            self._inc("duplicate")
        else:
            self._inc("skipped_known")

    def spider_closed(self, spider: Spider, reason: str) -> None:
        if self.pending and not self.shared_queue:
            examples = ", ".join(list(self.pending.values())[:5])
            logger.warning(
                "%d scheduled articles never finished (spider closed: %s), e.g. %s",
                len(self.pending),
                reason,
                examples,
            )
            for doc_id in list(self.pending):
                self.resolve(doc_id, "failed", "unfinished")
        self.log_balance()

    def counts(self) -> dict[str, int]:
        """scheduled and each outcome's total from the stats."""
        stats = self.stats.get_stats()
        totals = {"scheduled": int(stats.get(PREFIX + "scheduled", 0))}
        for outcome in OUTCOMES:
            key = PREFIX + outcome
            totals[outcome] = sum(
                int(v) for k, v in stats.items() if k == key or k.startswith(key + "/")
            )
        return totals

    def log_balance(self) -> None:
        c = self.counts()
        outcomes = sum(c[o] for o in OUTCOMES)
        line = (
            f"Articles: {c['scheduled']} scheduled = {c['stored']} stored + {c['dropped']} dropped"
            f" + {c['failed']} failed + {c['duplicate']} duplicate"
        )
        if outcomes == c["scheduled"] or self.shared_queue:
            logger.info(line)
        else:
            logger.warning("%s -- does not add up (%d outcomes)", line, outcomes)
