"""Flashes as the stores keep them: a Beijing day's set of flashes, and MongoDB documents.

Pure functions, no I/O: :func:`merge` decides what a flash does to its day (added, changed,
unchanged, or an older version than the one kept). The Hexo day post is rendered from a
day's set by :mod:`sinacrawl.flashposts`; the MongoDB document is
:func:`sinacrawl.stores.mongo.documents.flash_document`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sinacrawl.items import FLASH_FIELDS
from sinacrawl.parsing.dates import BEIJING

# What a reader sees of a flash: a change to any of these rewrites its day and, for text
# and html, raises its MongoDB revision. crawled_at changes on every fetch and is no change.
SHOWN_FIELDS = ("url", "published_at", "updated_at", "text", "html", "tags", "stocks", "focus")


def as_dict(flash: Any) -> dict[str, Any]:
    """A flash (item or mapping) as a plain dict of every Flash field, lists copied."""
    data = {}
    for name in FLASH_FIELDS:
        value = flash.get(name) if hasattr(flash, "get") else None
        data[name] = list(value) if isinstance(value, (list, tuple)) else value
    return data


def when(value: object) -> datetime | None:
    """An ISO time string as an aware Beijing datetime; None when unusable."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=parsed.tzinfo or BEIJING).astimezone(BEIJING)


def day_of(flash: Mapping[str, Any]) -> str:
    """The Beijing date of the flash's ``published_at`` (``YYYY-MM-DD``).

    >>> day_of({"published_at": "2026-09-04T23:59:59+08:00"}), day_of({"published_at": "2026-09-04T16:00:00+00:00"})
    ('2026-09-04', '2026-09-05')
    """
    published = when(flash.get("published_at"))
    if published is None:
        raise ValueError(f"flash {flash.get('id')!r} has no usable published_at")
    return published.strftime("%Y-%m-%d")


def merge(day: dict[str, dict[str, Any]], flash: Mapping[str, Any]) -> str:
    """Put ``flash`` into its day's set (id → flash), in place; returns what it did.

    ``added`` (new id), ``changed`` (something shown differs), ``unchanged``, or ``stale``
    (an older ``updated_at`` than the kept version: nothing changes).

    >>> day = {}
    >>> f = {"id": "1", "updated_at": "2026-09-04T10:00:00+08:00", "text": "a"}
    >>> merge(day, f), merge(day, {**f, "crawled_at": "later"}), merge(day, {**f, "text": "b"})
    ('added', 'unchanged', 'changed')
    >>> merge(day, {**f, "updated_at": "2026-09-04T09:00:00+08:00", "text": "c"}), day["1"]["text"]
    ('stale', 'b')
    """
    key = str(flash["id"])
    new = {name: flash.get(name) for name in FLASH_FIELDS}
    kept = day.get(key)
    if kept is None:
        day[key] = new
        return "added"
    if all(kept.get(name) == new.get(name) for name in SHOWN_FIELDS):
        return "unchanged"
    kept_at, new_at = when(kept.get("updated_at")), when(new.get("updated_at"))
    if kept_at is not None and new_at is not None and new_at < kept_at:
        return "stale"
    day[key] = {**new, "crawled_at": kept.get("crawled_at") or new.get("crawled_at")}
    return "changed"


def in_time_order(day: Mapping[str, Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The day's flashes, oldest first; flashes of the same second by id."""
    return sorted(day.values(), key=lambda f: (str(f.get("published_at")), int(f["id"])))
