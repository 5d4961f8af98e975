"""Sina URLs: which hosts are Sina's, canonical article URLs and document ids."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

SINA_DOMAINS = ("sina.com.cn", "sina.cn")

# Tried in order; the first match wins. Group 1 is the document id.
DOC_ID_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"/doc-(i[0-9a-z]+)\.s?html?$"),  # 2014+ www pages
    re.compile(r"/detail-(i[0-9a-z]+)\.d\.html?$"),  # finance.sina.cn mobile pages
    re.compile(r"/article_\d+_([0-9a-z]+)\.html?$"),  # k.sina.com.cn self-media
    re.compile(r"/articles/view/\d+/([0-9a-z]+)/?$"),  # t.cj.sina.com.cn 财经头条
    re.compile(r"(\d+)\.s?html?$"),  # old numeric pages: …/031868306.html
)


def is_sina_host(host: str | None) -> bool:
    """True for ``sina.com.cn``, ``sina.cn`` and their subdomains.

    >>> is_sina_host("finance.sina.com.cn"), is_sina_host("evilsina.com.cn")
    (True, False)
    """
    if not host:
        return False
    host = host.lower().rstrip(".").split(":", 1)[0]
    return any(host == d or host.endswith("." + d) for d in SINA_DOMAINS)


def canonical_url(url: str) -> str:
    """https, lower-case host, no query string, no fragment.

    >>> canonical_url("http://Finance.sina.com.cn/a/doc-ix.shtml?cre=1#p")
    'https://finance.sina.com.cn/a/doc-ix.shtml'
    """
    parts = urlsplit(url.strip())
    return urlunsplit(("https", parts.netloc.lower(), parts.path or "/", "", ""))


def doc_id_from_url(url: str | None) -> str | None:
    """The Sina document id a URL names, or None.

    >>> doc_id_from_url("https://finance.sina.com.cn/x/2021-11-22/doc-ikyamrmz6784021.shtml")
    'ikyamrmz6784021'
    >>> doc_id_from_url("http://bj.house.sina.com.cn/p/2005-03-31/031868306.html")
    '031868306'
    """
    if not url:
        return None
    path = unquote(urlsplit(url.strip()).path)
    for pattern in DOC_ID_PATTERNS:
        m = pattern.search(path)
        if m:
            return m.group(1)
    return None
