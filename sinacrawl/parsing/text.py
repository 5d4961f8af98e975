"""Body cleaning: an article container to clean HTML, plain text and content images.

Kept: paragraphs, headings, tables, lists, quotes, images with their captions, links.
Dropped: scripts and styles, comments, ads and ad slots, share bars and page tools, video
players, QR codes and app/WeChat promotions, hidden elements, the editor line (责任编辑),
disclaimers (免责声明, 特别声明), related-link lists and everything after an "end of article"
marker such as 本期精彩回顾. What counts as furniture is data (the tables below), matched
on class/id tokens, on image URLs and on the text of short blocks.

Everything here works on the article container only (a few hundred elements), never on the
whole page, and walks the tree without recursion so that deeply nested junk cannot raise
RecursionError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from html import unescape
from urllib.parse import urljoin

from lxml import etree

# --- what is furniture ----------------------------------------------------------------------

# Elements removed with everything inside them (their tail text is kept).
DROP_TAGS: tuple[str, ...] = (
    "script",
    "style",
    "noscript",
    "iframe",
    "frame",
    "frameset",
    "ins",
    "object",
    "embed",
    "video",
    "audio",
    "source",
    "form",
    "input",
    "button",
    "select",
    "textarea",
    "svg",
    "canvas",
    "map",
    "link",
    "meta",
    "template",
    "head",
    "title",
)
# class/id tokens of furniture inside article containers (matched per token).
JUNK_CLASS_ID = re.compile(
    r"""(?:^|\s)(?:
        sinaads\S*|ad|ads|adv|advert\S*|ad[-_]\S*|\S*[-_]ad|\S*[-_]ads|adnone|publicrelation\d*
      | \S*share\S*|page-tools?|tool-\S*|content_print|content-tools\S*
      | \S*video\S*|\S*player\S*|miaopai\S*|a-p-\S*|j_play\S*
      | appendqr\S*|fin_art_weixin|ecode_weixin|wx_pic|\S*qrcode\S*|erweima\S*|\S*wxfollow\S*
      | app-\S*|\S*[-_]qr|\S*kaihu\S*
      | tech-quotation|tech-con|zhongce\S*
      | ct_hqimg|hqimg\S*|to_page
      | wap_special|article-notice|article-editor|show_author|\S*keywords\S*
      | article-bottom\S*|feed-\S*|\S*related\S*|othercontent\S*|blkcomment\S*|\S*comment\S*
      | moodcounter|sudsclickstreamdiv|hidden
    )(?=\s|$)""",
    re.X | re.I,
)
HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)

# Short blocks whose text says they are furniture (checked on blocks of ≤ MAX_JUNK_BLOCK chars).
JUNK_TEXT = re.compile(
    r"""^(?:责任编辑|编辑[:：]|相关新闻[:：]|相关阅读|相关报道[:：]|此前报道[:：]|延伸阅读[:：]
       |点击进入专题|进入【新浪财经股吧】|上一页|下一页|文章关键词|关键字\s*[:：])
     | 免责声明|特别声明[:：]以上文章内容|海量资讯、精准解读，尽在新浪财经APP|新浪财经APP
     | 看明星八卦、查影讯电视节目|上手机新浪网|新浪财经公众号|扫描二维码|扫描左方二维码
     | 长按二维码|关注.{0,8}微信|新浪众测|新浪财经股吧|【本文来自微信公众号""",
    re.X,
)
MAX_JUNK_BLOCK = 160
_LONG_BLOCK = 3 * MAX_JUNK_BLOCK  # raw text (with markup whitespace) surely over the limit
# Blocks (or loose text) where the article ends: they and everything after them go.
END_MARKERS = re.compile(r"本期精彩回顾|往期精彩回顾|【本文来自微信公众号|END\s*$")
# A standalone byline paragraph: "文/玉浊清", "作者：张三", "（记者 王小明）".
BYLINE_BLOCK = re.compile(
    r"^(?:文\s*[/／|]\s*\S{2,8}|作者[:：]\s*\S{2,8}|[（(]?记者\s*\S{2,4}[）)]?)$"
)
# Images that are never content.
JUNK_IMAGE = re.compile(
    r"""^data:|/c\.gif$|/dot\d*\.gif$|/blank\.gif$|spacer|beacon\.|\.allyes\.com|adsina|/ad/
      | ^https?://ad\d*\.sina\.com\.cn/|/dy/images/
      | qrcode|erweima|weixin|wechat|/default/|default_avatar|/logo|logo_|_logo
      | image\.sinajs\.cn/newchart|/hqimg|/thumb_default|_thumb_|imrworldwide|sinaimg\.cn/home/c\.gif
      | /deco/
      | n\.sinaimg\.cn/(?:[a-z]+/)?[0-9a-f]{8}/\d{8}/  # template assets (QR codes, banners)
    """,
    re.X | re.I,
)
# Image URLs carry their upload day (…/20170722/…): an image uploaded days before the
# article is template furniture (a WeChat account's banner and QR code), not its content.
IMAGE_DAY = re.compile(r"/(20\d{2})(\d{2})(\d{2})/")
STALE_IMAGE_DAYS = 3
LAZY_SRC_ATTRS: tuple[str, ...] = ("src", "data-src", "real_src", "data-original", "data-url")

# --- what the output keeps --------------------------------------------------------------------

BLOCK_TAGS: frozenset[str] = frozenset(
    [
        "p",
        "div",
        "section",
        "article",
        "center",
        "blockquote",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "ul",
        "ol",
        "li",
        "table",
        "thead",
        "tbody",
        "tfoot",
        "tr",
        "td",
        "th",
        "caption",
        "figure",
        "figcaption",
        "pre",
        "hr",
        "dl",
        "dt",
        "dd",
        "header",
        "footer",
        "aside",
        "main",
        "nav",
        "address",
    ]
)
KEEP_TAGS: frozenset[str] = frozenset(
    [
        "p",
        "br",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "strong",
        "b",
        "em",
        "i",
        "u",
        "sub",
        "sup",
        "blockquote",
        "ul",
        "ol",
        "li",
        "table",
        "thead",
        "tbody",
        "tfoot",
        "tr",
        "td",
        "th",
        "caption",
        "img",
        "figure",
        "figcaption",
        "a",
        "pre",
        "code",
        "hr",
    ]
)
KEEP_ATTRS: dict[str, tuple[str, ...]] = {
    "img": ("src", "alt"),
    "a": ("href",),
    "td": ("colspan", "rowspan"),
    "th": ("colspan", "rowspan"),
}
CAPTION_CLASSES = re.compile(r"img_descr|caption|pic_txt|img-desc|imgtxt", re.I)
# Control and zero-width characters, U+FFFD and the Private Use Area (GB18030 maps stray
# user-defined GBK bytes of old pages there: they show as nothing readable).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200d\ufeff\ufffd\ue000-\uf8ff]")
# In one-line text also the invisible word joiner and soft hyphen.
_CONTROL_IN_LINE = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u00ad\u200b-\u200d\u2060\ufeff\ufffd\ue000-\uf8ff]"
)


@dataclass
class CleanBody:
    """What body cleaning yields; ``html`` and ``text`` are '' for an empty body."""

    html: str = ""
    text: str = ""
    images: list[str] = field(default_factory=list)


def repeats_title(keyword: str | None, title: str | None) -> bool:
    """SPEC §3's rule: a keyword that merely repeats the title is no keyword.

    >>> repeats_title(" 人社部 ", "人社部"), repeats_title("就业", "人社部"), repeats_title("x", None)
    (True, False, False)
    """
    return bool(keyword and title) and collapse(keyword) == collapse(title)


def clean_text(value: object) -> str | None:
    """:func:`collapse` for any value, with None for nothing left (one-line item fields).

    >>> clean_text("  新浪\\n财经\\x07 "), clean_text("   "), clean_text(None)
    ('新浪 财经', None, None)
    """
    if value is None:
        return None
    return collapse(str(value)) or None


def collapse(text: str | None) -> str:
    """Whitespace (ideographic and NBSP too) collapsed, control characters dropped.

    >>> collapse("　　新浪\\n  财经\\x07 ")
    '新浪 财经'
    """
    if not text:
        return ""
    if not text.isprintable() or "\ufffd" in text:  # C scans; most strings need no regex
        text = _CONTROL_IN_LINE.sub("", text)
    return " ".join(text.split())  # str.split() knows U+3000 and NBSP as whitespace


def absolute_url(url: str | None, base: str | None) -> str | None:
    """Protocol-relative → https; relative → joined with the page URL; http kept as written.

    >>> absolute_url("//n.sinaimg.cn/a.jpg", None)
    'https://n.sinaimg.cn/a.jpg'
    >>> absolute_url("/a.jpg", "https://finance.sina.com.cn/x/y.shtml")
    'https://finance.sina.com.cn/a.jpg'
    """
    if not url:
        return None
    url = url.strip()
    if url.startswith("//"):
        return "https:" + url
    if url.startswith(("http://", "https://")):
        return url
    if url.startswith(("javascript:", "data:", "mailto:", "#")):
        return None
    if base:
        joined = urljoin(base, url)
        return joined if joined.startswith(("http://", "https://")) else None
    return None


def image_src(img: etree._Element) -> str | None:
    for attr in LAZY_SRC_ATTRS:
        value = img.get(attr)
        if value and not value.startswith("data:"):
            return value
    return None


def is_content_image(url: str | None, published: date | None = None) -> bool:
    """False for spacers, QR codes, logos, ads, quote charts and stale template images.

    >>> is_content_image("https://n.sinaimg.cn/news/20191023/07ad-x.png")
    True
    >>> is_content_image("https://n.sinaimg.cn/default/2fb77759/20151125/320X320.png")
    False
    """
    if not url or JUNK_IMAGE.search(url):
        return False
    if published is not None:
        m = IMAGE_DAY.search(url)
        if m:
            try:
                uploaded = date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                return True
            if uploaded < published - timedelta(days=STALE_IMAGE_DAYS):
                return False
    return True


def text_content(el: etree._Element) -> str:
    """All text inside an element (C-level serialisation; no tail)."""
    return etree.tostring(el, method="text", encoding="unicode", with_tail=False)


def unwrap(el: etree._Element) -> None:
    """Replace an element by its content (text, children, tail stay where they were)."""
    parent = el.getparent()
    if parent is None:
        return
    index = parent.index(el)
    prev = el.getprevious()
    children = list(el)
    text, tail = el.text or "", el.tail or ""
    if text:
        if prev is not None:
            prev.tail = (prev.tail or "") + text
        else:
            parent.text = (parent.text or "") + text
    for offset, child in enumerate(children):
        parent.insert(index + offset, child)
    if tail:
        if children:
            children[-1].tail = (children[-1].tail or "") + tail
        elif prev is not None:
            prev.tail = (prev.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    el.tail = None
    parent.remove(el)


def drop(el: etree._Element) -> None:
    """Remove an element and its content, keeping the text that follows it (its tail)."""
    parent = el.getparent()
    if parent is None:
        return
    tail = el.tail
    if tail and tail.strip():
        prev = el.getprevious()
        if prev is not None:
            prev.tail = (prev.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(el)


def drop_from(el: etree._Element, container: etree._Element) -> None:
    """Remove ``el`` and everything after it in document order, up to the container."""
    node = el
    while node is not None and node is not container:
        parent = node.getparent()
        for sibling in list(node.itersiblings()):
            parent.remove(sibling)
        node.tail = None
        node = parent
    parent = el.getparent()
    if parent is not None:
        parent.remove(el)


def _is_junk_element(el: etree._Element) -> bool:
    names = f"{el.get('class') or ''} {el.get('id') or ''}"
    if JUNK_CLASS_ID.search(names):
        return True
    style = el.get("style")
    return bool(style and HIDDEN_STYLE.search(style))


# Only elements that carry a class, id or style can be furniture by name (C-level filter).
_NAMED = etree.XPath("descendant::*[@class or @id or @style]")
# Blocks with no block inside: where promo lines, bylines and end markers live.
_LEAF_BLOCKS = etree.XPath(
    "descendant::*[self::p or self::div or self::section or self::center or self::h1"
    " or self::h2 or self::h3 or self::h4]"
    "[not(descendant::p or descendant::div or descendant::section or descendant::table"
    " or descendant::center)]"
)


def clean_body(
    container: etree._Element | None,
    base_url: str | None = None,
    *,
    title: str | None = None,
    published: date | None = None,
) -> CleanBody:
    """Clean an article container IN PLACE and serialise it (the caller parsed the page)."""
    if container is None:
        return CleanBody()
    _strip_furniture(container)
    _drop_junk_blocks(container, title)
    images = _images(container, base_url, published)
    _simplify(container, base_url)
    html = _serialise(container)
    text = html_to_text(html)
    if not text and not images:
        return CleanBody()
    return CleanBody(html=html, text=text, images=images)


def clean_fragment(
    html: str, base_url: str | None = None, *, title: str | None = None
) -> CleanBody:
    """Clean a body given as an HTML fragment (e.g. an archived post's ``<div>`` body)."""
    if not html or not html.strip():
        return CleanBody()
    try:
        doc = etree.fromstring(f"<html><body><div>{html}</div></body></html>", _FRAGMENT_PARSER)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        return CleanBody()
    root = doc.find("body/div") if doc is not None else None
    return clean_body(root, base_url, title=title)


_FRAGMENT_PARSER = etree.HTMLParser()


def _strip_furniture(container: etree._Element) -> None:
    etree.strip_elements(container, etree.Comment, etree.ProcessingInstruction, with_tail=False)
    etree.strip_elements(container, *DROP_TAGS, with_tail=False)
    junk = [el for el in _NAMED(container) if _is_junk_element(el)]
    for el in junk:
        # an ancestor may already be gone with its subtree; dropping twice is harmless
        if el.getparent() is not None:
            drop(el)


def _drop_junk_blocks(container: etree._Element, title: str | None) -> None:
    title_key = collapse(title) if title else None
    first_block_seen = False
    for el in _LEAF_BLOCKS(container):
        if el.getparent() is None:
            continue
        raw = text_content(el)
        if len(raw) > _LONG_BLOCK:
            first_block_seen = True  # a real paragraph: nothing below applies to it
            continue
        text = collapse(raw)
        if not text:
            continue
        short = len(text) <= MAX_JUNK_BLOCK
        if short and END_MARKERS.search(text):
            # everything after it goes too, and the loop has nothing left to visit
            drop_from(el, container)
            break
        if short and (JUNK_TEXT.search(text) or BYLINE_BLOCK.match(text) or _only_links(el, text)):
            drop(el)
            continue
        if not first_block_seen:
            first_block_seen = True
            if title_key and text == title_key:
                drop(el)
    _drop_end_marker_tails(container)


def _only_links(el: etree._Element, text: str) -> bool:
    """A related-links line: links, plus at most a short label like 此前报道："""
    links = list(el.iterdescendants("a"))
    if not links or next(el.iterdescendants("img"), None) is not None:
        return False
    linked = sum(len(collapse(text_content(a))) for a in links)
    return linked > 0 and len(text) - linked <= 6


def _drop_end_marker_tails(container: etree._Element) -> None:
    """Loose text such as ``【本文来自微信公众号…】`` after the last paragraph."""
    for el in list(container.iter()):
        tail = el.tail
        if el is container or not tail:
            continue
        m = END_MARKERS.search(tail)
        if m and el.getparent() is not None:
            el.tail = tail[: m.start()]
            parent = el.getparent()
            for sibling in list(el.itersiblings()):
                parent.remove(sibling)


def _images(container: etree._Element, base_url: str | None, published: date | None) -> list[str]:
    images: list[str] = []
    for img in list(container.iter("img")):
        url = absolute_url(image_src(img), base_url)
        if url is None or not is_content_image(url, published):
            drop(img)
            continue
        img.set("src", url)
        if url not in images:
            images.append(url)
    return images


_ATTRIBUTES = etree.XPath("descendant-or-self::*/@*")
_KEPT_ATTRS = frozenset(a for attrs in KEEP_ATTRS.values() for a in attrs)
_BLOCKISH_WRAPPERS = frozenset({"div", "center", "section", "article"})
_MAYBE_EMPTY = ("p", "figcaption", "strong", "b", "em", "a")


def _simplify(container: etree._Element, base_url: str | None) -> None:
    """Only the kept tags and attributes; wrappers unwrapped, captions as figcaption.

    One Python pass renames and collects; attributes go in one C call. (Plain iteration
    beats XPath here: a predicate with many alternatives costs more per element.)
    """
    not_kept = []
    for el in container.iterdescendants():
        tag = el.tag
        if not isinstance(tag, str):
            continue
        cls = el.get("class")
        if cls:
            if tag in ("span", "div", "p") and CAPTION_CLASSES.search(cls):
                el.tag = tag = "figcaption"
            elif tag == "div" and "img_wrapper" in cls:
                el.tag = tag = "figure"
        if tag not in KEEP_TAGS:
            not_kept.append(el)
    names = {a.attrname for a in _ATTRIBUTES(container)} - _KEPT_ATTRS
    if names:
        etree.strip_attributes(container, *names)
    for el in not_kept:
        if el.tag in _BLOCKISH_WRAPPERS and not _has_block_child(el):
            el.tag = "p"  # a wrapper of inline content is a paragraph
        else:
            unwrap(el)
    for el in list(container.iter("a")):
        href = absolute_url(el.get("href"), base_url)
        if href is None:
            unwrap(el)
        else:
            el.set("href", href)
    for table in list(container.iter("table")):
        # layout tables that held only ads (now gone): no text, no picture
        parent = table.getparent()
        if parent is not None and next(table.iter("img"), None) is None:
            blank = not text_content(table).strip()
            if blank:
                drop(table)
    for el in list(container.iter(*_MAYBE_EMPTY)):
        if el is not container and el.getparent() is not None and _is_empty(el):
            drop(el)


def _is_empty(el: etree._Element) -> bool:
    """Nothing visible inside: no text but spaces, no image, no table."""
    if el.text and el.text.strip():
        return False
    if next(el.iterdescendants("img", "table"), None) is not None:
        return False
    text = text_content(el)
    return not text.strip() or not collapse(text)


def _has_block_child(el: etree._Element) -> bool:
    return any(isinstance(c.tag, str) and c.tag in BLOCK_TAGS for c in el)


_BLANK_LINES = re.compile(r"\n\s*\n")


def _serialise(container: etree._Element) -> str:
    """The container's content as HTML (one C serialisation, the outer tag cut off),
    without blank lines: a Hexo post treats an HTML block as raw only up to one."""
    html = etree.tostring(container, method="html", encoding="unicode", with_tail=False)
    start, end = html.find(">") + 1, html.rfind("</")
    inner = html[start:end] if 0 < start <= end else ""
    return _BLANK_LINES.sub("\n", _CONTROL.sub("", inner)).strip()


# Block boundaries and <br> become line breaks; every other tag goes.
_LINE_BREAK_TAGS = re.compile(
    r"<(?:/?(?:p|div|section|article|center|blockquote|h[1-6]|ul|ol|li|table|thead|tbody"
    r"|tfoot|tr|td|th|caption|figure|figcaption|pre|hr|dl|dt|dd)|br)\b[^>]*>",
    re.I,
)
_TAG = re.compile(r"<[^>]*>")


def html_to_text(html: str) -> str:
    """Cleaned body HTML to text, one paragraph a line (regexes in C over a small string).

    >>> html_to_text("<p>一 <b>二</b></p><p>三<br>四</p>")
    '一 二\\n三\\n四'
    """
    if not html:
        return ""
    text = unescape(_TAG.sub("", _LINE_BREAK_TAGS.sub("\n", html)))
    lines = (collapse(line) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)
