"""Distributed mode: REDIS_URL shares one queue and one seen-set between crawl processes."""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
import redis
from scrapy import FormRequest, Request, Spider
from scrapy.settings import Settings

from sinacrawl.distributed import (
    EMPTY_BACKOFF,
    DistributedAddon,
    ExpiringRedisDupeFilter,
    RequestCodec,
    SharedScheduler,
)
from sinacrawl.parsing.listing import ListingEntry
from tests.opskit import local_site, ops_command, scrapy_env
from tests.redis_server import redis_url  # noqa: F401  (the fixture)


def test_without_redis_url_the_addon_changes_nothing() -> None:
    settings = Settings({"REDIS_URL": None})
    DistributedAddon().update_settings(settings)
    assert settings["SCHEDULER"] == "scrapy.core.scheduler.Scheduler"
    assert "sinacrawl.distributed.SharedQueueKeepAlive" not in str(settings["EXTENSIONS"])


def test_redis_url_switches_to_the_shared_scheduler_and_seen_set() -> None:
    settings = Settings()
    # -s on the command line (priority "cmdline") is what an operator uses.
    settings.set("REDIS_URL", "redis://127.0.0.1:6379/0", priority="cmdline")
    DistributedAddon().update_settings(settings)
    assert settings["SCHEDULER"] == "sinacrawl.distributed.SharedScheduler"
    assert settings["DUPEFILTER_CLASS"] == "sinacrawl.distributed.ExpiringRedisDupeFilter"
    # A finishing worker must not wipe the queue the others still work on.
    assert settings.getbool("SCHEDULER_PERSIST") is True
    assert "SharedQueueKeepAlive" in str(settings.getdict("EXTENSIONS"))


def test_the_seen_set_forgets_listing_pages_sooner_than_articles(redis_url: str) -> None:  # noqa: F811
    server = redis.Redis.from_url(redis_url)
    seen = ExpiringRedisDupeFilter(server, "test:seen", listing_ttl=1, seen_ttl=60)
    listing = Request("https://feed.mix.sina.com.cn/api/roll/get?page=1", meta={"listing_page": 1})
    article = Request("https://finance.sina.com.cn/roll/2026-11-27/doc-iabc.shtml")
    assert not seen.request_seen(listing) and not seen.request_seen(article)
    assert seen.request_seen(listing) and seen.request_seen(article)
    time.sleep(1.2)
    assert not seen.request_seen(listing), "the next cron run must read the listings again"
    assert seen.request_seen(article)
    seen.clear()
    assert not seen.request_seen(article)
    seen.clear()


class QueueSpider(Spider):
    name = "queue"

    def parse_article(self, response): ...

    def article_failed(self, failure): ...


def article(n: int, spider: Spider) -> Request:
    url = f"https://finance.sina.com.cn/roll/2026-11-27/doc-inq{n:06d}.shtml"
    entry = ListingEntry(url=url, doc_id=f"inq{n:06d}", title=f"标题 {n}", ctime=None)
    return Request(
        url,
        callback=spider.parse_article,
        errback=spider.article_failed,
        meta={"listing": entry, "doc_id": entry.doc_id, "channel": "china", "categories": ["金融"]},
    )


def test_requests_are_stored_as_scrapy_redis_stores_them() -> None:
    spider = QueueSpider()
    codec = RequestCodec(spider)
    request = article(1, spider)
    # The same dict Scrapy's (slow) to_dict gives, so workers of scrapy-redis read them too.
    assert codec.to_dict(request) == request.to_dict(spider=spider)
    back = codec.decode(codec.encode(request))
    assert back.url == request.url and back.meta == request.meta
    assert back.callback == spider.parse_article and back.errback == spider.article_failed
    form = FormRequest("https://finance.sina.com.cn/x", formdata={"a": "1"}, callback=spider.parse)
    assert type(codec.decode(codec.encode(form))) is FormRequest
    with pytest.raises(ValueError, match="not an instance method"):
        codec.encode(Request("https://finance.sina.com.cn/y", callback=lambda r: None))


def open_scheduler(server: redis.Redis, key: str, batch: int = 8) -> SharedScheduler:
    scheduler = SharedScheduler(
        server,
        persist=True,
        queue_key=f"{key}:requests",
        queue_cls="scrapy_redis.queue.PriorityQueue",
        dupefilter=ExpiringRedisDupeFilter(server, f"{key}:seen", listing_ttl=60, seen_ttl=60),
    )
    scheduler.batch = batch
    scheduler.open(QueueSpider())
    return scheduler


def drain(scheduler: SharedScheduler) -> list[str]:
    urls = []
    while (request := scheduler.next_request()) is not None:
        urls.append(request.url)
    return urls


def test_workers_take_batches_and_a_stopping_worker_gives_its_buffer_back(
    redis_url: str,  # noqa: F811
) -> None:
    server = redis.Redis.from_url(redis_url)
    one, two = open_scheduler(server, "t:batch", batch=5), open_scheduler(server, "t:batch")
    spider = one.spider
    assert [one.enqueue_request(article(n, spider)) for n in range(20)] == [True] * 20
    # A second listing of the same articles, by the other worker: refused.
    assert not two.enqueue_request(article(3, spider))
    listing = Request("https://feed.mix.sina.com.cn/api/roll/get?page=2", dont_filter=True)
    listing.meta["listing_page"] = 2
    listing.priority = 10
    assert two.enqueue_request(listing)
    assert not one.enqueue_request(listing.replace()), "one worker reads a listing page"
    # The worker that found the listing page reads it itself, next; the others never see it.
    assert server.zcard("t:batch:requests") == 20

    assert one.next_request().url.startswith("https://finance.sina.com.cn/")
    assert len(one.buffer) == 4 and server.zcard("t:batch:requests") == 15
    assert len(one) == 19
    taken = [one.next_request().url]  # from the buffer, no Redis call
    one.close("finished")  # 3 unstarted requests go back
    assert not one.buffer and server.zcard("t:batch:requests") == 18
    first = two.next_request()
    assert first is not None and first.url == listing.url, "listings go first"
    taken += drain(two)
    assert len(taken) == 19 == len(set(taken)), "every article handed out exactly once"
    assert server.zcard("t:batch:requests") == 0


def test_a_kept_listing_page_goes_to_the_shared_queue_when_its_worker_stops(
    redis_url: str,  # noqa: F811
) -> None:
    server = redis.Redis.from_url(redis_url)
    one, two = open_scheduler(server, "t:keep"), open_scheduler(server, "t:keep")
    listing = Request("https://feed.mix.sina.com.cn/api/roll/get?page=3", dont_filter=True)
    listing.meta.update(listing_page=3, channel="china")
    assert one.enqueue_request(listing)
    assert server.zcard("t:keep:requests") == 0
    one.close("shutdown")
    back = two.next_request()
    assert back is not None and back.url == listing.url and back.meta["channel"] == "china"


def test_requests_a_killed_worker_had_buffered_are_scheduled_again_later(
    redis_url: str,  # noqa: F811
) -> None:
    server = redis.Redis.from_url(redis_url)
    killed = open_scheduler(server, "t:killed", batch=4)
    killed.df.seen_ttl = 1
    spider = killed.spider
    assert all(killed.enqueue_request(article(n, spider)) for n in range(6))
    assert killed.next_request() is not None
    # kill -9: no close(); three requests sit in a buffer that is gone with the process.
    assert len(killed.buffer) == 3 and server.zcard("t:killed:requests") == 2
    rerun = open_scheduler(server, "t:killed")
    assert not rerun.enqueue_request(article(1, spider)), "within the seen TTL: a duplicate"
    time.sleep(1.2)
    # The next run reads the listings again; the lost requests are accepted once more.
    assert all(rerun.enqueue_request(article(n, spider)) for n in range(6))


def test_an_empty_queue_is_asked_again_after_a_short_pause_or_after_a_push(
    redis_url: str,  # noqa: F811
) -> None:
    server = redis.Redis.from_url(redis_url)
    one, two = open_scheduler(server, "t:empty"), open_scheduler(server, "t:empty")
    spider = one.spider
    assert one.next_request() is None
    two.enqueue_request(article(1, spider))
    assert one.next_request() is None, "an empty answer is trusted for a moment"
    assert one.has_pending_requests(), "but the queue is not reported empty"
    time.sleep(EMPTY_BACKOFF + 0.02)
    assert one.next_request().url.endswith("doc-inq000001.shtml")
    assert one.next_request() is None
    one.enqueue_request(article(2, spider))  # its own push: no pause
    assert one.next_request().url.endswith("doc-inq000002.shtml")


@pytest.mark.slow
def test_two_workers_share_the_work_and_fetch_every_page_once(
    tmp_path: Path,
    redis_url: str,  # noqa: F811
) -> None:
    workers = []
    with local_site() as site:
        for name in ("w1", "w2"):
            folder = tmp_path / name
            folder.mkdir()
            command = ops_command(
                folder,
                site.base,
                "listing",
                6,
                folder / "summary.json",
                REDIS_URL=redis_url,
                CONCURRENT_REQUESTS="4",
                SINACRAWL_REDIS_IDLE_CLOSE="3",
            )
            # Half a second a page, so both workers are still busy when the second joins.
            command += ["-a", "article_path=slow"]
            workers.append(
                (
                    folder,
                    subprocess.Popen(
                        command,
                        cwd=folder,
                        env=scrapy_env(folder),
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE,
                        text=True,
                    ),
                )
            )
        try:
            errors = [child.communicate(timeout=120)[1] for _, child in workers]
        finally:
            for _, child in workers:
                if child.poll() is None:
                    child.kill()
                    child.wait()
        fetched = Counter(site.log)
    assert [child.returncode for _, child in workers] == [0, 0], errors[0][-2000:]
    assert not [e for e in errors if "DeprecationWarning" in e], "scrapy-redis warnings leak"
    articles = {path: n for path, n in fetched.items() if path.startswith("/slow/")}
    listings = {path: n for path, n in fetched.items() if path.startswith("/list/")}
    assert len(articles) == 60 and set(articles.values()) == {1}, "every article fetched once"
    assert len(listings) == 6 and set(listings.values()) == {1}, "every listing page read once"
    summaries = [json.loads((f / "summary.json").read_text("utf-8")) for f, _ in workers]
    stored = [s["articles"]["stored"] for s in summaries]
    assert sum(stored) == 60
    assert min(stored) > 0, f"one worker did nothing: {stored}"
    # Nothing is left behind in the shared queue.
    assert redis.Redis.from_url(redis_url).zcard("sinacrawl:ops:requests") == 0
