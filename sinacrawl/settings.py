"""Scrapy settings for sinacrawl: defaults a careful operator would choose.

Every sinacrawl setting named in SPEC (ARCHIVE_DIR, HEXO_TIMEZONE, MONGO_URI, …) can also be
given as an environment variable of the same name; ``-s NAME=value`` wins over both because
command-line settings have a higher priority than these project settings.
"""

from __future__ import annotations

import os

from sinacrawl import __version__


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
REDIS_URL = _env("REDIS_URL")
SINACRAWL_UPSTREAM = _env("SINACRAWL_UPSTREAM")
SINACRAWL_SUMMARY = _env("SINACRAWL_SUMMARY")

# --- politeness and safety ---
USER_AGENT = f"sinacrawl/{__version__} (+https://github.com/sinacrawl/sinacrawl; news archiver)"
ROBOTSTXT_OBEY = True
TELNETCONSOLE_ENABLED = False

# --- output ---
FEED_EXPORT_ENCODING = "utf-8"
ITEM_PIPELINES: dict[str, int] = {}
