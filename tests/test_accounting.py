"""The accounting extension: every scheduled article ends as exactly one outcome."""

from __future__ import annotations

import pytest
from scrapy import Request, Spider, signals
from scrapy.exceptions import DropItem
from scrapy.http import Response
from scrapy.utils.test import get_crawler
from twisted.python.failure import Failure

from sinacrawl.exceptions import DropArticle, DuplicateArticle
from sinacrawl.extensions.accounting import ArticleAccounting, report, report_relisted
from sinacrawl.parsing.listing import ListingEntry

PREFIX = "sinacrawl/articles/"


def article(doc_id: str, url: str | None = None, **meta) -> Request:
    url = url or f"https://finance.sina.com.cn/a/doc-{doc_id}.shtml"
    listing = ListingEntry(url=url, doc_id=doc_id)
    return Request(url, meta={"listing": listing, "doc_id": doc_id, "channel": "china", **meta})


class Run:
    """An accounting extension on a crawler, and the signals a crawl would send it."""

    def __init__(self, settings=None):
        self.crawler = get_crawler(Spider, settings or {})
        self.spider = Spider("finance")
        self.ext = ArticleAccounting.from_crawler(self.crawler)

    def send(self, signal, **kwargs):
        self.crawler.signals.send_catch_log(signal=signal, spider=self.spider, **kwargs)

    def schedule(self, request, dropped=False):
        self.send(signals.request_scheduled, request=request)
        if dropped:
            self.send(signals.request_dropped, request=request)

    def response(self, request):
        return Response(request.url, request=request)

    def stored(self, request):
        item = {"doc_id": request.meta["doc_id"]}
        self.send(signals.item_scraped, item=item, response=self.response(request))

    def dropped(self, request, exception):
        item = {"doc_id": request.meta["doc_id"]}
        self.send(
            signals.item_dropped, item=item, response=self.response(request), exception=exception
        )

    def close(self):
        self.send(signals.spider_closed, reason="finished")

    def stats(self):
        return {
            k[len(PREFIX) :]: v
            for k, v in self.crawler.stats.get_stats().items()
            if k.startswith(PREFIX)
        }


def balance(stats):
    outcomes = sum(v for k, v in stats.items() if k != "scheduled")
    return stats.get("scheduled", 0), outcomes


def test_every_outcome_once_and_the_balance_holds(caplog):
    run = Run()
    a, b, c, d, f = (article(x) for x in ("ia", "ib", "ic", "id", "if"))
    for request in (a, b, c, d, f):
        run.schedule(request)
    run.schedule(article("ia"), dropped=True)  # the second listing of a: a duplicate
    run.schedule(Request("https://feed.mix.sina.com.cn/api/roll/get", meta={"listing_page": 2}))
    run.stored(a)
    run.dropped(b, DropArticle("no_body", "empty page"))
    run.dropped(c, DuplicateArticle("seen"))
    report(run.crawler, d, "failed", "http_404")
    with caplog.at_level("INFO"):
        run.close()  # f never finished
    assert run.stats() == {
        "scheduled": 6,
        "stored": 1,
        "dropped/no_body": 1,
        "duplicate": 2,
        "failed/http_404": 1,
        "failed/unfinished": 1,
    }
    assert "6 scheduled = 1 stored + 1 dropped + 2 failed + 2 duplicate" in caplog.text
    assert "doc-if.shtml" in caplog.text  # the unfinished one is named


def test_retries_and_redirects_are_not_scheduled_twice():
    run = Run()
    request = article("ia")
    run.schedule(request)
    run.schedule(request.replace(dont_filter=True))  # a retry
    run.schedule(
        request.replace(url=request.url + "?r=1", meta={**request.meta, "redirect_times": 1})
    )
    run.stored(request)
    run.close()
    assert run.stats() == {"scheduled": 1, "stored": 1}


def test_a_redirect_onto_a_fetched_url_ends_as_duplicate():
    run = Run()
    first, second = article("ia"), article("ib")
    run.schedule(first)
    run.schedule(second)
    run.stored(first)
    redirected = second.replace(url=first.url, meta={**second.meta, "redirect_times": 1})
    run.schedule(redirected, dropped=True)
    run.close()
    assert run.stats() == {"scheduled": 2, "stored": 1, "duplicate": 1}


def test_a_request_the_filter_refuses_on_its_first_listing_is_one_duplicate():
    run = Run()  # e.g. a resumed job whose seen-set already holds it
    run.schedule(article("ia"), dropped=True)
    run.close()
    assert run.stats() == {"scheduled": 1, "duplicate": 1}


def test_a_second_outcome_for_a_doc_id_is_ignored():
    run = Run()
    request = article("ia")
    run.schedule(request)
    run.stored(request)
    report(run.crawler, request, "failed", "timeout")
    run.close()
    assert run.stats() == {"scheduled": 1, "stored": 1}


def test_pipeline_and_callback_errors_and_plain_drops():
    run = Run()
    a, b, c = article("ia"), article("ib"), article("ic")
    for request in (a, b, c):
        run.schedule(request)
    failure = Failure(RuntimeError("disk full"))
    run.send(signals.item_error, item={"doc_id": "ia"}, response=run.response(a), failure=failure)
    run.send(signals.spider_error, failure=failure, response=run.response(b))
    run.dropped(c, DropItem("some other pipeline"))
    run.close()
    assert run.stats() == {
        "scheduled": 3,
        "failed/pipeline_error": 1,
        "failed/callback_error": 1,
        "dropped/unspecified": 1,
    }


def test_with_a_shared_queue_pending_articles_are_not_called_unfinished():
    run = Run({"SCHEDULER": "scrapy_redis.scheduler.Scheduler"})
    run.schedule(article("ia"))
    request_of_another_worker = article("ib")
    run.stored(request_of_another_worker)
    run.close()
    assert run.stats() == {"scheduled": 1, "stored": 1}


def test_unknown_outcome_is_a_programming_error():
    run = Run()
    with pytest.raises(ValueError, match="unknown article outcome"):
        run.ext.article_outcome(article("ia"), "lost")


def test_switched_off():
    from scrapy.exceptions import NotConfigured

    crawler = get_crawler(Spider, {"SINACRAWL_ACCOUNTING_ENABLED": False})
    with pytest.raises(NotConfigured):
        ArticleAccounting.from_crawler(crawler)


def test_a_relisted_doc_id_is_a_duplicate_or_a_known_article():
    run = Run()
    request = article("ia")
    run.schedule(request)
    report_relisted(run.crawler, "ia")  # listed again while pending
    run.stored(request)
    report_relisted(run.crawler, "ia")  # and again after it was stored
    report_relisted(run.crawler, "ib")  # its first listing was skipped as already stored
    run.close()
    assert run.stats() == {"scheduled": 3, "stored": 1, "duplicate": 2, "skipped_known": 1}


@pytest.mark.parametrize(
    "scheduler", ["scrapy.core.scheduler.Scheduler", "sinacrawl.distributed.SharedScheduler"]
)
def test_a_refused_request_whose_queued_twin_ends_here_counts_as_that_outcome(scheduler):
    # The seen-filter refuses the listing's request because a previous run (JOBDIR) or another
    # worker (Redis) queued the same one; that queued request then reaches this process.
    run = Run({"SCHEDULER": scheduler})
    stored, dropped, failed, elsewhere = (article(x) for x in ("ia", "ib", "ic", "id"))
    for request in (stored, dropped, failed, elsewhere):
        run.schedule(request, dropped=True)
    run.stored(stored)
    run.dropped(dropped, DropArticle("no_body", "empty page"))
    report(run.crawler, failed, "failed", "http_404")
    run.stored(stored)  # a second outcome still changes nothing
    run.close()
    assert run.stats() == {
        "scheduled": 4,
        "stored": 1,
        "dropped/no_body": 1,
        "failed/http_404": 1,
        "duplicate": 1,  # "id" was taken by another worker, or finished by an earlier run
    }


def test_a_refused_request_stays_a_duplicate_when_its_twin_is_a_duplicate_too():
    run = Run()
    request = article("ia")
    run.schedule(request, dropped=True)
    run.dropped(request, DuplicateArticle("seen"))
    run.close()
    assert run.stats() == {"scheduled": 1, "duplicate": 1}


def test_a_resumed_job_that_stored_its_queued_articles_is_not_nothing_stored():
    from sinacrawl.extensions.summary import ExitCode, decide

    run = Run()  # JOBDIR: two listed articles are in the job's seen-set and queue already
    queued = [article("i1"), article("i2")]
    for request in queued:
        run.schedule(request, dropped=True)
    new = article("i3")
    run.schedule(new)
    for request in queued:
        run.stored(request)
    report(run.crawler, new, "failed", "http_404")
    run.close()
    assert run.stats() == {"scheduled": 3, "stored": 2, "failed/http_404": 1, "duplicate": 0}
    assert decide(run.crawler.stats.get_stats(), "finished") == (ExitCode.OK, [])


def test_a_queue_is_shared_under_any_scheduler_but_scrapys_own():
    from scrapy.core.scheduler import Scheduler
    from scrapy.settings import Settings

    from sinacrawl.distributed import SharedScheduler
    from sinacrawl.extensions.accounting import shares_queue

    assert not shares_queue(Settings())
    assert not shares_queue(Settings({"SCHEDULER": Scheduler}))
    assert shares_queue(Settings({"SCHEDULER": "sinacrawl.distributed.SharedScheduler"}))
    assert shares_queue(Settings({"SCHEDULER": SharedScheduler}))
