"""Scrapy settings for sinacrawl: defaults a careful operator would choose.

Every sinacrawl setting named in SPEC (ARCHIVE_DIR, HEXO_TIMEZONE, MONGO_URI, …) can also be
given as an environment variable of the same name; ``-s NAME=value`` wins over both because
command-line settings have a higher priority than these project settings.
"""

from __future__ import annotations

import os

from sinacrawl import __version__
from sinacrawl.yesno import yes_no


def _env(name: str, default=None):
    """The environment's value for a setting, else the default (an empty value counts as unset)."""
    value = os.environ.get(name)
    return value if value not in (None, "") else default


BOT_NAME = "sinacrawl"
SPIDER_MODULES = ["sinacrawl.spiders"]
NEWSPIDER_MODULE = "sinacrawl.spiders"

# --- sinacrawl's own settings (SPEC §6); environment variables of the same name work too ---
ARCHIVE_DIR = _env("ARCHIVE_DIR", "archive")
HEXO_TIMEZONE = _env("HEXO_TIMEZONE")
MONGO_URI = _env("MONGO_URI")
MONGO_COLLECTION = _env("MONGO_COLLECTION", "articles")
# Bulk upserts of this many items; a partial batch is written after MONGO_FLUSH_SECONDS.
MONGO_BATCH_SIZE = _env("MONGO_BATCH_SIZE", 50)
MONGO_FLUSH_SECONDS = _env("MONGO_FLUSH_SECONDS", 5.0)
# Where batches MongoDB could not take wait for the next run (default under ARCHIVE_DIR).
MONGO_SPOOL_DIR = _env("MONGO_SPOOL_DIR")
REDIS_URL = _env("REDIS_URL")
SINACRAWL_UPSTREAM = _env("SINACRAWL_UPSTREAM")
SINACRAWL_SUMMARY = _env("SINACRAWL_SUMMARY")
# Article extraction in worker processes (sinacrawl/extractors.py): "auto" = 1 on 2+ CPUs
# unless REDIS_URL is set, 0 = inline in the crawl thread; seconds one page may take there.
EXTRACT_PROCESSES = _env("EXTRACT_PROCESSES", "auto")
EXTRACT_TIMEOUT = _env("EXTRACT_TIMEOUT", 30.0)

# --- unattended operation (README "Running from cron"): lock, exit codes, progress, watchdogs ---
COMMANDS_MODULE = "sinacrawl.commands"  # our `crawl`: run lock + exit status from the summary
SINACRAWL_LOCK = _env("SINACRAWL_LOCK")  # default <ARCHIVE_DIR>/.sinacrawl/run.lock; "off" disables
SINACRAWL_PROGRESS = _env("SINACRAWL_PROGRESS", "auto")  # auto | tty | log | off
SINACRAWL_COVERAGE_MAX_MISSING = _env("SINACRAWL_COVERAGE_MAX_MISSING", 0.2)
SINACRAWL_COVERAGE_MIN_ITEMS = _env("SINACRAWL_COVERAGE_MIN_ITEMS", 5)
# A cron run every 10 minutes: stop after 9 so runs never pile up; the next run continues.
CLOSESPIDER_TIMEOUT = _env("CLOSESPIDER_TIMEOUT", 540)
MEMUSAGE_ENABLED = True
MEMUSAGE_LIMIT_MB = _env("MEMUSAGE_LIMIT_MB", 1024)
MEMUSAGE_WARNING_MB = _env("MEMUSAGE_WARNING_MB", 768)
# Scrapy 2.19's remote control serves an /execute (run Python) endpoint and writes a job file
# per run, which a kill -9 leaves behind; unattended runs have no use for either.
REMOTE_CONTROL_ENABLED = False
EXTENSIONS: dict[str, int | None] = {
    # Progress replaces LogStats: its line also shows stored/dropped/failed articles.
    "scrapy.extensions.logstats.LogStats": None,
    # Early, so its spider_closed handler settles unfinished articles before the summary.
    "sinacrawl.extensions.accounting.ArticleAccounting": 100,
    "sinacrawl.extensions.flashes.FlashAccounting": 110,  # the same for 7×24 flashes
    "sinacrawl.extensions.progress.Progress": 500,
    "sinacrawl.extensions.watchdog.CoverageWatchdog": 800,
    # Last, so its spider_closed handler sees every other component's final counts.
    "sinacrawl.extensions.summary.RunSummary": 900,
}
# REDIS_URL switches on the shared scrapy-redis queue and seen-set (sinacrawl/distributed.py);
# MONGO_URI needs pymongo, and without it the log says once that MongoDB is off
# (sinacrawl/addons.py; add-ons see -s settings too).
ADDONS: dict[str, int] = {
    "sinacrawl.addons.DistributedAddon": 100,
    "sinacrawl.addons.MongoAddon": 110,
}

# --- politeness and safety ---
USER_AGENT = f"sinacrawl/{__version__} (+https://github.com/sinacrawl/sinacrawl; news archiver)"
ROBOTSTXT_OBEY = True
TELNETCONSOLE_ENABLED = False
# AutoThrottle adapts the delay to Sina's latency, aiming at 2 requests in flight per host.
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 4
# Scrapy starts this many asyncio tasks for every response's output, whatever it yields; an
# article yields one item and a listing 50 requests, so Scrapy's 100 only cost CPU per page.
CONCURRENT_ITEMS = 8
# Scrapy parses the source of every generator callback it meets to warn about "return value"
# (a bound method is a new object each time, so its cache misses): the spiders are tested.
WARN_ON_GENERATOR_RETURN_VALUE = False
# Article pages are 20-400 KB; anything past 4 MB is not an article page.
DOWNLOAD_MAXSIZE = 4 * 1024 * 1024
DOWNLOAD_WARNSIZE = 1024 * 1024
# Bounded give-up: 3 tries of at most 20 s each, plus a capped Retry-After wait.
DOWNLOAD_TIMEOUT = 20
RETRY_TIMES = 2
RETRY_AFTER_MAX = 60  # seconds; a 429/503 asking for longer is not retried in this run
REDIRECT_MAX_TIMES = 5
DOWNLOAD_HANDLERS = {
    # Plain HTTP/1.1, plus SINACRAWL_UPSTREAM's mirror rewrite below every middleware.
    "http": "sinacrawl.middlewares.UpstreamMirrorHandler",
    "https": "sinacrawl.middlewares.UpstreamMirrorHandler",
}
DOWNLOADER_MIDDLEWARES: dict[str, int | None] = {
    # First of all: every request, whatever made it, is http(s) on a Sina host (urlpolicy).
    "sinacrawl.urlpolicy.UrlPolicyMiddleware": 50,
    # Last to see responses: an article request gets its whole article or fails (guards).
    "sinacrawl.guards.ArticlePageGuardMiddleware": 60,
    # robots.txt that cannot be fetched (5xx, network error) means "disallow" (RFC 9309).
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "sinacrawl.middlewares.StrictRobotsTxtMiddleware": 100,
    # 429/503 Retry-After honoured (capped by RETRY_AFTER_MAX).
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "sinacrawl.middlewares.RetryAfterMiddleware": 550,
    # Just above RedirectMiddleware (600): sees each 3xx before it is followed.
    "sinacrawl.middlewares.RedirectGuardMiddleware": 610,
    # <meta http-equiv="refresh"> followed as before, without decoding every page for it.
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
    "sinacrawl.middlewares.ByteScanMetaRefreshMiddleware": 580,
}

# --- hostile input (docs/security.md): settings are checked by sinacrawl.config first ---
# Entries one listing page may contribute; Sina's hold 50-200, the rest is ignored.
LISTING_MAX_ENTRIES = _env("LISTING_MAX_ENTRIES", 1000)
# Only http(s) URLs on Sina hosts are fetched (sinacrawl.urlpolicy); off only for test
# harnesses whose synthetic spiders fetch 127.0.0.1 directly.
SINACRAWL_URL_POLICY = True
# Item errors and drops name the doc_id, not the whole item (sinacrawl.logformatter).
LOG_FORMATTER = "sinacrawl.logformatter.ShortLogFormatter"

# --- output ---
FEED_EXPORT_ENCODING = "utf-8"
ITEM_PIPELINES: dict[str, int] = {
    "sinacrawl.pipelines.validate.ValidatePipeline": 100,
    "sinacrawl.pipelines.dedupe.DedupePipeline": 200,
    # Every item to every configured store: the Hexo archive (ARCHIVE_DIR) and MongoDB
    # (MONGO_URI); see sinacrawl/stores/__init__.py.
    "sinacrawl.pipelines.store.StorePipeline": 300,
}

# --- incremental runs (SPEC §6): known articles are not downloaded again ---
SPIDER_MIDDLEWARES: dict[str, int] = {"sinacrawl.incremental.IncrementalMiddleware": 700}
# Stop paginating a listing once one of its pages held nothing but stored articles.
STOP_ON_KNOWN_PAGE = yes_no(_env("STOP_ON_KNOWN_PAGE", "1")) is not False

# --- history (docs/history.md): day-window backfills and gap detection ---
# A cron run whose listing pages do not reach back to where the last clean run stopped reads
# at most this many of the missing days through day windows; older ones are reported as a
# gap (exit status 9) with the command that fills them.
SINACRAWL_CATCHUP_DAYS = _env("SINACRAWL_CATCHUP_DAYS", 7)
# Listing pages read per day window, and by a walk back through a listing without windows.
SINACRAWL_HISTORY_MAX_PAGES = _env("SINACRAWL_HISTORY_MAX_PAGES", 200)

# --- 7×24 flashes (`scrapy crawl live`, docs/live.md) ---
MONGO_FLASH_COLLECTION = _env("MONGO_FLASH_COLLECTION", "flashes")
# Changed days are written at the end of a run, and also after this many changed flashes.
FLASH_FLUSH_ITEMS = _env("FLASH_FLUSH_ITEMS", 500)
