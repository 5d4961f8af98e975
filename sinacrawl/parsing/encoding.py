"""Page bytes to text: UTF-8, GB2312/GBK (read as GB18030) and mislabelled pages.

Sina has served every mix: GB2312 pages declaring GB2312, UTF-8 pages whose ``<meta>`` still
says gb2312, and HTTP headers that contradict the page. Labels are hints, bytes are facts:
a strict UTF-8 decode that succeeds on non-ASCII bytes is almost never an accident, while
GB bytes are seldom valid UTF-8, so UTF-8 is tried first and labels only pick among the
rest. No U+FFFD ever leaves this module.
"""

from __future__ import annotations

import codecs
import logging
import re

logger = logging.getLogger(__name__)

# GB2312 and GBK are subsets of GB18030; decoding them as GB18030 loses nothing and reads
# the characters Sina's editors typed outside GB2312 (names, rare characters).
_ALIASES: dict[str, str] = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "gb_2312-80": "gb18030",
    "euc-cn": "gb18030",
    "utf8": "utf-8",
}
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_SINGLE_BYTE = frozenset(
    codecs.lookup(c).name
    for c in ("latin-1", "cp1252", "ascii", "iso-8859-15", "cp1251", "koi8-r", "mac-roman")
)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?\s*([\w.:-]+)", re.I)
# <meta charset="x"> and <meta http-equiv content="text/html; charset=x">, in the first 4 KB.
_META_CHARSET = re.compile(rb"<meta[^>]{0,300}?charset\s*=\s*[\"']?\s*([\w.:-]+)", re.I)
_META_SCAN_BYTES = 4096


def normalise_charset(name: str | None) -> str | None:
    """A Python codec name for a declared charset, None when unknown.

    >>> normalise_charset("GB2312"), normalise_charset("utf8"), normalise_charset("nonsense")
    ('gb18030', 'utf-8', None)
    """
    if not name:
        return None
    name = name.strip().lower()
    name = _ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def header_charset(content_type: str | None) -> str | None:
    """The charset a Content-Type header declares.

    >>> header_charset("text/html; charset=GBK")
    'gb18030'
    """
    m = _HEADER_CHARSET.search(content_type or "")
    return normalise_charset(m.group(1)) if m else None


def meta_charset(body: bytes) -> str | None:
    """The charset the page's own ``<meta>`` declares (first 4 KB only)."""
    m = _META_CHARSET.search(body[:_META_SCAN_BYTES])
    return normalise_charset(m.group(1).decode("ascii", "ignore")) if m else None


def _strict(body: bytes, codec: str) -> str | None:
    try:
        return body.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def decode_html(body: bytes, content_type: str | None = None) -> str:
    """Decode a page: BOM, then UTF-8, then the declared charsets, then GB18030.

    Each candidate must decode the whole page strictly. When none does (a truncated or
    damaged page), the most plausible one decodes with the bad bytes dropped.

    >>> decode_html("新浪".encode("gbk"), "text/html; charset=utf-8")
    '新浪'
    >>> decode_html("新浪".encode("utf-8"), "text/html; charset=gb2312")
    '新浪'
    """
    if not body:
        return ""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return _clean(body[len(bom) :].decode(codec, "ignore"))
    # The page's own meta before the header (servers mislabel more often than editors do).
    # Single-byte charsets decode any bytes, so a strict decode cannot refute them: Sina
    # never serves them, and they are tried only after GB18030 has failed.
    declared = [c for c in (meta_charset(body), header_charset(content_type)) if c]
    multi = [c for c in declared if c not in _SINGLE_BYTE]
    candidates = ["utf-8", *multi, "gb18030", *(c for c in declared if c in _SINGLE_BYTE)]
    seen: set[str] = set()
    for codec in candidates:
        if codec in seen:
            continue
        seen.add(codec)
        text = _strict(body, codec)
        if text is not None:
            if declared and codec != declared[0]:
                logger.debug("page declared %s but decodes as %s", declared[0], codec)
            return _clean(text)
    fallback = _best_effort_codec(body, declared)
    logger.warning(
        "page bytes are not valid in any candidate charset; decoding %s lossily", fallback
    )
    return _clean(body.decode(fallback, "ignore"))


def html_utf8(body: bytes, content_type: str | None = None) -> bytes:
    """The page as UTF-8 bytes for the parser: decode_html's result, without re-encoding a
    page that already is clean UTF-8 (most of Sina since 2014).

    >>> html_utf8("新浪".encode("gbk"), "text/html; charset=gbk").decode("utf-8")
    '新浪'
    """
    if body and not body.startswith(codecs.BOM_UTF8) and _FFFD_UTF8 not in body:
        if body.isascii():
            return body
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return body
    return decode_html(body, content_type).encode("utf-8")


_FFFD_UTF8 = "\ufffd".encode()


def sniff(body: bytes, content_type: str | None = None) -> str:
    """The encoding a page's bytes show, judged on a sample (the whole page is checked by
    whoever decodes it): UTF-8 when the sample is valid UTF-8, else the declared multi-byte
    charset, else GB18030.

    >>> sniff("新浪".encode("gbk"), "text/html; charset=utf-8"), sniff(b"<html>")
    ('gb18030', 'utf-8')
    """
    sample = body[:_SNIFF_BYTES]
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"  # the sample only cut a character in two
    for codec in (meta_charset(body), header_charset(content_type)):
        if codec and codec != "utf-8" and codec not in _SINGLE_BYTE:
            return codec
    return "gb18030"


_SNIFF_BYTES = 16384


def _best_effort_codec(body: bytes, declared: list[str]) -> str:
    """The codec that fails least on a damaged page (counted on a sample, to stay fast)."""
    sample = body[:65536]
    best, best_errors = "utf-8", None
    for codec in ["utf-8", *declared, "gb18030"]:
        try:
            errors = sample.decode(codec, "replace").count("\ufffd")
        except LookupError:
            continue
        if best_errors is None or errors < best_errors:
            best, best_errors = codec, errors
    return best


# U+FFFD (an earlier bad conversion upstream) and the Private Use Area: GB18030 maps the
# user-defined GBK bytes some old pages carry (AA A5 on p01) there; neither is text.
_UNREADABLE = re.compile("[\ufffd\ue000-\uf8ff]")


def _clean(text: str) -> str:
    return _UNREADABLE.sub("", text)
