"""The 7×24 feed (``zhibo.sina.com.cn/api/zhibo/feed``) as Flash fields (SPEC §7).

No crawler needed: :func:`parse_feed` takes a response body (JSON or JSONP) and returns the
page's flashes as plain dicts in the Flash item's shape, with every entry it could not use
counted by reason. An entry is taken whole or dropped whole: a flash without an id or a
usable ``create_time`` is dropped (``no_id``, ``no_time``), a deleted one too (``deleted``).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sinacrawl.parsing.dates import BEIJING
from sinacrawl.parsing.listing import ListingError, load_roll_json
from sinacrawl.parsing.text import clean_fragment, collapse, html_to_text
from sinacrawl.parsing.urls import canonical_url, is_sina_host
from sinacrawl.posts import sanitize_html

FEED_HOST = "zhibo.sina.com.cn"
FEED_PATH = "/api/zhibo/feed"
FEED_URL = (
    f"https://{FEED_HOST}{FEED_PATH}?page={{page}}&page_size={{size}}"
    "&zhibo_id={feed}&tag_id=0&dire=f&dpc=1"
)
# The feed's times: Beijing wall-clock time, to the second.
_TIME = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})\s*$")
_ID = re.compile(r"^[1-9]\d{0,17}$")
_A_SHARE = re.compile(r"^(?:sh|sz|bj)\d{6}$")
_HK = re.compile(r"^\d{1,5}$")
_US = re.compile(r"^[a-z][a-z0-9.]{0,9}$")
MAX_TEXT = 20_000  # characters; a flash is a paragraph or two


class FeedError(ListingError):
    """The body is not a 7×24 feed page at all (bad JSON, no ``feed.list``)."""


@dataclass
class FeedPage:
    """One page of the feed: its usable flashes (newest first) and what was dropped."""

    flashes: list[dict[str, Any]] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)
    rejected: list[tuple[int | None, str]] = field(default_factory=list)  # (id, drop reason)
    entries: int = 0  # list entries, usable or not
    total: int | None = None  # page_info.totalNum
    pages: int | None = None  # page_info.totalPage
    ids: list[int] = field(default_factory=list)  # every entry's id that parsed, deleted too
    oldest: datetime | None = None  # the oldest create_time among the entries


def feed_url(feed: int, page: int, size: int) -> str:
    """The feed page URL.

    >>> feed_url(152, 2, 100).split("?")[1]
    'page=2&page_size=100&zhibo_id=152&tag_id=0&dire=f&dpc=1'
    """
    return FEED_URL.format(page=page, size=size, feed=feed)


def is_feed_url(url: str) -> bool:
    """Whether ``url`` is a page of the 7×24 feed API (whatever its query).

    >>> is_feed_url(feed_url(152, 1, 20)), is_feed_url("https://finance.sina.com.cn/roll/")
    (True, False)
    """
    parts = urlsplit(url)
    return parts.hostname == FEED_HOST and parts.path == FEED_PATH


def feed_time(value: object) -> datetime | None:
    """``2026-09-04 10:37:52`` (Beijing) as an aware datetime; None when unusable.

    >>> feed_time("2026-09-04 10:37:52").isoformat(), feed_time("2026-13-01 00:00:00")
    ('2026-09-04T10:37:52+08:00', None)
    """
    m = _TIME.match(value) if isinstance(value, str) else None
    if not m:
        return None
    try:
        return datetime(*(int(g) for g in m.groups()), tzinfo=BEIJING)  # type: ignore[misc]
    except ValueError:
        return None


def flash_id(value: object) -> int | None:
    """The flash id as an int (the feed sends an int; a digit string is accepted).

    >>> flash_id(5076690), flash_id("5076690"), flash_id(True), flash_id("-1"), flash_id(0)
    (5076690, 5076690, None, None, None)
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and _ID.match(value.strip()):
        return int(value.strip())
    return None


def stock_code(entry: object) -> str | None:
    """One ``ext.stocks`` entry in the project's convention; None for what is no stock.

    >>> [stock_code({"market": m, "symbol": s}) for m, s in [("cn", "sh600802"),
    ...  ("hk", "06655"), ("us", "NMR"), ("cn", "sih30184"), ("fund", "159558")]]
    ['sh600802', 'hk06655', 'gb_nmr', None, None]
    """
    if not isinstance(entry, Mapping):
        return None
    market, symbol = entry.get("market"), entry.get("symbol")
    if not isinstance(market, str) or not isinstance(symbol, str):
        return None
    symbol = symbol.strip().lower()
    if market == "cn" and _A_SHARE.match(symbol):
        return symbol
    if market == "hk" and _HK.match(symbol):
        return "hk" + symbol.zfill(5)
    if market == "us" and _US.match(symbol):
        return "gb_" + symbol
    return None


def _ext(raw: Mapping) -> Mapping:
    """``ext`` is a JSON string inside the JSON; anything unreadable counts as empty."""
    value = raw.get("ext")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, Mapping) else {}


def desktop_url(value: object) -> str | None:
    """``ext.docurl`` as a canonical https URL on a Sina host, else None.

    >>> desktop_url("http://finance.sina.com.cn/7x24/2026-09-04/doc-x.shtml?from=wap#top")
    'https://finance.sina.com.cn/7x24/2026-09-04/doc-x.shtml'
    >>> desktop_url("javascript:alert(1)"), desktop_url("http://evil.invalid/x")
    (None, None)
    """
    if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value.strip()):
        return None
    value = value.strip()
    if value.startswith("//"):
        value = "https:" + value
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or parts.username or not is_sina_host(parts.hostname):
        return None
    return canonical_url(value)


def tag_names(value: object) -> list[str]:
    """The names of a ``tag`` list, collapsed, unique, in order.

    >>> tag_names([{"id": "7", "name": "央行"}, {"name": " 国际 "}, {"name": "央行"}, "x"])
    ['央行', '国际']
    """
    names: list[str] = []
    for tag in value if isinstance(value, list) else ():
        raw = tag.get("name") if isinstance(tag, Mapping) else None
        name = collapse(raw)[:40] if isinstance(raw, str) else ""
        if name and name not in names:
            names.append(name)
    return names


def rich_text(value: object, base_url: str | None) -> tuple[str, str]:
    """(html, text) of a flash's ``rich_text``: cleaned like an article body, and as one line.

    >>> rich_text("A&amp;B <b>涨</b><script>x()</script>\\n  停", None)
    ('A&amp;B <b>涨</b>\\n  停', 'A&B 涨 停')
    """
    if not isinstance(value, str):
        return "", ""
    value = value[:MAX_TEXT]
    cleaned = clean_fragment(value, base_url)
    text = collapse(html_to_text(cleaned.html))
    if not text:
        # A flash of one short line can look like furniture (a QR-code line, an ad) to the
        # article cleaner; the flash is all there is, so it is kept, made inert.
        safe = sanitize_html(value)
        text = collapse(html_to_text(safe))
        return (safe.strip() if text else ""), text
    return cleaned.html, text


def flash_fields(raw: object, feed: int, crawled_at: str) -> tuple[dict[str, Any] | None, str]:
    """One list entry as Flash fields, or (None, drop reason)."""
    if not isinstance(raw, Mapping):
        return None, "not_an_object"
    ident = flash_id(raw.get("id"))
    if ident is None:
        return None, "no_id"
    published = feed_time(raw.get("create_time"))
    if published is None:
        return None, "no_time"
    if raw.get("is_delete") not in (0, "0", None, False):
        return None, "deleted"
    updated = feed_time(raw.get("update_time"))
    if updated is None or updated < published:
        updated = published
    ext = _ext(raw)
    url = desktop_url(ext.get("docurl"))
    html, text = rich_text(raw.get("rich_text"), url)
    if not text:
        return None, "no_text"
    stocks: list[str] = []
    for entry in ext.get("stocks") if isinstance(ext.get("stocks"), list) else ():
        code = stock_code(entry)
        if code and code not in stocks:
            stocks.append(code)
    zhibo = flash_id(raw.get("zhibo_id"))
    fields = {
        "id": str(ident),
        "url": url,
        "published_at": published.isoformat(),
        "updated_at": updated.isoformat(),
        "text": text,
        "html": html,
        "tags": tag_names(raw.get("tag")),
        "stocks": stocks,
        "focus": raw.get("is_focus") in (1, "1", True),
        "feed": zhibo or feed,
        "crawled_at": crawled_at,
    }
    return fields, ""


def _page_info(feed: Mapping) -> tuple[int | None, int | None]:
    info = feed.get("page_info")
    if not isinstance(info, Mapping):
        return None, None
    return flash_id(info.get("totalNum")), flash_id(info.get("totalPage"))


def parse_feed(body: bytes | str, *, feed: int, crawled_at: str) -> FeedPage:
    """A feed page's flashes. Raises FeedError when the body is no feed page at all."""
    try:
        payload = load_roll_json(body)
    except ListingError as exc:
        raise FeedError(str(exc).replace("roll API", "7x24 feed")) from None
    result = payload.get("result")
    data = result.get("data") if isinstance(result, Mapping) else None
    feed_data = data.get("feed") if isinstance(data, Mapping) else None
    entries = feed_data.get("list") if isinstance(feed_data, Mapping) else None
    if not isinstance(entries, list):
        status = result.get("status") if isinstance(result, Mapping) else None
        raise FeedError(f"7x24 feed response without result.data.feed.list (status {status!r})")
    page = FeedPage(entries=len(entries))
    page.total, page.pages = _page_info(feed_data)
    for raw in entries:
        if isinstance(raw, Mapping):
            ident = flash_id(raw.get("id"))
            when = feed_time(raw.get("create_time"))
            if ident is not None:
                page.ids.append(ident)
            if when is not None and (page.oldest is None or when < page.oldest):
                page.oldest = when
        fields, reason = flash_fields(raw, feed, crawled_at)
        if fields is None:
            page.dropped[reason] += 1
            page.rejected.append((ident if isinstance(raw, Mapping) else None, reason))
        else:
            page.flashes.append(fields)
    return page
