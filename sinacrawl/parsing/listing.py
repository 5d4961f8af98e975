"""Listings (roll API JSON/JSONP, listing HTML) to entries. Pure functions, no Scrapy.

Two sources announce articles: the roll API (``feed.mix.sina.com.cn/api/roll/get``), a JSON
(or JSONP) list newest first, and server-rendered HTML listing pages (the roll listing
``finance.sina.com.cn/roll/c/<cid>.shtml``, feed cards, old ``ul.list_009`` lists). Both
become :class:`ListingPage` objects holding :class:`ListingEntry` values; a listing that is
not one of these raises :class:`ListingError`, which the spider counts and logs.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urljoin

import parsel

from sinacrawl.parsing.dates import BEIJING, from_unix
from sinacrawl.parsing.urls import canonical_url, doc_id_from_url
from sinacrawl.urlpolicy import vet

# Sina's listings hold 50-200 entries a page; a page may contribute at most this many
# (setting LISTING_MAX_ENTRIES), so a hostile listing cannot fill memory with requests.
DEFAULT_MAX_ENTRIES = 1000
# Deeper JSON is not Sina's: the roll API nests 4 levels.
MAX_JSON_DEPTH = 64

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ListingEntry:
    """One article as a listing announces it; travels with the article request.

    The article callback uses it as the fallback for fields the page lacks.
    """

    url: str
    """Canonical article URL."""
    doc_id: str | None
    """Document id from the URL (or the listing's ``docid``)."""
    title: str | None = None
    intro: str | None = None
    media_name: str | None = None
    """The outlet the listing credits (fallback for ``source``)."""
    ctime: datetime | None = None
    """Listing time (fallback for ``published_at``), aware, Beijing."""
    mtime: datetime | None = None
    """Last modification time the listing reports; newer than stored means re-fetch."""
    keywords: tuple[str, ...] = field(default_factory=tuple)
    image: str | None = None
    """Absolute URL of the listing's picture, if any."""
    lids: tuple[int, ...] = ()
    """The roll API lists the entry is on (its ``lids``); empty when the listing does not say."""


@dataclass(frozen=True)
class ListingPage:
    """What one listing page says: its entries and whether older pages follow."""

    entries: tuple[ListingEntry, ...]
    has_more: bool
    """True when the source says there is a next page (the spider still bounds it)."""
    total: int | None = None
    """The roll API's total count, when it gives one."""
    next_url: str | None = None
    """Absolute URL of the next HTML listing page, if the page links one."""
    skipped: int = 0
    """Raw entries that named no usable Sina article URL."""
    refused: tuple[tuple[str, str], ...] = ()
    """(reason, URL) of each URL the URL policy refused (entries and the next-page link)."""
    excess: int = 0
    """Entries beyond the per-page limit, ignored."""
    malformed: tuple[str, ...] = ()
    """What was wrong with a listing that could still be read in part (too deep, bad total)."""


class ListingError(ValueError):
    """The body is not a listing this module can read (bad JSON, API error, unknown HTML)."""


# --- shared helpers -------------------------------------------------------------------------

# Pictures a listing attaches that are not the article's: WeChat posters, QR codes, logos.
NON_CONTENT_IMAGE = re.compile(r"wx_poster|qrcode|qr_code|erweima|/logo", re.IGNORECASE)
_SPACE = re.compile(r"\s+")
_KEYWORD_SPLIT = re.compile(r"[,，;；、]")
# Python-style dict inside the roll API's ``images`` string: {'u': 'http://…', …}
_IMAGE_IN_STRING = re.compile(r"""['"]u['"]\s*:\s*['"]([^'"]+)['"]""")


def _clean_text(value: object) -> str | None:
    """Entities decoded, whitespace collapsed; None when nothing is left.

    >>> _clean_text("  A&amp;B \\n c ")
    'A&B c'
    """
    if not isinstance(value, str):
        return None
    text = _SPACE.sub(" ", html.unescape(value)).strip()
    return text or None


def _absolute_image(url: object) -> str | None:
    """An absolute http(s) image URL that is a content picture, else None.

    >>> _absolute_image("//n.sinaimg.cn/a.jpg")
    'https://n.sinaimg.cn/a.jpg'
    >>> _absolute_image("http://n.sinaimg.cn/finance/c30320b4/20210712/wx_poster_finance1.png")
    """
    if not isinstance(url, str):
        return None
    url = url.strip()
    if url.startswith("//"):
        url = "https:" + url
    if not url.startswith(("http://", "https://")) or NON_CONTENT_IMAGE.search(url):
        return None
    return url


def _article_url(url: object, refused: list[tuple[str, str]] | None = None) -> str | None:
    """The canonical form of a Sina article URL, else None (off-site, not http, junk).

    A URL the policy refuses is added to ``refused`` as (reason, URL); a missing one is not.
    """
    if not isinstance(url, str) or not url.strip():
        return None
    verdict = vet(url)
    if verdict.url is None:
        if refused is not None:
            refused.append((str(verdict.reason), url.strip()[:300]))
        return None
    return canonical_url(verdict.url)


# --- roll API -------------------------------------------------------------------------------

# JSONP as Sina sends it: ``cb({...});`` or ``try{cb({...});}catch(e){};``
_JSONP = re.compile(
    r"^\s*(?:try\s*\{\s*)?[A-Za-z_$][\w$.]*\s*\((?P<json>.*)\)\s*;?\s*"
    r"(?:\}\s*catch\s*\(\s*\w*\s*\)\s*\{[^}]*\}\s*;?\s*)?$",
    re.DOTALL,
)


def _decode(body: bytes | str) -> str:
    if isinstance(body, str):
        return body
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Older Sina endpoints answer in GBK; GB18030 is its superset.
        return body.decode("gb18030", errors="replace")


def load_roll_json(body: bytes | str, malformed: list[str] | None = None) -> dict:
    """The roll API's JSON object from a JSON or JSONP body.

    Containers nested deeper than MAX_JSON_DEPTH become ``null`` (noted in ``malformed``),
    so one absurd value cannot take the rest of the page with it.

    >>> load_roll_json(b'cb({"result": {"data": []}});')
    {'result': {'data': []}}
    >>> load_roll_json("try{jQuery1_2({\\"result\\": {}});}catch(e){};")
    {'result': {}}
    """
    text = _decode(body).strip()
    if not text:
        raise ListingError("empty roll API response")
    if not text.startswith("{"):
        m = _JSONP.match(text)
        if not m:
            raise ListingError(f"roll API response is neither JSON nor JSONP: {text[:60]!r}")
        text = m.group("json")
    try:
        value = json.loads(text)
    except RecursionError:
        if malformed is not None:
            malformed.append("too_deep")
        try:
            value = json.loads(flatten_deep_json(text, MAX_JSON_DEPTH))
        except (json.JSONDecodeError, RecursionError) as exc:
            raise ListingError(f"roll API response is not valid JSON: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ListingError(f"roll API response is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ListingError("roll API response is not a JSON object")
    return value


def flatten_deep_json(text: str, max_depth: int) -> str:
    """``text`` with every array or object nested deeper than ``max_depth`` replaced by
    ``null`` (a linear scan that needs no recursion; used only when json.loads gave up).

    >>> flatten_deep_json('{"a": [1, [2, [3, "]"]]], "b": 2}', 2)
    '{"a": [1, null], "b": 2}'
    """
    out: list[str] = []
    depth = 0
    skip_from = 0  # depth at which a skipped container started (0: not skipping)
    in_string = escaped = False
    start = 0
    for i, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > max_depth and not skip_from:
                out.append(text[start:i])
                out.append("null")
                skip_from = depth
        elif char in "]}":
            if skip_from and depth == skip_from:
                skip_from = 0
                start = i + 1
            depth -= 1
    if not skip_from:
        out.append(text[start:])
    return "".join(out)


def _whole_number(value: object) -> int | None:
    """A JSON count as an int; None for anything else (1e999, NaN, -3, true, "x").

    >>> [_whole_number(v) for v in (12, "12", 1e999, float("nan"), -1, True, "x")]
    [12, 12, None, None, None, None, None]
    """
    if isinstance(value, bool):
        return None
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number >= 0 else None


def _roll_image(raw: Mapping) -> str | None:
    """First content picture of a roll entry: ``images`` then ``img``, in whatever shape."""
    candidates: list[object] = []
    for key in ("images", "img"):
        value = raw.get(key)
        if isinstance(value, str):  # a Python-style list held in a string
            candidates.extend(_IMAGE_IN_STRING.findall(value))
        elif isinstance(value, Mapping):
            candidates.append(value.get("u"))
        elif isinstance(value, list):
            candidates.extend(v.get("u") if isinstance(v, Mapping) else v for v in value)
    for candidate in candidates:
        url = _absolute_image(candidate)
        if url:
            return url
    return None


def _keywords(value: object, title: str | None) -> tuple[str, ...]:
    """Keywords from a comma-separated string, without empties, repeats or the title."""
    if not isinstance(value, str):
        return ()
    seen: dict[str, None] = {}
    for word in _KEYWORD_SPLIT.split(value):
        word = word.strip()
        if word and word != title:
            seen.setdefault(word, None)
    return tuple(seen)


def _doc_id_from_docid(value: object) -> str | None:
    """``comos:nitmeav9622448`` → ``initmeav9622448`` (the API drops the leading ``i``)."""
    if isinstance(value, str) and value.startswith("comos:") and len(value) > 6:
        return "i" + value[6:]
    return None


def roll_entry(raw: Mapping, refused: list[tuple[str, str]] | None = None) -> ListingEntry | None:
    """One roll API record as a ListingEntry; None when it names no Sina article URL."""
    url = _article_url(raw.get("url"), refused) or _article_url(raw.get("wapurl"), refused)
    if url is None:
        return None
    doc_id = doc_id_from_url(url) or _doc_id_from_docid(raw.get("docid"))
    title = _clean_text(raw.get("title"))
    return ListingEntry(
        url=url,
        doc_id=doc_id,
        title=title,
        intro=_clean_text(raw.get("intro")),
        media_name=_clean_text(raw.get("media_name")),
        ctime=from_unix(raw.get("ctime")) or from_unix(raw.get("intime")),
        mtime=from_unix(raw.get("mtime")),
        keywords=_keywords(raw.get("keywords"), title),
        image=_roll_image(raw),
        lids=_lids(raw.get("lids")),
    )


def _lids(value: object) -> tuple[int, ...]:
    """``"295,2509,2516"`` (or a list) → ``(295, 2509, 2516)``; junk parts are left out.

    >>> _lids("295, 2509,x,2516"), _lids(None)
    ((295, 2509, 2516), ())
    """
    parts = value.split(",") if isinstance(value, str) else value
    if not isinstance(parts, list | tuple):
        return ()
    return tuple(int(p) for p in (str(p).strip() for p in parts) if p.isdigit() and len(p) < 10)


def entries_off_list(page: ListingPage, lid: int) -> list[ListingEntry]:
    """Entries that say which lists they are on and do not name ``lid``: the roll API only
    returns a list's own entries, so any such entry means the registry's lid is wrong."""
    return [e for e in page.entries if e.lids and lid not in e.lids]


class LidCheck:
    """Warns once per channel and run when a roll page's entries are not on the channel's list.

    The check that catches a registry entry pointing at the wrong list (``usstock`` once read
    2516, 财经, for 美股).
    """

    def __init__(self) -> None:
        self.warned: set[str] = set()

    def __call__(self, channel: str, lid: int, page: ListingPage) -> bool:
        """True when this call logged the warning."""
        off = entries_off_list(page, lid)
        if not off or channel in self.warned:
            return False
        self.warned.add(channel)
        common = set(off[0].lids).intersection(*(e.lids for e in off[1:]))
        logger.warning(
            "Channel %s: %d of %d roll entries are not on list lid=%d; the channel's list id "
            "is probably wrong (lids every such entry is on: %s). Check sinacrawl/channels.py.",
            channel,
            len(off),
            len(page.entries),
            lid,
            ", ".join(map(str, sorted(common))) or "none",
        )
        return True


def parse_roll_api(
    body: bytes | str,
    *,
    page: int | None = None,
    num: int | None = None,
    limit: int = DEFAULT_MAX_ENTRIES,
) -> ListingPage:
    """A roll API response (JSON or JSONP) as a ListingPage.

    ``has_more`` is False once a page is empty or, when ``page`` and ``num`` are given,
    once ``page * num`` reaches the API's ``total``. Records past ``limit`` are not read;
    a record that cannot be read is skipped and the rest still count.
    """
    malformed: list[str] = []
    value = load_roll_json(body, malformed)
    result = value.get("result")
    if not isinstance(result, dict):
        raise ListingError("roll API response has no 'result' object")
    status = result.get("status")
    if isinstance(status, dict) and str(status.get("code", 0)) != "0":
        raise ListingError(f"roll API error {status.get('code')!s:.60}: {status.get('msg')!s:.200}")
    data = result.get("data")
    if data is None:
        data = []
    if not isinstance(data, list):
        raise ListingError("roll API 'data' is not a list")
    refused: list[tuple[str, str]] = []
    kept: list[ListingEntry] = []
    for raw in data[:limit]:
        entry = None
        if isinstance(raw, Mapping):
            try:
                entry = roll_entry(raw, refused)
            except (ValueError, TypeError, OverflowError, RecursionError):
                malformed.append("bad_entry")
        if entry is not None:
            kept.append(entry)
    total = _whole_number(result.get("total"))
    if total is None and result.get("total") is not None:
        malformed.append("bad_total")
    has_more = bool(data)
    if has_more and page is not None and num is not None and total is not None:
        has_more = page * num < total
    read = min(len(data), limit)
    return ListingPage(
        entries=tuple(kept),
        has_more=has_more,
        total=total,
        skipped=read - len(kept),
        refused=tuple(refused),
        excess=len(data) - read,
        malformed=tuple(dict.fromkeys(malformed)),
    )


# --- HTML listings --------------------------------------------------------------------------


@dataclass(frozen=True)
class HtmlLayout:
    """Where a listing layout keeps its entries (CSS selectors relative to each entry)."""

    name: str
    container: str
    """Present on the page when the layout applies (even with zero entries)."""
    item: str
    link: str
    time: str
    image: str | None = None


# Tried in order; the first whose container is on the page wins.
HTML_LAYOUTS: tuple[HtmlLayout, ...] = (
    # finance.sina.com.cn/roll/c/<cid>.shtml and the old roll lists: <li><a/><span>(09月28日 23:54)
    HtmlLayout("list_009", "ul.list_009", "ul.list_009 > li", "a", "span"),
    # news.sina.com.cn style feed cards
    HtmlLayout(
        "feed-card",
        "div.feed-card-item",
        "div.feed-card-item",
        "h2 a",
        ".feed-card-time",
        image=".feed-card-img img",
    ),
)

NEXT_PAGE_XPATHS: tuple[str, ...] = (
    "//span[contains(@class, 'pagebox_next')]/a/@href",
    "//a[contains(@class, 'pagebox_next')]/@href",
    "//a[normalize-space(.)='下一页']/@href",
)

# When the page was rendered: ``<!-- [ published at 2026-09-29 00:30:52 ] -->`` / ``<!--cached…-->``
_PAGE_STAMP = re.compile(
    r"(?:published at|cached)\s*(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{2})"
)
_URL_DATE = re.compile(r"/(\d{4})-(\d{2})-(\d{2})/")

# Listing times, tried in order. Named groups: y (optional), mo, d, h, mi; or rel/ago.
LISTING_TIME_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"(?P<y>\d{4})年(?P<mo>\d{1,2})月(?P<d>\d{1,2})日\s*(?P<h>\d{1,2}):(?P<mi>\d{2})"),
    re.compile(r"(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})\s+(?P<h>\d{1,2}):(?P<mi>\d{2})"),
    re.compile(r"(?P<mo>\d{1,2})月(?P<d>\d{1,2})日\s*(?P<h>\d{1,2}):(?P<mi>\d{2})"),
    re.compile(r"(?P<mo>\d{1,2})-(?P<d>\d{1,2})\s+(?P<h>\d{1,2}):(?P<mi>\d{2})"),
    re.compile(r"(?P<rel>今天|昨天|前天)\s*(?P<h>\d{1,2}):(?P<mi>\d{2})"),
    re.compile(r"(?P<ago>\d+)\s*(?P<unit>分钟|小时)前"),
)
_REL_DAYS = {"今天": 0, "昨天": 1, "前天": 2}


def _page_time(text: str) -> datetime | None:
    """When an HTML listing was rendered, from Sina's stamp comment."""
    m = _PAGE_STAMP.search(text[:20000]) or _PAGE_STAMP.search(text)
    if not m:
        return None
    try:
        return datetime(*map(int, m.groups()), tzinfo=BEIJING)  # type: ignore[misc]
    except ValueError:
        return None


def listing_time(text: str | None, *, url: str | None, now: datetime) -> datetime | None:
    """A listing's time text as Beijing time; the year comes from the text, the URL or ``now``.

    >>> now = datetime(2026, 9, 29, 0, 30, tzinfo=BEIJING)
    >>> listing_time("(09月28日 23:54)", url=None, now=now).isoformat()
    '2026-09-28T23:54:00+08:00'
    >>> listing_time("(12月31日 23:54)", url=None, now=now).isoformat()  # last year's
    '2025-12-31T23:54:00+08:00'
    >>> listing_time("5分钟前", url=None, now=now).isoformat()
    '2026-09-29T00:25:00+08:00'
    """
    if not text:
        return None
    for pattern in LISTING_TIME_PATTERNS:
        m = pattern.search(text)
        if not m:
            continue
        parts = m.groupdict()
        try:
            if parts.get("ago"):
                unit = timedelta(minutes=1) if parts["unit"] == "分钟" else timedelta(hours=1)
                return (now - int(parts["ago"]) * unit).replace(second=0, microsecond=0)
            hour, minute = int(parts["h"]), int(parts["mi"])
            if parts.get("rel"):
                day = now - timedelta(days=_REL_DAYS[parts["rel"]])
                return day.replace(hour=hour, minute=minute, second=0, microsecond=0)
            month, day_of_month = int(parts["mo"]), int(parts["d"])
            year = _year_for(parts.get("y"), month, day_of_month, url=url, now=now)
            return datetime(year, month, day_of_month, hour, minute, tzinfo=BEIJING)
        except ValueError:
            return None
    return None


def _year_for(year: str | None, month: int, day: int, *, url: str | None, now: datetime) -> int:
    """The year of a date printed without one: the URL's, else the latest not after ``now``."""
    if year:
        return int(year)
    m = _URL_DATE.search(url or "")
    if m and (int(m.group(2)), int(m.group(3))) == (month, day):
        return int(m.group(1))
    return now.year if (month, day) <= (now.month, now.day) else now.year - 1


def parse_html_listing(
    body: bytes | str,
    base_url: str,
    *,
    now: datetime | None = None,
    limit: int = DEFAULT_MAX_ENTRIES,
) -> ListingPage:
    """A Sina HTML listing page as a ListingPage.

    ``now`` (aware) dates entries printed without a year; by default the page's own
    render stamp, else the current time. Entries past ``limit`` are not read.
    """
    text = _decode(body)
    selector = parsel.Selector(text=text, type="html")
    layout = next((lay for lay in HTML_LAYOUTS if selector.css(lay.container)), None)
    if layout is None:
        names = ", ".join(lay.container for lay in HTML_LAYOUTS)
        raise ListingError(f"no known listing layout on the page (looked for {names})")
    reference = now or _page_time(text) or datetime.now(BEIJING)
    entries: list[ListingEntry] = []
    refused: list[tuple[str, str]] = []
    nodes = selector.css(layout.item)
    malformed: list[str] = []
    for node in nodes[:limit]:
        try:
            entry = _html_entry(node, layout, base_url, reference, refused)
        except ValueError:  # lxml refuses strings with control bytes from a broken page
            malformed.append("bad_entry")
            continue
        if entry is not None:
            entries.append(entry)
    next_url = _next_page(selector, base_url, refused)
    read = min(len(nodes), limit)
    return ListingPage(
        entries=tuple(entries),
        has_more=bool(entries) and next_url is not None,
        next_url=next_url,
        skipped=read - len(entries),
        refused=tuple(refused),
        excess=len(nodes) - read,
        malformed=tuple(dict.fromkeys(malformed)),
    )


def _html_entry(
    node: parsel.Selector,
    layout: HtmlLayout,
    base_url: str,
    now: datetime,
    refused: list[tuple[str, str]],
) -> ListingEntry | None:
    link = node.css(layout.link)
    # @href, not .attrib: building the attribute dict fails on a name with control bytes.
    href = link.xpath("@href").get() if link else None
    url = _article_url(urljoin(base_url, href.strip()), refused) if href else None
    if url is None:
        return None
    title = _clean_text(" ".join(link[0].css("::text").getall()))
    time_text = " ".join(node.css(f"{layout.time} ::text").getall())
    image = None
    if layout.image:
        src = node.css(layout.image).xpath("@src").get()
        image = _absolute_image(urljoin(base_url, src)) if src else None
    return ListingEntry(
        url=url,
        doc_id=doc_id_from_url(url),
        title=title,
        ctime=listing_time(time_text, url=url, now=now),
        image=image,
    )


def _next_page(
    selector: parsel.Selector, base_url: str, refused: list[tuple[str, str]]
) -> str | None:
    """The next listing page's URL, if the page links one the URL policy accepts."""
    for xpath in NEXT_PAGE_XPATHS:
        href = selector.xpath(xpath).get()
        if href and not href.strip().lower().startswith("javascript"):
            url = urljoin(base_url, href.strip())
            verdict = vet(url)
            if verdict.url is None:
                refused.append((str(verdict.reason), url[:300]))
            return verdict.url
    return None


def newest(entries: Iterable[ListingEntry]) -> datetime | None:
    """The latest listing time among entries (None when none has a time)."""
    times = [e.ctime for e in entries if e.ctime is not None]
    return max(times) if times else None
