"""Scrapy add-ons (``ADDONS``) for the optional parts, decided from the final settings.

Add-ons see the settings after the environment, ``settings.py`` and ``-s`` have all been
applied, so ``MONGO_URI`` and ``REDIS_URL`` work from any of them. Neither pymongo nor
scrapy-redis is imported unless its URL is set: they are the ``mongo`` and ``redis`` extras
(``pip install 'sinacrawl[mongo,redis]'``); which stores are on is decided in
:func:`sinacrawl.stores.configured_stores`.
"""

from __future__ import annotations

import importlib.util
import logging
from typing import TYPE_CHECKING

from scrapy.exceptions import UsageError

if TYPE_CHECKING:
    from scrapy.settings import Settings

logger = logging.getLogger(__name__)

QUEUE_KEY = "sinacrawl:%(spider)s:requests"
SEEN_KEY = "sinacrawl:%(spider)s:seen"


def require(module: str, extra: str, setting: str) -> None:
    """Stop the run with the install command when ``setting`` needs a missing package (a
    NotConfigured here would only log a warning and run without the store asked for)."""
    if importlib.util.find_spec(module) is None:
        raise UsageError(
            f"{setting} is set but {module} is not installed: pip install 'sinacrawl[{extra}]'"
        )


class MongoAddon:
    """Checks that ``MONGO_URI`` can be served (pymongo installed); without it, says once at
    INFO that MongoDB is off, so an operator reading a healthy log knows where items went."""

    def update_settings(self, settings: Settings) -> None:
        if not settings.get("MONGO_URI"):
            logger.info("MongoDB off (MONGO_URI is not set)")
            return
        require("pymongo", "mongo", "MONGO_URI")


class DistributedAddon:
    """Turns on the Redis scheduler, seen-set and idle handling when ``REDIS_URL`` is set."""

    def update_settings(self, settings: Settings) -> None:
        if not settings.get("REDIS_URL"):
            return
        require("scrapy_redis", "redis", "REDIS_URL")
        for name, value in {
            "SCHEDULER": "sinacrawl.distributed.SharedScheduler",
            "DUPEFILTER_CLASS": "sinacrawl.distributed.ExpiringRedisDupeFilter",
            "SCHEDULER_PERSIST": True,
            "SCHEDULER_QUEUE_KEY": QUEUE_KEY,
            "SCHEDULER_DUPEFILTER_KEY": SEEN_KEY,
            "SCHEDULER_QUEUE_CLASS": "scrapy_redis.queue.PriorityQueue",
        }.items():
            settings.set(name, value, priority="addon")
        settings.set_in_component_priority_dict(
            "EXTENSIONS", "sinacrawl.distributed.SharedQueueKeepAlive", 550
        )
