"""The one answer to "may the crawler fetch this URL?": http(s) on a Sina host, nothing else.

Every URL a response hands the crawler (listing entries, next-page links, redirects, meta
refresh) is hostile. :func:`vet` is the single rule; it is applied by the listing parser to
what it extracts and by :class:`UrlPolicyMiddleware`, first in the downloader chain, to every
request whatever made it (``dont_filter=True`` listing requests skip Scrapy's off-site
filter, redirects and refreshes are made inside the downloader).

Dot segments are resolved before anything else looks at the URL: ``/a/../b`` is ``/b``,
also when spelled ``%2e%2e`` or with backslashes, so no path can climb out of its host
directory on the mirror (``SINACRAWL_UPSTREAM`` lays Sina out as ``/<host>/<path>``).
Refused URLs are counted as ``sinacrawl/urls/refused/<reason>`` and logged once per reason.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from scrapy.exceptions import IgnoreRequest, NotConfigured

from sinacrawl.parsing.urls import is_sina_host

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

REFUSED = "sinacrawl/urls/refused/"
_HOST = re.compile(r"^[a-z0-9.-]+$")
_ENCODED_DOT = re.compile(r"%2e", re.IGNORECASE)
# An encoded / or \ is a path separator to some proxies and a plain byte to others.
_ENCODED_SEPARATOR = re.compile(r"%(?:2f|5c)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


@dataclass(frozen=True)
class Verdict:
    """``url`` (dot segments resolved) when acceptable, else ``reason`` says why not."""

    url: str | None
    reason: str | None = None


def remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4: ``.`` and ``..`` segments resolved; never climbs above ``/``.

    >>> remove_dot_segments("/finance.sina.com.cn/../127.0.0.9/x")
    '/127.0.0.9/x'
    >>> remove_dot_segments("/a/./b/../../../c/")
    '/c/'
    """
    out: list[str] = []
    segments = path.split("/")
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        elif segment == ".":
            if last:
                out.append("")
        else:
            out.append(segment)
    result = "/".join(out)
    return result if result.startswith("/") else "/" + result


def vet(url: object) -> Verdict:
    """Whether a URL from a response may be fetched, and in which (resolved) form.

    >>> vet("https://finance.sina.com.cn/a/%2E%2e/b\\\\..\\\\doc-ix.shtml?x=1#f").url
    'https://finance.sina.com.cn/doc-ix.shtml?x=1'
    >>> vet("//sina.cn/x").url
    'https://sina.cn/x'
    >>> [vet(u).reason for u in ("file:///etc/passwd", "http://127.0.0.1:1/x",
    ...  "https://finance.sina.com.cn@127.0.0.2/", "https://finance.sina.com.cn:8080/",
    ...  "https://finance.sina.com.cn/a%2f..%2fb")]
    ['not_http', 'not_sina', 'userinfo', 'port', 'encoded_separator']
    """
    if not isinstance(url, str) or not url.strip():
        return Verdict(None, "empty")
    url = url.strip()
    if _CONTROL.search(url):
        return Verdict(None, "malformed")
    if url.startswith("//"):
        url = "https:" + url
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a malformed port or IPv6 literal
        return Verdict(None, "malformed")
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return Verdict(None, "not_http")
    if "@" in parts.netloc or "\\" in parts.netloc:
        # ``https://sina.com.cn@host/`` names ``host``; a backslash ends the host for browsers.
        return Verdict(None, "userinfo")
    host = (parts.hostname or "").rstrip(".")
    if not _HOST.match(host) or not is_sina_host(host):
        return Verdict(None, "not_sina")
    if port not in (None, 80, 443):
        return Verdict(None, "port")
    path = parts.path.replace("\\", "/")
    if _ENCODED_SEPARATOR.search(path):
        return Verdict(None, "encoded_separator")
    path = remove_dot_segments(_ENCODED_DOT.sub(".", path)) if path else "/"
    netloc = host if port is None else f"{host}:{port}"
    return Verdict(urlunsplit((scheme, netloc, path, parts.query, "")))


def has_dot_segments(url: str) -> bool:
    """Whether fetching ``url`` as it stands would send ``.``/``..`` segments (spelled any
    way) to a server.

    >>> has_dot_segments("https://sina.cn/a/%2E./b"), has_dot_segments("https://sina.cn/a..b")
    (True, False)
    """
    path = _ENCODED_DOT.sub(".", urlsplit(url).path.replace("\\", "/"))
    return any(segment in (".", "..") for segment in path.split("/"))


def count_refused(crawler: Crawler, reason: str, url: str, count: int = 1) -> None:
    """Count refused URLs; the first of each reason in a run gets one log line."""
    stats = crawler.stats
    assert stats is not None
    key = REFUSED + reason
    first = not stats.get_value(key)
    stats.inc_value(key, count)
    if first:
        logger.warning(
            "Refused %s (%s): only http(s) URLs on Sina hosts are fetched; further URLs "
            "refused for this reason are only counted (%s)",
            url[:300],
            reason,
            key,
        )


class RefusedUrl(IgnoreRequest):
    """A request for a URL the policy refuses (off-site, not http, dot segments, …)."""

    def __init__(self, reason: str, url: str) -> None:
        self.reason = reason
        super().__init__(f"refused URL ({reason}): {url[:300]}")


class UrlPolicyMiddleware:
    """First downloader middleware: every request, whatever made it, obeys :func:`vet`."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> UrlPolicyMiddleware:
        # Off only for test harnesses whose synthetic spiders fetch 127.0.0.1 directly.
        if not crawler.settings.getbool("SINACRAWL_URL_POLICY", True):
            raise NotConfigured("SINACRAWL_URL_POLICY is off")
        return cls(crawler)

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        verdict = vet(request.url)
        reason = verdict.reason
        if reason is None and has_dot_segments(request.url):
            reason = "dot_segments"  # parsers resolve them; a raw one came from a redirect
        if reason is not None:
            count_refused(self.crawler, reason, request.url)
            raise RefusedUrl(reason, request.url)
