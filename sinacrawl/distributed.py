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
  ``SINACRAWL_REDIS_POLL`` seconds (default 0.05, one small Redis call) instead of Scrapy's 5 s
  heartbeat, so a worker waiting for work starts on what another pushes at once;

So with N workers started together, the first to read a listing page schedules its articles
for all of them; every article request is handed to exactly one worker (``ZPOPMIN`` pops
atomically). Storage stays idempotent regardless (the stores key on ``doc_id``).

Redis is called synchronously from Scrapy's reactor thread, so each round trip stalls the
whole worker (on a busy machine, until redis-server gets a CPU). The scheduler keeps them few:

- an enqueue is one Lua script (seen-check with its TTL and the push together), not two calls;
- a dequeue takes up to ``SINACRAWL_REDIS_BATCH`` requests (default 8) in one ``ZPOPMIN`` into
  a small local buffer. A worker that stops normally (finished, ``CLOSESPIDER_*``, Ctrl-C)
  puts its unstarted buffer back; one killed with ``kill -9`` loses them like its in-flight
  requests: their seen entries expire after ``SINACRAWL_REDIS_SEEN_TTL`` and the next run,
  which reads the listings again, schedules them anew;
- a listing page a worker finds (the next page of one it read) passes the seen-set but stays
  with that worker, first in its buffer, instead of queueing behind the articles: the chain
  of listing pages decides how fast articles reach the queue, and with several workers busy
  a trip through the shared queue would slow every link of it;
- after an empty dequeue the shared queue is not asked again for 50 ms unless this worker
  pushed something (responses finishing would otherwise each cost a call that finds nothing);
- requests are pickled as ``Request.to_dict()`` dicts (the format scrapy-redis reads), but
  the callback's name is taken from the bound method rather than searched for among all the
  spider's members.

Needs Redis 5 or later (``ZPOPMIN``).
"""

from __future__ import annotations

import logging
import pickle
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from scrapy import Request, signals
from scrapy.exceptions import DontCloseSpider, NotConfigured
from scrapy.utils.asyncio import create_looping_call
from scrapy.utils.misc import load_object
from scrapy.utils.request import request_from_dict
from scrapy_redis.dupefilter import RFPDupeFilter
from scrapy_redis.scheduler import Scheduler

# The add-on lives apart so that a run without REDIS_URL never imports scrapy-redis.
from sinacrawl.addons import SEEN_KEY, DistributedAddon  # noqa: F401

if TYPE_CHECKING:
    from scrapy import Spider
    from scrapy.crawler import Crawler
    from scrapy.settings import Settings
    from typing_extensions import Self

logger = logging.getLogger(__name__)

EMPTY_BACKOFF = 0.05
"""Seconds an empty dequeue is trusted: no Redis call for work in that time."""

# KEYS[1] the queue, KEYS[2] the request's seen key (absent: not checked).
# ARGV[1] score, ARGV[2] the encoded request ("": kept by this worker), ARGV[3] seen TTL (s).
# Returns 1 when accepted, 0 when the seen key existed (a duplicate).
ENQUEUE_SCRIPT = """
if KEYS[2] and not redis.call('SET', KEYS[2], 1, 'NX', 'EX', ARGV[3]) then
  return 0
end
if ARGV[2] ~= '' then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
end
return 1
"""


class SharedScheduler(Scheduler):
    """scrapy-redis's scheduler, minus its Scrapy 2.19 deprecation warnings.

    scrapy-redis 0.9 passes ``spider=`` to ``StatsCollector.inc_value`` and logs through
    ``Spider.log()``, both deprecated in Scrapy 2.19; the three methods doing so are restated
    here without them. One change: listing pages are deduplicated across workers.
    """

    batch = 8
    """Requests taken from the shared queue per call (``SINACRAWL_REDIS_BATCH``)."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        scheduler = super().from_crawler(crawler)
        scheduler.batch = max(crawler.settings.getint("SINACRAWL_REDIS_BATCH", 8), 1)
        return scheduler

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
        self.codec = RequestCodec(spider)
        # (encoded or, when this worker kept it, live request; its queue score)
        self.buffer: deque[tuple[bytes | Request, float]] = deque()
        self.empty_until = 0.0
        self.push_script = self.server.register_script(ENQUEUE_SCRIPT)
        if self.flush_on_start:
            self.flush()
        logger.info(
            "distributed mode: shared queue %s (%d requests waiting), seen-set %s",
            self.queue.key,
            len(self.queue),
            self.df.key,
        )

    def close(self, reason: str) -> None:
        self.give_back()
        super().close(reason)

    def give_back(self) -> None:
        """Return the buffered, unstarted requests to the shared queue for the others."""
        if not getattr(self, "buffer", None):
            return
        pairs = {
            self.codec.encode(item) if isinstance(item, Request) else item: score
            for item, score in self.buffer
        }
        self.buffer.clear()
        try:
            self.server.zadd(self.queue.key, pairs)
        except Exception:  # Redis gone: like a killed worker's, they come back after the TTL
            logger.error(
                "distributed mode: could not put %d unstarted requests back in the queue; "
                "a later run schedules them once their seen entries expire",
                len(pairs),
                exc_info=True,
            )
            return
        logger.info("distributed mode: %d unstarted requests put back in the queue", len(pairs))

    def __len__(self) -> int:
        return len(self.buffer) + len(self.queue)

    def has_pending_requests(self) -> bool:
        return bool(self.buffer) or len(self.queue) > 0

    def enqueue_request(self, request: Request) -> bool:
        # Listing requests carry dont_filter (a run must re-read them even when a JOBDIR or
        # this seen-set remembers them); across workers started together they still go
        # through the seen-set, whose listing entries expire after SINACRAWL_REDIS_LISTING_TTL.
        checked = not request.dont_filter or "listing_page" in request.meta
        keys = [self.queue.key]
        if checked:
            keys.append(self.df.seen_key(request))
        keep = "listing_page" in request.meta
        data = b"" if keep else self.codec.encode(request)
        ttl = self.df.ttl(request)
        if not self.push_script(keys=keys, args=[-request.priority, data, ttl]):
            self.df.log(request, self.spider)
            return False
        if keep:
            self.buffer.appendleft((request, -request.priority))
        else:
            self.empty_until = 0.0
        if self.stats:
            self.stats.inc_value("scheduler/enqueued/redis")
        return True

    def next_request(self) -> Request | None:
        if not self.buffer:
            if time.monotonic() < self.empty_until:
                return None
            self.buffer.extend(self.server.zpopmin(self.queue.key, self.batch))
            if not self.buffer:
                self.empty_until = time.monotonic() + EMPTY_BACKOFF
                return None
        item, _score = self.buffer.popleft()
        request = item if isinstance(item, Request) else self.codec.decode(item)
        if self.stats:
            self.stats.inc_value("scheduler/dequeued/redis")
        return request


class RequestCodec:
    """Requests to bytes and back, as scrapy-redis's queues store them: a pickled
    ``Request.to_dict()``. ``to_dict`` finds a callback's name by listing every member of the
    spider (``inspect.getmembers``), a large part of a request's cost; a bound method of the
    spider names itself, so only other callables take that road."""

    def __init__(self, spider: Spider) -> None:
        self.spider = spider

    def _name(self, func: Any) -> str | None:
        if func is None or isinstance(func, str):
            return func
        name = getattr(func, "__name__", "")
        own = getattr(self.spider, name, None)
        if getattr(func, "__self__", None) is self.spider and getattr(
            own, "__func__", None
        ) is getattr(func, "__func__", 0):
            return name
        raise LookupError(name)

    def to_dict(self, request: Request) -> dict[str, Any]:
        if type(request) is not Request:  # subclasses may add fields: Scrapy's own way
            return request.to_dict(spider=self.spider)
        try:
            names = {"callback": self._name(request.callback)}
            names["errback"] = self._name(request.errback)
        except LookupError:
            return request.to_dict(spider=self.spider)
        obj: dict[str, Any] = {"url": request.url, **names, "headers": dict(request.headers)}
        for attr in request.attributes:
            obj.setdefault(attr, getattr(request, attr))
        return obj

    def encode(self, request: Request) -> bytes:
        return pickle.dumps(self.to_dict(request), protocol=pickle.HIGHEST_PROTOCOL)

    def decode(self, data: bytes) -> Request:
        return request_from_dict(pickle.loads(data), spider=self.spider)


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

    def ttl(self, request: Request) -> int:
        """Seconds the seen entry of ``request`` lives."""
        return max(self.listing_ttl if "listing_page" in request.meta else self.seen_ttl, 1)

    def seen_key(self, request: Request) -> str:
        return f"{self.key}:{self.request_fingerprint(request)}"

    def request_seen(self, request: Request) -> bool:
        added = self.server.set(self.seen_key(request), 1, nx=True, ex=self.ttl(request))
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
            crawler.settings.getfloat("SINACRAWL_REDIS_POLL", 0.05),
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
