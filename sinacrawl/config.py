"""Every sinacrawl setting checked before a crawl starts: one clear line per bad value.

The ``crawl`` command calls :func:`problems` before it takes the run lock or touches the
network; each problem is printed as ``sinacrawl: SETTING=value: what would be valid`` and
the run exits with status 2 (usage), never with a traceback from deep inside a pipeline.
Values that may hold a password (``MONGO_URI``, ``REDIS_URL``) are shown without it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sinacrawl.extractors import pool_size
from sinacrawl.middlewares import UpstreamError, parse_upstream
from sinacrawl.runstate import state_dir_of
from sinacrawl.stores.mongo.redact import Redactor

Check = Callable[[str], str | None]
"""A check takes the value as text and returns what would be valid, or None when fine."""

_OFF = ("0", "off", "false", "no", "none")
PROGRESS_MODES = ("auto", "tty", "log", "off")
SECRET_URLS = ("MONGO_URI", "REDIS_URL")


def shown(name: str, value: Any) -> str:
    """The value as a problem line may show it: passwords in URLs replaced by ``***``.

    >>> shown("MONGO_URI", "mongodb://bob:secret@db.invalid/x")
    'mongodb://bob:***@db.invalid/x'
    """
    text = str(value)
    if name in SECRET_URLS:
        text = Redactor(text)(text)
    return text[:200]


def _number(kind: type, low: float, high: float = math.inf) -> Check:
    """A check for a whole (``int``) or decimal (``float``) number in [low, high]."""
    noun = "a whole number" if kind is int else "a number"
    bounds = f"{noun} ≥ {low:g}" if high == math.inf else f"{noun} from {low:g} to {high:g}"

    def check(text: str) -> str | None:
        try:
            number = kind(text.strip())
        except ValueError:
            return f"expected {bounds}"
        if not (low <= number <= high) or (kind is float and math.isnan(number)):
            return f"expected {bounds}"
        return None

    return check


def _folder(what: str) -> Check:
    """A folder that exists or can be created, and that this process may write into."""

    def check(text: str) -> str | None:
        path = Path(text).expanduser()
        if path.exists() and not path.is_dir():
            return f"it is a file, not a folder; give the {what} folder (created if missing)"
        existing = next((p for p in (path, *path.parents) if p.exists()), None)
        if existing is not None and not existing.is_dir():
            return f"{existing} is a file, so the folder cannot be created there"
        if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
            return f"{existing} is not writable by this user; give a writable {what} folder"
        return None

    return check


def _file(what: str) -> Check:
    """A file path whose folder exists or can be created (not a folder itself)."""
    folder_check = _folder(f"{what}'s")

    def check(text: str) -> str | None:
        path = Path(text).expanduser()
        if path.is_dir():
            return f"it is a folder; give a file path for the {what}"
        return folder_check(str(path.parent))

    return check


def _lock(text: str) -> str | None:
    if text.strip().lower() in _OFF:
        return None
    problem = _file("run lock")(text)
    return f"{problem}, or off to run without a lock" if problem else None


def _timezone(text: str) -> str | None:
    try:
        ZoneInfo(text.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return "expected an IANA time zone name such as Asia/Shanghai or UTC"
    return None


def _mongo_uri(text: str) -> str | None:
    expected = "expected mongodb://[user:password@]host[:port]/[database] or mongodb+srv://…"
    scheme = text.partition("://")[0].lower()
    if scheme not in ("mongodb", "mongodb+srv") or not text.partition("://")[2].strip("/"):
        return expected
    if scheme == "mongodb+srv":
        return None  # resolving its SRV record is a network lookup, left to the pipeline
    from pymongo.errors import ConfigurationError, InvalidURI
    from pymongo.uri_parser import parse_uri

    try:
        parse_uri(text)
    except (InvalidURI, ConfigurationError, ValueError) as exc:
        return f"{expected} ({Redactor(text)(exc)})"
    return None


def _redis_url(text: str) -> str | None:
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 -- raises ValueError on a malformed port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("redis", "rediss", "unix"):
        return "expected redis://[:password@]host[:port][/db], rediss://… or unix://…"
    if parts.scheme != "unix" and not parts.hostname:
        return "expected redis://host[:port][/db]: the host is missing"
    return None


def _upstream(text: str) -> str | None:
    try:
        parse_upstream(text)
    except UpstreamError:
        return "expected the mirror's base URL, http://HOST:PORT"
    return None


def _extract_processes(text: str) -> str | None:
    try:
        pool_size(text, cpus=1, distributed=False)
    except ValueError:
        return "expected auto or a whole number ≥ 0"
    return None


def _progress(text: str) -> str | None:
    if text.strip().lower() in PROGRESS_MODES:
        return None
    return f"expected one of {', '.join(PROGRESS_MODES)}"


def _archive(text: str) -> str | None:
    problem = _folder("archive")(text)
    state = state_dir_of(Path(text).expanduser())
    if problem is None and state.exists() and not state.is_dir():
        return f"its state folder {state} is a file; move it away (it is rebuilt)"
    return problem


CHECKS: dict[str, Check] = {
    "ARCHIVE_DIR": _archive,
    "HEXO_TIMEZONE": _timezone,
    "MONGO_URI": _mongo_uri,
    "MONGO_SPOOL_DIR": _folder("MongoDB spool"),
    "MONGO_BATCH_SIZE": _number(int, 1),
    "MONGO_FLUSH_SECONDS": _number(float, 0),
    "REDIS_URL": _redis_url,
    "SINACRAWL_UPSTREAM": _upstream,
    "SINACRAWL_SUMMARY": _file("run summary"),
    "SINACRAWL_LOCK": _lock,
    "SINACRAWL_PROGRESS": _progress,
    "SINACRAWL_COVERAGE_MAX_MISSING": _number(float, 0, 1),
    "SINACRAWL_COVERAGE_MIN_ITEMS": _number(int, 0),
    "EXTRACT_PROCESSES": _extract_processes,
    "EXTRACT_TIMEOUT": _number(float, 0.1),
    "LISTING_MAX_ENTRIES": _number(int, 1),
    "SINACRAWL_CATCHUP_DAYS": _number(int, 0),
    "SINACRAWL_HISTORY_MAX_PAGES": _number(int, 1),
    "FLASH_FLUSH_ITEMS": _number(int, 1),
    "CLOSESPIDER_TIMEOUT": _number(float, 0),
    "MEMUSAGE_LIMIT_MB": _number(int, 0),
    "MEMUSAGE_WARNING_MB": _number(int, 0),
    "RETRY_AFTER_MAX": _number(float, 0),
    "DOWNLOAD_TIMEOUT": _number(float, 0.1),
    "DOWNLOAD_MAXSIZE": _number(int, 0),
    "CONCURRENT_REQUESTS": _number(int, 1),
    "CONCURRENT_REQUESTS_PER_DOMAIN": _number(int, 1),
    "RETRY_TIMES": _number(int, 0),
    "REDIRECT_MAX_TIMES": _number(int, 0),
}


def problems(settings: Any) -> Iterator[str]:
    """One line per bad setting: ``SETTING=value: what would be valid``.

    >>> from scrapy.settings import Settings
    >>> list(problems(Settings({"HEXO_TIMEZONE": "Mars/Olympus", "MONGO_BATCH_SIZE": "0"})))
    ['HEXO_TIMEZONE=Mars/Olympus: expected an IANA time zone name such as Asia/Shanghai or UTC', 'MONGO_BATCH_SIZE=0: expected a whole number ≥ 1']
    """
    for name, check in CHECKS.items():
        value = settings.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue  # unset: the default applies
        problem = check(str(value))
        if problem:
            yield f"{name}={shown(name, value)}: {problem}"
