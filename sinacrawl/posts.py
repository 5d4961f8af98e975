"""An article as a Hexo post: its front matter, its body and its path (SPEC §4).

The layout is the seed post's (``../shared/fixtures/hexo-posts/seed_*.md``) with the fixes
SPEC §4 lists. Everything here is a pure function of the item, so the same article always
gives the same bytes and the same path, which is what "rewrite only on change" relies on.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo

from lxml import etree
from lxml import html as lxml_html

from sinacrawl.parsing.dates import BEIJING, parse_stored

DEFAULT_AUTHOR = "新浪财经"
BODY_OPEN = "<div>   "  # the seed's wrapper line, trailing spaces included
BODY_CLOSE = "</div>"

# --- front matter values -------------------------------------------------------------------

# Characters a single-quoted YAML scalar cannot carry as themselves in both PyYAML and js-yaml:
# C0/C1 controls, DEL, line breaks YAML 1.1 knows (NEL, LS, PS), BOM and non-characters.
_UNSAFE_IN_QUOTES = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")
# A plain (unquoted) scalar is used only where it cannot be read as anything but this string:
# it starts with a non-ASCII letter (so never a number, bool, null or YAML indicator) and holds
# only letters, digits, CJK/full-width punctuation and a few harmless ASCII characters.
_PLAIN_FIRST = re.compile(r"[^\W\d_\x00-\x7f]")
_PLAIN_REST = re.compile(r"[\w\u3001-\u303f\uff01-\uff5e\u00b7\u2014\u2018-\u201d.()/-]*")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\x00": "\\0"}


def yaml_quoted(value: str) -> str:
    """A YAML scalar for any string: single-quoted like the seed when that can hold it,
    else double-quoted with escapes, so PyYAML and js-yaml both read back ``value``.

    >>> print(yaml_quoted("人社部：it's"))
    '人社部：it''s'
    >>> print(yaml_quoted("line\\nbreak\\u2028"))
    "line\\nbreak\\u2028"
    """
    if not _UNSAFE_IN_QUOTES.search(value):
        return "'" + value.replace("'", "''") + "'"
    out = []
    for ch in value:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif _UNSAFE_IN_QUOTES.match(ch):
            code = ord(ch)
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def yaml_scalar(value: str) -> str:
    """Plain like the seed (``author: 新浪财经``) when unambiguous, else :func:`yaml_quoted`.

    >>> yaml_scalar("新浪财经－国內"), yaml_scalar("yes"), yaml_scalar("新京报: 快讯")
    ('新浪财经－国內', "'yes'", "'新京报: 快讯'")
    """
    if value and _PLAIN_FIRST.match(value) and _PLAIN_REST.fullmatch(value, 1):
        return value
    return yaml_quoted(value)


def hexo_date(published: datetime, hexo_timezone: str | None) -> str:
    """The ``date:`` value: RFC 1123 GMT (the seed's form) or wall-clock time in the site's zone.

    Hexo reads the value as wall-clock time in its ``timezone`` and ignores any offset in it,
    so with ``HEXO_TIMEZONE`` set the value is that zone's local time (SPEC §4).

    >>> when = datetime(2021, 11, 22, 17, 33, 50, tzinfo=BEIJING)
    >>> hexo_date(when, None), hexo_date(when, "Asia/Shanghai")
    ('Mon, 22 Nov 2021 09:33:50 GMT', '2021-11-22 17:33:50')
    """
    if hexo_timezone:
        return published.astimezone(ZoneInfo(hexo_timezone)).strftime("%Y-%m-%d %H:%M:%S")
    return format_datetime(published.astimezone(timezone.utc), usegmt=True)


def front_matter(item: Mapping[str, Any], hexo_timezone: str | None = None) -> str:
    """The front matter block, from ``---`` to ``---`` inclusive, with a final newline."""
    headimg = item.get("headimg")
    author = item.get("author") or item.get("source") or DEFAULT_AUTHOR
    lines = ["---", f"title: {yaml_quoted(item.get('title') or '')}", "categories: "]
    lines += [f" - {yaml_scalar(str(c))}" for c in item.get("categories") or ()]
    if headimg:
        lines.append(f"headimg: {yaml_quoted(headimg)}")
    lines.append(f"author: {yaml_scalar(author)}")
    lines.append("comments: false")
    lines.append(f"date: {hexo_date(post_datetime(item), hexo_timezone)}")
    if headimg:
        lines.append(f"thumbnail: {yaml_quoted(headimg)}")
    lines.append("---")
    return "\n".join(lines) + "\n"


def post_datetime(item: Mapping[str, Any]) -> datetime:
    """The article's instant: ``published_at``, else ``crawled_at`` (aware, Beijing)."""
    for field in ("published_at", "crawled_at"):
        parsed = parse_stored(item.get(field))
        if parsed is not None:
            return parsed.astimezone(BEIJING)
    return datetime(1970, 1, 1, 8, tzinfo=BEIJING)


# --- body ----------------------------------------------------------------------------------

# Dropped with their content: active or embedding elements (the security list; what
# extraction drops as page furniture is parsing/text.py's DROP_TAGS).
ACTIVE_TAGS = frozenset(
    {
        *("script", "style", "iframe", "frame", "frameset", "object", "applet", "noscript"),
        *("template", "svg", "math", "portal", "audio", "video", "select", "textarea"),
    }
)
# Dropped as tags only: void or form elements whose following content the parser may nest.
UNWRAP_TAGS = frozenset(
    {"embed", "input", "meta", "link", "base", "source", "param", "track", "form", "button"}
)
# Anything else (the parser keeps ``<scr<script>`` as a tag named "scr<script") is unwrapped.
_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_ATTR_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:.-]*")
URL_ATTRS = frozenset(
    ("href", "src", "action", "formaction", "background", "poster", "cite", "data", "lowsrc")
)
_UNSAFE_STYLE = re.compile(r"expression|javascript|url\s*\(", re.I)
_BAD_SCHEME = re.compile(r"^(?:javascript|vbscript|data|livescript|mocha):", re.I)
_CONTROL_AND_SPACE = re.compile(r"[\x00-\x20\x7f]+")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _unsafe_url(value: str) -> bool:
    return bool(_BAD_SCHEME.match(_CONTROL_AND_SPACE.sub("", html.unescape(value))))


def _clean_element(el: etree._Element) -> None:
    # items() rather than attrib[name]: the HTML parser keeps names like "{{" that lxml then
    # refuses to look up, so the attributes are rebuilt from the ones worth keeping.
    attributes = el.items()
    el.attrib.clear()
    for name, value in attributes:
        lowered = name.lower()
        if not (
            not _ATTR_NAME.fullmatch(name)
            or lowered.startswith("on")
            or lowered in ("srcdoc", "srcset", "xmlns", "is")
            or ((lowered in URL_ATTRS or lowered.endswith("href")) and _unsafe_url(value))
            or (lowered == "style" and _UNSAFE_STYLE.search(value))
        ):
            el.set(name, value)
    if el.tag == "img":
        el.set("referrerpolicy", "no-referrer")
    if el.tag == "a" and el.get("target"):
        el.set("rel", "noopener noreferrer")


def sanitize_html(body_html: str) -> str:
    """The body with scripts, embeds, event handlers and script URLs made inert.

    This is the one security step between an item and a post, run where the post is made:
    the Hexo store takes any item (a tool's, a replayed one), not only what extraction made.
    Extraction's allow-list (``parsing/text.py``) decides what *content* a body keeps; on its
    output this step only adds ``referrerpolicy`` to images (``tests/test_hexo.py`` checks
    that for every real page), so the two do not repeat each other.

    >>> sanitize_html('<p onclick="x()">a</p><script>evil()</script><img src="javascript:y">')
    '<p>a</p><img referrerpolicy="no-referrer">'
    """
    body_html = _NOT_XML.sub("", body_html)  # lxml refuses them, and they show nothing
    wrapper = lxml_html.fragment_fromstring(body_html, create_parent="div")
    for el in list(wrapper.iter()):
        if el is wrapper:
            continue
        # Comments and processing instructions (non-str tags) show nothing: they go too.
        if not isinstance(el.tag, str) or el.tag.lower() in ACTIVE_TAGS:
            el.drop_tree()
        elif el.tag.lower() in UNWRAP_TAGS or not _TAG_NAME.fullmatch(el.tag):
            el.drop_tag()
    for el in wrapper.iter():
        if isinstance(el.tag, str) and el is not wrapper:
            _clean_element(el)
    parts = [html.escape(wrapper.text or "", quote=False)]
    parts += [lxml_html.tostring(child, encoding="unicode") for child in wrapper]
    return "".join(parts)


def text_to_html(body_text: str) -> str:
    """Paragraph markup for a body known only as text (one paragraph a line)."""
    return "\n".join(
        f"<p>{html.escape(line.strip(), quote=False)}</p>"
        for line in body_text.splitlines()
        if line.strip()
    )


def _template_safe(text: str) -> str:
    # Nunjucks would read {{ }}, {% %} and {# #}; Hexo's code-block filter reads ``` fences.
    return text.replace("{", "&#123;").replace("}", "&#125;").replace("`", "&#96;")


def post_body(item: Mapping[str, Any]) -> str:
    """The body block: the seed's ``<div>   `` wrapper around the cleaned HTML, no blank line."""
    body_html = item.get("body_html") or ""
    inner = (
        sanitize_html(body_html) if body_html.strip() else text_to_html(item.get("body_text") or "")
    )
    inner = _template_safe(inner.replace("\r\n", "\n").replace("\r", "\n"))
    # Hexo's Markdown renderer keeps an HTML block raw only up to the first blank line.
    lines = [line for line in inner.split("\n") if line.strip(" \t\f\v")]
    return "\n".join([BODY_OPEN, *lines, BODY_CLOSE]) + "\n"


def render_post(item: Mapping[str, Any], hexo_timezone: str | None = None) -> bytes:
    """The whole post file, UTF-8."""
    return (front_matter(item, hexo_timezone) + "\n" + post_body(item)).encode("utf-8")


# --- path ----------------------------------------------------------------------------------

MAX_NAME_BYTES = 255
_UNSAFE_NAME_CHARS = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')
_SAFE_DOC_ID = re.compile(r"[0-9A-Za-z_-]{1,100}")


def _short_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=5).hexdigest()


def _truncate_utf8(text: str, limit: int) -> str:
    return text.encode("utf-8", "surrogatepass")[:limit].decode("utf-8", "ignore")


def safe_component(name: str) -> str:
    """A folder name from untrusted text: no separators, no dot-names, at most 255 bytes.

    Text that had to be changed gets a short hash of the original, so two different names
    never end up in the same folder.

    >>> safe_component("新浪财经－国內"), safe_component(".."), safe_component("a/b")
    ('新浪财经－国內', '_..-...', 'a_b-...')
    """
    name = str(name)
    cleaned = unicodedata.normalize("NFC", _UNSAFE_NAME_CHARS.sub("_", name)).strip()
    if not cleaned or cleaned.startswith("."):
        cleaned = "_" + cleaned
    if cleaned == name and len(cleaned.encode("utf-8", "surrogatepass")) <= MAX_NAME_BYTES:
        return cleaned
    tag = "-" + _short_hash(name)
    return _truncate_utf8(cleaned, MAX_NAME_BYTES - len(tag)).rstrip() + tag


def safe_doc_id(doc_id: str) -> str:
    """The doc_id as a file-name part; an odd one becomes a readable part plus a hash."""
    if _SAFE_DOC_ID.fullmatch(doc_id):
        return doc_id
    readable = re.sub(r"[^0-9A-Za-z_-]+", "_", doc_id)[:60].strip("_") or "doc"
    return f"{readable}-{_short_hash(doc_id)}"


def post_path(item: Mapping[str, Any]) -> str:
    """``<categories joined by />/<YYYY-MM-DD>-<doc_id>.md``, relative, ``/``-separated.

    >>> post_path({"categories": ["金融", "新浪财经"], "doc_id": "ikyamrmz6784021",
    ...            "published_at": "2021-11-22T01:33:50+08:00"})
    '金融/新浪财经/2021-11-22-ikyamrmz6784021.md'
    """
    folders = [safe_component(c) for c in item.get("categories") or ()]
    day = post_datetime(item).strftime("%Y-%m-%d")
    return "/".join([*folders, f"{day}-{safe_doc_id(str(item['doc_id']))}.md"])
