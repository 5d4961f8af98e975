"""A Beijing day of 7×24 flashes as one Hexo post (SPEC §7), with every rule of SPEC §4.

``<ARCHIVE_DIR>/金融/新浪财经/新浪财经－7x24/<YYYY-MM-DD>-7x24.md``: the seed's front matter
(title ``新浪财经 7×24 YYYY-MM-DD``, dated the day's Beijing midnight, so the date never moves
as flashes arrive) and a body listing the day's flashes oldest first, each with its Beijing
time, tags, text and stock links. Front matter, sanitising, escaping, the no-blank-line rule
and ``referrerpolicy`` all come from :mod:`sinacrawl.posts`; the same set of flashes always
renders to the same bytes, which is what "rewrite only when a flash was added or changed"
relies on.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

from sinacrawl.flashes import when
from sinacrawl.posts import front_matter, post_body, post_path

CATEGORIES = ("金融", "新浪财经", "新浪财经－7x24")
TITLE = "新浪财经 7×24 {day}"
DEFAULT_FEED = 152
# Quote pages, in the forms the article parser reads back as the same codes.
QUOTE_URLS = (
    ("gb_", "https://stock.finance.sina.com.cn/usstock/quotes/{}.html"),
    ("hk", "https://stock.finance.sina.com.cn/hkstock/quotes/{}.html"),
    ("", "https://finance.sina.com.cn/realstock/company/{}/nc.shtml"),
)


def day_key(feed: int) -> str:
    """The post's name part: ``7x24`` for the finance feed, ``7x24-<feed>`` for another."""
    return "7x24" if int(feed) == DEFAULT_FEED else f"7x24-{int(feed)}"


def day_post_item(day: str, feed: int = DEFAULT_FEED) -> dict[str, Any]:
    """The article-shaped values the post helpers take for a day post."""
    title = TITLE.format(day=day)
    if int(feed) != DEFAULT_FEED:
        title += f" (zhibo {int(feed)})"
    return {
        "title": title,
        "categories": list(CATEGORIES),
        "doc_id": day_key(feed),
        "published_at": f"{day}T00:00:00+08:00",
    }


def day_post_path(day: str, feed: int = DEFAULT_FEED) -> str:
    """The day post's path inside the archive.

    >>> day_post_path("2026-09-04")
    '金融/新浪财经/新浪财经－7x24/2026-09-04-7x24.md'
    """
    return post_path(day_post_item(day, feed))


def quote_url(code: str) -> str:
    """The Sina quote page of a stock code.

    >>> quote_url("sh600519"), quote_url("hk00700"), quote_url("gb_aapl")
    ('https://finance.sina.com.cn/realstock/company/sh600519/nc.shtml', 'https://stock.finance.sina.com.cn/hkstock/quotes/00700.html', 'https://stock.finance.sina.com.cn/usstock/quotes/aapl.html')
    """
    for prefix, form in QUOTE_URLS:
        if code.startswith(prefix):
            return form.format(code[len(prefix) :] if prefix else code)
    raise AssertionError("unreachable: the last form takes every code")


def flash_html(flash: Mapping[str, Any]) -> str:
    """One flash as an HTML block: time line with tags, its text, its stock links."""
    esc = html.escape
    published = when(flash.get("published_at"))
    updated = when(flash.get("updated_at"))
    stamp = published.strftime("%H:%M:%S") if published else ""
    head = f'<time datetime="{esc(published.isoformat()) if published else ""}">{stamp}</time>'
    if updated is not None and published is not None and updated > published:
        head += f' <small class="updated">（更新于 {updated.strftime("%H:%M:%S")}）</small>'
    tags = flash.get("tags") or []
    if tags:
        head += ' <span class="tags">' + " ".join(f"【{esc(t)}】" for t in tags) + "</span>"
    if flash.get("focus"):
        head += ' <strong class="focus">焦点</strong>'
    body = (flash.get("html") or "").strip() or esc(flash.get("text") or "")
    lines = [f'<div class="flash" id="flash-{esc(str(flash["id"]))}">', f"<p>{head}</p>"]
    lines.append(f'<div class="flash-text">{body}</div>')
    stocks = flash.get("stocks") or []
    if stocks:
        links = " ".join(f'<a href="{esc(quote_url(c))}">{esc(c)}</a>' for c in stocks)
        lines.append(f'<p class="stocks">{links}</p>')
    if flash.get("url"):
        lines.append(f'<p class="source"><a href="{esc(flash["url"])}">原文</a></p>')
    lines.append("</div>")
    return "\n".join(lines)


def render_day(
    day: str,
    flashes: Iterable[Mapping[str, Any]],
    hexo_timezone: str | None = None,
    feed: int = DEFAULT_FEED,
) -> bytes:
    """The whole day post, UTF-8; ``flashes`` already in time order."""
    item = day_post_item(day, feed)
    item["body_html"] = "\n".join(flash_html(f) for f in flashes)
    return (front_matter(item, hexo_timezone) + "\n" + post_body(item)).encode("utf-8")
