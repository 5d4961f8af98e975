"""The per-stock news listing (``vCB_AllNewsStock``) to entries. Pure functions, no Scrapy.

``vip.stock.finance.sina.com.cn/corp/go.php/vCB_AllNewsStock/symbol/sh600519.phtml`` lists
everything Sina files under one stock, newest first, as GB2312 bytes: a ``div.datelist``
holding ``YYYY-MM-DD&nbsp;HH:MM&nbsp;&nbsp;<a href=…>title</a><br>`` rows, and a ``下一页``
link to ``corp/view/vCB_AllNewsStock.php?symbol=…&Page=N``. Page 1 of a real listing is in the
shared fixtures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urljoin, urlsplit

import parsel

from sinacrawl.parsing.dates import BEIJING
from sinacrawl.parsing.encoding import decode_html
from sinacrawl.parsing.listing import (
    ListingEntry,
    ListingError,
    _article_url,
    _clean_text,
    listing_time,
)
from sinacrawl.parsing.urls import doc_id_from_url, is_sina_host

SYMBOL = re.compile(r"(?:sh|sz|bj)\d{6}")
SYMBOL_FORMS = "sh, sz or bj followed by 6 digits, e.g. sh600519, sz000001, bj430047"
STOCK_NEWS_URL = (
    "https://vip.stock.finance.sina.com.cn/corp/go.php/vCB_AllNewsStock/symbol/{symbol}.phtml"
)

# Selectors as data: the row links, the next-page link, where the stock's name is printed.
ROW_LINKS = "div.datelist ul a"
ROW_TIME = "preceding-sibling::text()[1]"
NEXT_LINK = "//a[normalize-space(.)='下一页']/@href"
# <title>贵州茅台(600519)个股资讯_新浪财经_新浪网</title>
_PLAIN_NAME = re.compile(r"[\w*＊·\-]+(?: [\w*＊·\-]+)*")
_NAME_IN_TITLE = re.compile(r"^\s*(?P<name>[^()（）_]{1,20}?)\s*[(（]\s*(?P<code>\d{6})\s*[)）]")


class BadSymbol(ValueError):
    """A stock symbol that is not ``sh|sz|bj`` + 6 digits; the message names the valid forms."""


def parse_symbol(text: str) -> str:
    """A stock symbol in its canonical lower-case form.

    >>> parse_symbol(" SH600519 ")
    'sh600519'
    >>> parse_symbol("600519")
    Traceback (most recent call last):
    ...
    sinacrawl.parsing.stocklist.BadSymbol: bad stock symbol '600519': expected sh, sz or bj followed by 6 digits, e.g. sh600519, sz000001, bj430047
    """
    symbol = text.strip().lower()
    if not SYMBOL.fullmatch(symbol):
        raise BadSymbol(f"bad stock symbol {text.strip()!r}: expected {SYMBOL_FORMS}")
    return symbol


def stock_news_url(symbol: str) -> str:
    """Page 1 of a stock's news listing.

    >>> stock_news_url("sz000001")
    'https://vip.stock.finance.sina.com.cn/corp/go.php/vCB_AllNewsStock/symbol/sz000001.phtml'
    """
    return STOCK_NEWS_URL.format(symbol=parse_symbol(symbol))


@dataclass(frozen=True)
class StockNewsPage:
    """What one page of a stock's news listing says."""

    entries: tuple[ListingEntry, ...]
    """Rows naming a Sina article, newest first."""
    stock_name: str | None = None
    """The stock's name as the page's title prints it (``贵州茅台``), when it does."""
    stock_code: str | None = None
    """The six digits printed beside that name (``600519``)."""
    next_url: str | None = None
    """Absolute URL of the next page: a Sina host over http(s), else None."""
    refused_next: str | None = None
    """A next link that was not followed because it leads off Sina (or is not a URL)."""
    skipped: int = 0
    """Rows that named no usable Sina article URL."""


def parse_stock_news(
    body: bytes | str, base_url: str, *, content_type: str | None = None
) -> StockNewsPage:
    """A per-stock news page (GB2312 bytes, or text already decoded) as a StockNewsPage."""
    text = body if isinstance(body, str) else decode_html(body, content_type)
    selector = parsel.Selector(text=text, type="html")
    if not selector.css("div.datelist"):
        raise ListingError("no div.datelist on the page: not a per-stock news listing")
    entries: list[ListingEntry] = []
    skipped = 0
    now = datetime.now(BEIJING)
    for link in selector.css(ROW_LINKS):
        entry = _row(link, base_url, now)
        if entry is None:
            skipped += 1
        else:
            entries.append(entry)
    next_url, refused = _next_link(selector, base_url)
    name, code = stock_name(selector)
    return StockNewsPage(
        entries=tuple(entries),
        stock_name=name,
        stock_code=code,
        next_url=next_url,
        refused_next=refused,
        skipped=skipped,
    )


def _row(link: parsel.Selector, base_url: str, now: datetime) -> ListingEntry | None:
    joined = _join(base_url, link.attrib.get("href"))
    url = _article_url(joined) if joined else None
    if url is None:
        return None
    time_text = link.xpath(ROW_TIME).get()
    return ListingEntry(
        url=url,
        doc_id=doc_id_from_url(url),
        title=_clean_text(" ".join(link.css("::text").getall())),
        ctime=listing_time(time_text, url=url, now=now),
    )


def _next_link(selector: parsel.Selector, base_url: str) -> tuple[str | None, str | None]:
    """(URL to follow, None) for a next link on a Sina host; (None, the link) when refused."""
    href = selector.xpath(NEXT_LINK).get()
    if not href or not href.strip():
        return None, None
    href = href.strip()
    url = _join(base_url, href)
    try:
        parts = urlsplit(url or "")
        port_ok = parts.port is None or parts.port in (80, 443)
    except ValueError:
        return None, href
    if (
        parts.scheme not in ("http", "https")
        or parts.username is not None
        or not port_ok
        or not is_sina_host(parts.hostname)
    ):
        return None, href
    return url, None


def _join(base_url: str, href: str | None) -> str | None:
    """``href`` made absolute; None when there is none or it does not parse (``http://[::1``)."""
    if not href or not href.strip():
        return None
    try:
        return urljoin(base_url, href.strip())
    except ValueError:
        return None


def stock_name(selector: parsel.Selector) -> tuple[str | None, str | None]:
    """``("贵州茅台", "600519")`` from the title ``贵州茅台(600519)个股资讯_新浪财经_新浪网``.

    The name becomes an archive folder, so only a plain one is taken: word characters
    (CJK included), ``*`` (``*ST``), ``-``, ``·`` and inner spaces, at most 20 of them.
    """
    title = selector.css("title::text").get() or ""
    m = _NAME_IN_TITLE.match(title)
    name = _clean_text(m.group("name")) if m else None
    if not m or not name or not _PLAIN_NAME.fullmatch(name):
        return None, None
    return name, m.group("code")
