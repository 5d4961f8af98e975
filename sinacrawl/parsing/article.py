"""A Sina article page to the article's fields: one typed function per field.

The page is decoded and parsed once (``parse_page``); every field function reads that one
tree. The order inside each function is the fallback order of SPEC §3: the page's own
visible slot or trustworthy metadata first, then the byline, then the URL or the listing.
Selectors and patterns live in ``selectors.py``; body cleaning in ``text.py``.
"""

from __future__ import annotations

import codecs
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from lxml import etree

from sinacrawl.parsing import selectors
from sinacrawl.parsing.dates import parse_date, parse_date_and_precision
from sinacrawl.parsing.encoding import decode_html, sniff
from sinacrawl.parsing.text import (
    CleanBody,
    absolute_url,
    clean_body,
    collapse,
    is_content_image,
    repeats_title,
    text_content,
)
from sinacrawl.parsing.urls import canonical_url, doc_id_from_url, is_sina_host

logger = logging.getLogger(__name__)

# One parser per encoding libxml2 decodes for us; the encoding is always given, so the
# page's own (possibly wrong) <meta charset> is ignored. huge_tree stays off: libxml2 then
# caps the nesting depth, so 2 MB of nested tags cannot exhaust the stack. Plain etree
# elements, not lxml.html's: lxml.html looks up a Python class for every element it hands
# out, which costs more than the whole extraction on a big page.
_PARSERS: dict[str, etree.HTMLParser] = {
    codec: etree.HTMLParser(encoding=codec, remove_blank_text=False, huge_tree=False)
    for codec in ("utf-8", "gb18030")
}
_NUL = re.compile(rb"\x00")
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


@dataclass
class Page:
    """A parsed page and the little the field functions share."""

    root: Any  # the <html> etree element, or None for an empty/unparseable page
    url: str | None
    """Canonical URL (the caller's, else the page's own)."""
    metas: dict[str, str] = field(default_factory=dict)
    """``<meta>`` values by lower-cased name/property; the first non-empty one wins."""
    head: str = ""
    """The first bytes of the page as text (for the CMS stamp comment)."""

    def meta(self, *keys: str) -> str | None:
        for key in keys:
            value = collapse(self.metas.get(key))
            if value:
                return value
        return None


def parse_page(body: bytes, url: str | None = None, content_type: str | None = None) -> Page:
    """Decode and parse a page once.

    libxml2 decodes UTF-8 and GB18030 itself, faster than decoding in Python and parsing
    the result again, and it reports bytes that are invalid in the encoding it was given.
    So the page goes to the parser in the encoding its bytes show (``encoding.sniff``: a
    sample that is valid UTF-8 is UTF-8, else the declared GB charset); only a page the
    parser finds invalid anyway (mislabelled further down, damaged) is decoded by
    ``encoding.decode_html``, with all its fallbacks, and parsed again as UTF-8.
    """
    data = body or b""
    if data.startswith(_UTF16_BOMS):  # before NULs go: in UTF-16 they are half the text
        data = decode_html(data, content_type).encode("utf-8")
    if b"\x00" in data:
        data = _NUL.sub(b"", data)
    root = None
    if data and not data.isspace():
        codec = sniff(data, content_type)
        parser = _PARSERS.get(codec)
        if parser is not None:
            root = _parse(data, parser)
        if root is None or parser is None or _invalid_bytes(parser):
            data = decode_html(data, content_type).encode("utf-8")
            root = _parse(data, _PARSERS["utf-8"])
            codec = "utf-8"
        head = data[: selectors.CMS_COMMENT_SCAN].decode(codec, "ignore")
    else:
        head = ""
    metas = _metas(root) if root is not None else {}
    page = Page(root=root, url=None, metas=metas, head=head)
    page.url = canonical_url(url) if url else page_url(page)
    return page


def _parse(data: bytes, parser: etree.HTMLParser) -> Any:
    try:
        return etree.fromstring(data, parser)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError) as exc:
        logger.warning("page could not be parsed: %s", exc)
        return None


def _invalid_bytes(parser: etree.HTMLParser) -> bool:
    """Did the last parse meet bytes that are invalid in the parser's encoding?"""
    return any(e.type_name == "ERR_INVALID_ENCODING" for e in parser.error_log)


def _metas(root: Any) -> dict[str, str]:
    metas: dict[str, str] = {}
    for meta in root.iter("meta"):
        key = meta.get("property") or meta.get("name") or meta.get("http-equiv")
        if not key:
            continue
        key = key.strip().lower()
        value = meta.get("content") or ""
        if (value.strip() or key not in metas) and not metas.get(key, "").strip():
            metas[key] = value
    return metas


def _first(context: Any, rules: Iterable[tuple[str, etree.XPath]]) -> tuple[str, list[Any]]:
    """The first rule (name, nodes) that finds anything from ``context`` (an element)."""
    if context is None:
        return "", []
    for name, xpath in rules:
        try:
            nodes = xpath(context)
        except etree.XPathError:
            continue
        if nodes:
            return name, nodes
    return "", []


def text_of(el: Any, *, spaced: bool = False) -> str:
    """Visible text of an element (script/style content excluded), whitespace collapsed.

    ``spaced`` puts a space between text nodes: bylines write ``<span>2005.08.26</span>05:39``
    and the date must not become ``2005.08.2605:39``.
    """
    if isinstance(el, str):
        return collapse(el)
    if next(el.iter("script", "style"), None) is None:
        if spaced:
            return collapse(" ".join(el.itertext()))
        return collapse(text_content(el))  # one C serialisation: the common case
    return collapse(" ".join(_VISIBLE_TEXT(el)))


_VISIBLE_TEXT = etree.XPath(
    "descendant-or-self::text()[not(ancestor::script) and not(ancestor::style)]"
)


# --- url, doc_id ---------------------------------------------------------------------------


def page_url(page: Page) -> str | None:
    """The article URL a page names itself: og:url (maybe percent-encoded), canonical,
    then widgets and share links that carry it.

    Widgets and links are only believed when they name an article (a document id): a login
    or navigation link's ``?url=https://play.sina.com.cn/`` is not this page, and no URL is
    better than a wrong one.
    """
    candidates: list[str] = []
    for key in selectors.META_URL_KEYS:
        value = page.metas.get(key)
        if value:
            candidates.append(value)
    if page.root is not None:
        candidates += [str(v) for v in selectors.CANONICAL_LINK(page.root)]
    for raw in candidates:
        url = _plain_url(raw)
        if url:
            return canonical_url(url)
    if page.root is None:
        return None
    widgets = [str(v) for v in selectors.URL_ATTRS(page.root)]
    for href in page.root.xpath("descendant::a[contains(@href, 'url=')]/@href"):
        m = selectors.SHARE_URL.search(str(href))
        if m:
            widgets.append(m.group(1))
    for raw in widgets:
        url = _plain_url(raw)
        if url and doc_id_from_url(url):
            return canonical_url(url)
    return None


def _plain_url(raw: str) -> str | None:
    raw = raw.strip()
    if raw.lower().startswith(("http%3a", "https%3a")):
        raw = unquote(raw)
    if raw.startswith("//"):
        raw = "https:" + raw
    if not raw.startswith(("http://", "https://")):
        return None
    host = raw.split("/", 3)[2] if raw.count("/") >= 2 else ""
    return raw if is_sina_host(host) else None


# --- title ---------------------------------------------------------------------------------


def headline_element(page: Page) -> Any:
    """The headline <h1> of the 2008+ templates, or None."""
    if page.root is None:
        return None
    headlines = selectors.HEADLINES(page.root)
    for attr, mark in selectors.HEADLINE_MARKS:
        for h1 in headlines:
            value = h1.get(attr)
            if value and mark in value.split():
                return h1
    return None


def title(page: Page, headline: Any = None) -> str | None:
    """The visible headline; else og:title; else <title> without its site suffix."""
    nodes = [headline] if headline is not None else _first(page.root, selectors.TITLE_FALLBACKS)[1]
    if not nodes and page.root is not None:
        # an unknown template: its one <h1> is the heading (several say nothing certain)
        lone = selectors.HEADLINES(page.root)
        nodes = lone if len(lone) == 1 else []
    for node in nodes:
        text = text_of(node)
        if text:
            return text
    og = page.meta("og:title")
    if og:
        return og
    if page.root is not None:
        for el in page.root.iter("title"):
            text = selectors.TITLE_SUFFIX.sub("", collapse(text_content(el)))
            if text:
                return text
    return None


# --- published_at --------------------------------------------------------------------------


@dataclass
class DateFinding:
    value: datetime | None
    raw: str | None
    """The text it was read from (kept for debugging)."""
    origin: str


def byline_box(page: Page) -> Any:
    """The element holding the visible date and source, or None."""
    _, nodes = _first(page.root, selectors.BYLINE_BOXES)
    return nodes[0] if nodes else None


def published_at(page: Page, box: Any) -> DateFinding:
    """Byline minute (+ meta seconds when the meta falls in the same minute), else the meta
    time, else the CMS stamp comment. None (and a logged warning) when nothing parses."""
    meta_raw = page.meta(*selectors.META_DATE_KEYS)
    meta_value = parse_date(meta_raw) if meta_raw else None
    raw = text_of(box, spaced=True) if box is not None else ""
    value, timed = parse_date_and_precision(raw) if raw else (None, False)
    if timed:
        if value is None:
            # an impossible byline date: the page's other statement may still be sound
            return DateFinding(meta_value, raw, "byline (unparseable), meta")
        value = value.replace(second=0)
        if meta_value is not None and meta_value.replace(second=0) == value:
            value = meta_value
        return DateFinding(value, raw, "byline")
    if meta_value is not None:
        return DateFinding(meta_value, meta_raw, "meta")
    m = selectors.CMS_COMMENT_DATE.search(page.head)
    if m:
        return DateFinding(parse_date(m.group(1)), m.group(1), "cms comment")
    return generic_date(page) or DateFinding(None, meta_raw, "none")


def generic_date(page: Page) -> DateFinding | None:
    """An unknown template's date: a short date/time element's full date and time."""
    if page.root is None:
        return None
    for el in selectors.GENERIC_DATE_BOXES(page.root):
        raw = text_of(el, spaced=True)
        if not raw or len(raw) > selectors.GENERIC_DATE_MAX_CHARS:
            continue
        value, timed = parse_date_and_precision(raw)
        if value is not None and timed:
            return DateFinding(value, raw, "generic date element")
    return None


# --- source, author, editor ----------------------------------------------------------------

# Platforms are where a page is hosted, not who wrote or supplied it.
PLATFORMS = frozenset({"财经头条", "新浪看点", "sina_mobile", "新浪网", "新浪"})


def source(page: Page, box: Any) -> str | None:
    """The byline's source slot (来源); else the source/author metadata."""
    _, nodes = _first(box, selectors.BOX_SOURCE)
    for node in nodes:
        text = _clean_name(text_of(node))
        if text:
            return text
    if box is not None:
        # 2014-17 byline: "2016年05月25日10:10 新浪财经" in one span
        m = selectors.BYLINE_SOURCE_AFTER_DATE.search(text_of(box, spaced=True))
        if m:
            name = _clean_name(m.group(1))
            if name:
                return name
    meta = page.meta(*selectors.META_SOURCE_KEYS)
    if meta and meta not in PLATFORMS:
        return _clean_name(meta)
    return None


_NAME_JUNK = re.compile(r"^(?:来源|來源|稿源|作者)\s*[:：]\s*")


def _clean_name(text: str | None) -> str | None:
    text = _NAME_JUNK.sub("", collapse(text))
    if not text or len(text) > 40 or text.startswith("http"):
        return None
    return text


def author(
    page: Page,
    box: Any,
    paragraphs: list[str],
    src: str | None,
    old_template: bool,
    around: tuple[list[str], list[str]] = ([], []),
) -> str | None:
    """A named writer: the byline's author slot, 作者：/记者/文/ credits in the first and last
    paragraphs or the lines ``around`` the body (before, after), else the self-media account
    that differs from the source slot."""
    if box is not None:
        for node in selectors.BOX_AUTHOR(box):
            text = _clean_name(text_of(node))
            if text:
                return text
    texts = [*around[0], *paragraphs[:2], *paragraphs[-2:], *around[1]]
    if old_template and page.root is not None:
        texts = [text_of(td) for td in selectors.AUTHOR_CELLS(page.root)] + texts
    for _, pattern in selectors.AUTHOR_PATTERNS:
        for text in texts:
            m = pattern.search(text)
            name = credit_name(m.group(1)) if m else None
            if name:
                return name
    meta = page.meta("article:author")
    if meta and meta != src and meta not in PLATFORMS and (src is None or src in PLATFORMS):
        return meta
    return None


def credit_name(credit: str) -> str | None:
    """The person in a credit: outlet, title and pen-name notes dropped.

    >>> credit_name("经济观察报 记者 陈白"), credit_name("财经评论员陈白"), credit_name("陈白 首席经济学家")
    ('陈白', '陈白', '陈白')
    >>> credit_name("白话财经（笔名）"), credit_name("Lucy Wang"), credit_name("罗银胜 出版社：团结出版社")
    ('白话财经', 'Lucy Wang', '罗银胜')
    >>> credit_name("记者"), credit_name("http://x")
    (None, None)
    """
    text = selectors.CREDIT_CUT.split(collapse(credit), 1)[0].strip()
    tokens = text.split(" ")
    # "outlet title name": the name follows the last title; "name title": it precedes it
    titled = [i for i, t in enumerate(tokens) if selectors.CREDIT_TITLES.fullmatch(t)]
    if titled and titled[-1] + 1 < len(tokens):
        candidates = tokens[titled[-1] + 1 :]
    elif titled:
        candidates = tokens[: titled[0]]
    else:
        candidates = tokens
    if len(candidates) > 1 and all(c.isascii() for c in candidates):
        candidates = [" ".join(candidates)]  # a Latin name keeps its spaces
    for token in candidates[:1]:
        # a title glued to the name: "财经评论员陈白"
        token = (
            selectors.CREDIT_TITLES.split(token)[-1]
            if selectors.CREDIT_TITLES.search(token)
            else token
        )
        if selectors.CREDIT_NAME.fullmatch(token):
            return token
    return None


def credit_lines(container: Any) -> tuple[list[str], list[str]]:
    """Short lines right before and right after the body: where credits sit outside it."""
    if container is None:
        return [], []

    def short(el: Any) -> list[str]:
        if el is None or not isinstance(el.tag, str):
            return []
        text = text_of(el)
        return [text] if text and len(text) <= selectors.CREDIT_LINE_MAX_CHARS else []

    return short(container.getprevious()), short(container.getnext())


_EDITOR_TEXT = etree.XPath("descendant::text()[contains(., '责任编辑')]")


def editor(container: Any) -> str | None:
    """The 责任编辑 name without work codes (``霍琦 SF142`` → ``霍琦``)."""
    _, nodes = _first(container, selectors.EDITOR)
    texts = [text_of(n) for n in nodes]
    if not texts and container is not None:
        texts = [str(t) for t in _EDITOR_TEXT(container)]
    for text in texts:
        m = selectors.EDITOR_LINE.search(text)
        if not m:
            continue
        name = selectors.EDITOR_WORK_CODE.sub("", m.group(1).strip()).strip()
        name = name.split()[0] if name else ""
        if name:
            return name
    return None


# --- keywords, section, stocks -------------------------------------------------------------


def keywords(
    page: Page, headline: str | None, container: Any = None, old_template: bool = False
) -> list[str]:
    """The tags meta or the tag links, else the keywords meta, else the 2005 keyword link;
    never the title again, never site-wide generic words."""
    for key in selectors.META_TAG_KEYS:
        found = _keyword_list(_split_keywords(page.metas.get(key)), headline)
        if found:
            return found
    _, links = _first(page.root, selectors.KEYWORD_LINKS_BY_ID)
    if not links and container is not None:
        _, links = _first(container, selectors.KEYWORD_LINKS_NEAR_BODY)
    found = _keyword_list((text_of(a) for a in links), headline)
    if found:
        return found
    for key in selectors.META_KEYWORD_KEYS:
        found = _keyword_list(_split_keywords(page.metas.get(key)), headline)
        if found:
            return found
    if old_template and page.root is not None:
        old = [str(a.get("href")).split("k=", 1)[1] for a in selectors.OLD_KEYWORD_LINK(page.root)]
        return _keyword_list((unquote(k) for k in old), headline)
    return []


def _split_keywords(value: str | None) -> list[str]:
    return re.split(r"[,，;；|]", value) if value else []


def _keyword_list(values: Iterable[str], headline: str | None) -> list[str]:
    """Clean keywords; none at all when they are just the headline again (whole, or cut
    into pieces at its spaces and commas, as old pages' keyword metas are)."""
    title_key = collapse(headline) if headline else None
    out: list[str] = []
    for value in values:
        word = collapse(value)
        if (
            not word
            or word in selectors.GENERIC_KEYWORDS
            or repeats_title(word, title_key)
            or word in out
        ):
            continue
        if len(word) > 40:
            continue
        out.append(word)
    if title_key and out and _letters(title_key) == "".join(_letters(w) for w in out):
        return []
    return out


_NOT_LETTERS = re.compile(r"[\W_]+")


def _letters(text: str) -> str:
    return _NOT_LETTERS.sub("", text)


def section(page: Page, headline: Any) -> list[str]:
    """The breadcrumb's names, without the home page and 正文."""
    if headline is not None:
        _, nodes = _first(headline, selectors.BREADCRUMB_NEAR_HEADLINE)
        if not nodes:
            # 2008+ pages keep their breadcrumb by the headline; elsewhere only 2008-13's
            nodes = selectors.BREADCRUMB[0][1](page.root)
    else:
        _, nodes = _first(page.root, selectors.BREADCRUMB)
    for node in nodes:
        names = [collapse(n) for n in selectors.BREADCRUMB_SPLIT.split(text_of(node))]
        names = [n for n in names if n and n not in selectors.BREADCRUMB_SKIP and len(n) <= 30]
        if names:
            return names
    return []


def stocks(container: Any) -> list[str]:
    """Sina quote codes the body links or marks (``sh603883``, ``hk00700``, ``gb_aapl``)."""
    if container is None:
        return []
    codes: list[str] = []

    def add(code: str) -> None:
        if code and code not in codes:
            codes.append(code)

    for el in container.iter(etree.Comment, "a", "span"):
        if el.tag is etree.Comment:
            m = selectors.STOCK_MARKER.search(el.text or "")
            if m:
                kind, values = m.groups()
                for value in re.split(r"[&,\s]+", values):
                    add(_marker_code(kind, value))
            continue
        if el.tag == "span":
            m = selectors.STOCK_SPAN_ID.match(el.get("id") or "")
            if m:
                a, us, hk = m.groups()
                add(a.lower() if a else f"gb_{us.lower()}" if us else f"hk{hk}")
            continue
        href = el.get("href") or ""
        for pattern, form in selectors.STOCK_LINK_PATTERNS:
            m = pattern.search(href)
            if m:
                add(form.format(m.group(1).lower()))
                break
    return codes


def _marker_code(kind: str, value: str) -> str:
    value = value.strip()
    if not value:
        return ""
    if kind == "usstock":
        return f"gb_{value.lower()}"
    if kind == "hkstock":
        return f"hk{value.zfill(5)}" if value.isdigit() else f"hk{value.lower()}"
    return value.lower() if re.fullmatch(r"(?:sh|sz|bj)\d{6}", value, re.I) else ""


# --- body ----------------------------------------------------------------------------------


def body_container(page: Page) -> Any:
    """The element holding the article body: a known template's container, else the
    element whose own paragraphs carry the most text (an unknown or future template)."""
    return body_and_template(page)[0]


def body_and_template(page: Page) -> tuple[Any, str]:
    """The body element and the name of the template that found it (see
    ``selectors.BODY_TEMPLATE_NAMES``)."""
    name, nodes = _first(page.root, selectors.BODY)
    if nodes:
        return nodes[0], selectors.BODY_TEMPLATE_NAMES.get(name, name)
    found = _densest_paragraph_parent(page.root) if page.root is not None else None
    return found, selectors.GENERIC_TEMPLATE if found is not None else selectors.NO_BODY_TEMPLATE


def _densest_paragraph_parent(root: Any) -> Any:
    totals: dict[Any, int] = {}
    for p in root.iter("p"):
        parent = p.getparent()
        if parent is not None:
            totals[parent] = totals.get(parent, 0) + len(text_content(p).strip())
    if not totals:
        return None
    best, size = max(totals.items(), key=lambda kv: kv[1])
    return best if size >= selectors.MIN_UNKNOWN_BODY_CHARS else None


def body_paragraphs(container: Any) -> list[str]:
    """Raw paragraph texts before cleaning (for author credits the cleaning removes)."""
    if container is None:
        return []
    paragraphs = list(container.iter("p"))
    if len(paragraphs) > 6:  # credits sit in the first or last lines
        paragraphs = paragraphs[:3] + paragraphs[-3:]
    texts = [collapse(text_content(p)) for p in paragraphs]
    return [t for t in texts if t]


def headimg(images: list[str], page: Page) -> str | None:
    """First content image, else og:image when it is a content image."""
    if images:
        return images[0]
    og = absolute_url(page.meta("og:image"), page.url)
    return og if og and is_content_image(og) else None


@dataclass
class ArticleFields:
    """Everything a page says about its article (categories/crawled_at come from the crawl)."""

    url: str | None = None
    title: str | None = None
    published_at: datetime | None = None
    published_raw: str | None = None
    source: str | None = None
    author: str | None = None
    editor: str | None = None
    section: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    stocks: list[str] = field(default_factory=list)
    body: CleanBody = field(default_factory=CleanBody)
    headimg: str | None = None
    template: str = selectors.NO_BODY_TEMPLATE
    """Which template's body rule read the page (``generic`` for the fallback)."""


def extract_article(
    body: bytes, url: str | None = None, *, content_type: str | None = None
) -> ArticleFields:
    """All fields of one page; the body container is cleaned last, in place."""
    page = parse_page(body, url, content_type)
    fields = ArticleFields(url=page.url)
    if page.root is None:
        return fields
    headline = headline_element(page)
    fields.title = title(page, headline)
    box = byline_box(page)
    when = published_at(page, box)
    fields.published_at, fields.published_raw = when.value, when.raw
    fields.source = source(page, box)
    fields.section = section(page, headline)
    container, fields.template = body_and_template(page)
    fields.keywords = keywords(page, fields.title, container, old_template=headline is None)
    fields.editor = editor(container)
    fields.author = author(
        page,
        box,
        body_paragraphs(container),
        fields.source,
        old_template=headline is None,
        around=credit_lines(container),
    )
    fields.stocks = stocks(container)
    published_day = fields.published_at.date() if fields.published_at else None
    fields.body = clean_body(container, page.url, title=fields.title, published=published_day)
    fields.headimg = headimg(fields.body.images, page)
    return fields
