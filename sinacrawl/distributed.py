"""Distributed mode: with ``REDIS_URL`` set, crawl processes share one queue and one seen-set.

Loaded as a Scrapy add-on (``ADDONS``), so ``REDIS_URL`` works from the environment, from
``settings.py`` or from ``-s`` alike. When it is set, the add-on switches the scheduler and the
duplicate filter to scrapy-redis's, with three changes for a cron-run news crawler:

- the queue persists when a worker finishes (``SCHEDULER_PERSIST``): with scrapy-redis's
  default, the first worker to finish would wipe the requests the others still had to do;
- the seen-set forgets, per request: listing pages after ``SINACRAWL_REDIS_LISTING_TTL``
  seconds (default 120: workers started together read each listing page once, and the next
  cron run reads the listings afresh), article pages after ``SINACRAWL_REDIS_SEEN_TTL``
  (default 600, a run's length: long enough that no two workers fetch one article in a run,
  short enough that the articles a killed worker had in flight are fetched by a later run;
  the stores' own incremental skip keeps later runs from refetching what is stored);
- an idle worker waits ``SINACRAWL_REDIS_IDLE_CLOSE`` seconds (default 10) for requests other
  workers push before it closes, and polls the shared queue every
  ``SINACRAWL_REDIS_POLL`` seconds (default 0.2) instead of Scrapy's 5 s heartbeat.

So with N workers started together, the first to read a listing page schedules its articles
for all of them; every article request is handed to exactly one worker (scrapy-redis pops
atomically). Storage stays idempotent regardless (the stores key on ``doc_id``).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import DontCloseSpider, NotConfigured
from scrapy.utils.asyncio import create_looping_call
from scrapy.utils.misc import load_object
from scrapy_redis.dupefilter import RFPDupeFilter
from scrapy_redis.scheduler import Scheduler

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.settings import Settings
    from typing_extensions import Self

logger = logging.getLogger(__name__)

QUEUE_KEY = "sinacrawl:%(spider)s:requests"
SEEN_KEY = "sinacrawl:%(spider)s:seen"


class DistributedAddon:
    """Turns on the Redis scheduler, seen-set and idle handling when ``REDIS_URL`` is set."""

    def update_settings(self, settings: Settings) -> None:
        if not settings.get("REDIS_URL"):
            return
        for name, value in {
            "SCHEDULER": "sinacrawl.distributed.SharedScheduler",
            "DUPEFILTER_CLASS": "sinacrawl.distributed.ExpiringRedisDupeFilter",
            "SCHEDULER_PERSIST": True,
            "SCHEDULER_QUEUE_KEY": QUEUE_KEY,
            "SCHEDULER_DUPEFILTER_KEY": SEEN_KEY,
            "SCHEDULER_QUEUE_CLASS": "scrapy_redis.queue.PriorityQueue",
        }.items():
            settings.set(name, value, priority="addon")
        settings.set_in_component_priority_dict("EXTENSIONS", SharedQueueKeepAlive, 550)


class SharedScheduler(Scheduler):
    """scrapy-redis's scheduler, minus its Scrapy 2.19 deprecation warnings.

    scrapy-redis 0.9 passes ``spider=`` to ``StatsCollector.inc_value`` and logs through
    ``Spider.log()``, both deprecated in Scrapy 2.19; the three methods doing so are restated
    here without them. One change: listing pages are deduplicated across workers.
    """

    def open(self, spider: Spider) -> None:
        # As scrapy-redis's open(), which also logs through the deprecated Spider.log().
        self.spider = spider
        self.queue = load_object(self.queue_cls)(
            server=self.server,
            spider=spider,
            key=self.queue_key % {"spider": spider.name},
            serializer=self.serializer,
        )
        if not self.df:
            self.df = load_object(self.dupefilter_cls).from_spider(spider)
        if self.flush_on_start:
            self.flush()
        logger.info(
            "distributed mode: shared queue %s (%d requests waiting), seen-set %s",
            self.queue.key,
            len(self.queue),
            self.df.key,
        )

    def enqueue_request(self, request: Request) -> bool:
        # Listing requests carry dont_filter (a run must re-read them even when a JOBDIR or
        # this seen-set remembers them); across workers started together they still go
        # through the seen-set, whose listing entries expire after SINACRAWL_REDIS_LISTING_TTL.
        checked = not request.dont_filter or "listing_page" in request.meta
        if checked and self.df.request_seen(request):
            self.df.log(request, self.spider)
            return False
        if self.stats:
            self.stats.inc_value("scheduler/enqueued/redis")
        self.queue.push(request)
        return True

    def next_request(self) -> Request | None:
        request = self.queue.pop(self.idle_before_close)
        if request is not None and self.stats:
            self.stats.inc_value("scheduler/dequeued/redis")
        return request


class ExpiringRedisDupeFilter(RFPDupeFilter):
    """A Redis seen-set whose entries expire, listing pages sooner than articles.

    One key per fingerprint (``SET key 1 NX EX ttl``) rather than one Redis set, because a set
    can only expire as a whole.
    """

    def __init__(
        self,
        server: Any,
        key: str,
        debug: bool = False,
        listing_ttl: int = 120,
        seen_ttl: int = 600,
    ) -> None:
        super().__init__(server, key, debug)
        self.listing_ttl = listing_ttl
        self.seen_ttl = seen_ttl

    @classmethod
    def from_spider(cls, spider: Spider) -> Self:
        settings = spider.settings
        key = settings.get("SCHEDULER_DUPEFILTER_KEY", SEEN_KEY) % {"spider": spider.name}
        return cls(
            _redis(settings),
            key=key,
            debug=settings.getbool("DUPEFILTER_DEBUG"),
            listing_ttl=settings.getint("SINACRAWL_REDIS_LISTING_TTL", 120),
            seen_ttl=settings.getint("SINACRAWL_REDIS_SEEN_TTL", 600),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:  # type: ignore[override]
        return cls(
            _redis(settings),
            key=SEEN_KEY % {"spider": "default"},
            debug=settings.getbool("DUPEFILTER_DEBUG"),
            listing_ttl=settings.getint("SINACRAWL_REDIS_LISTING_TTL", 120),
            seen_ttl=settings.getint("SINACRAWL_REDIS_SEEN_TTL", 600),
        )

    def request_seen(self, request: Request) -> bool:
        ttl = self.listing_ttl if "listing_page" in request.meta else self.seen_ttl
        fingerprint = self.request_fingerprint(request)
        added = self.server.set(f"{self.key}:{fingerprint}", 1, nx=True, ex=max(ttl, 1))
        return not added

    def clear(self) -> None:
        for name in self.server.scan_iter(match=f"{self.key}:*", count=1000):
            self.server.delete(name)


def _redis(settings: Settings) -> Any:
    from scrapy_redis.connection import get_redis_from_settings

    return get_redis_from_settings(settings)


class SharedQueueKeepAlive:
    """Keeps an idle worker alive while the shared queue may still fill, and polls it."""

    def __init__(self, crawler: Crawler, idle_close: float, poll: float) -> None:
        self.crawler = crawler
        self.idle_close = idle_close
        self.poll = poll
        self.last_busy = time.monotonic()
        self.task: Any = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if not crawler.settings.get("REDIS_URL"):
            raise NotConfigured
        ext = cls(
            crawler,
            crawler.settings.getfloat("SINACRAWL_REDIS_IDLE_CLOSE", 10.0),
            crawler.settings.getfloat("SINACRAWL_REDIS_POLL", 0.2),
        )
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(ext.busy, signal=signals.request_scheduled)
        crawler.signals.connect(ext.busy, signal=signals.response_received)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def busy(self, **kwargs: Any) -> None:
        self.last_busy = time.monotonic()

    def spider_opened(self, spider: Spider) -> None:
        self.last_busy = time.monotonic()
        if self.poll > 0:
            self.task = create_looping_call(self._wake)
            self.task.start(self.poll, now=False)

    def spider_closed(self, spider: Spider) -> None:
        if self.task is not None and self.task.running:
            self.task.stop()

    def _queued(self) -> int:
        engine = self.crawler.engine
        scheduler = getattr(getattr(engine, "_slot", None), "scheduler", None)
        try:
            return len(scheduler) if scheduler is not None else 0
        except Exception:  # Redis away for a moment: the next poll tries again
            logger.debug("could not read the shared queue length", exc_info=True)
            return 0

    def _wake(self) -> None:
        # Scrapy looks at an idle scheduler only every 5 s; other workers may have pushed
        # requests since, or the idle grace may be over. Waking the engine's request loop
        # (a private but stable hook) makes this worker take new requests, or close, now.
        slot = getattr(self.crawler.engine, "_slot", None)
        nextcall = getattr(slot, "nextcall", None)
        if nextcall is not None:
            nextcall.schedule()

    def spider_idle(self, spider: Spider) -> None:
        if self._queued():
            self.last_busy = time.monotonic()
            raise DontCloseSpider
        if time.monotonic() - self.last_busy < self.idle_close:
            raise DontCloseSpider
        logger.info(
            "distributed mode: shared queue empty for %.0f s, this worker is done", self.idle_close
        )
