"""Downloader components: the upstream mirror, Retry-After, robots-on-error, redirect guard.

- :class:`UpstreamMirrorHandler` sends every request for a Sina host to ``SINACRAWL_UPSTREAM``
  as ``http://HOST:PORT/<original host>/<original path and query>``. It is a download handler
  (registered for http and https): at that level the rewrite happens *after* every downloader
  middleware and slot, so robots.txt, per-host concurrency, AutoThrottle, cookies, retries,
  responses, items and logs all keep the real Sina URL.
- :class:`StrictRobotsTxtMiddleware`: a robots.txt that cannot be fetched because of a 5xx,
  a 429 or a network error means "disallow everything" for that host (RFC 9309 §2.3.1.4);
  Scrapy's own middleware allows all in that case.
- :class:`RetryAfterMiddleware`: 429/503 with ``Retry-After`` wait that long before the retry,
  up to ``RETRY_AFTER_MAX`` seconds; a longer demand is not retried in this run.
- :class:`RedirectGuardMiddleware`: off-site redirects, redirect loops and over-long chains,
  which Scrapy drops silently, are counted, logged and fail the request with a clear reason.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from scrapy import signals
from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware
from scrapy.downloadermiddlewares.retry import RetryMiddleware, get_retry_request
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.http import HtmlResponse, TextResponse
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet import error as twisted_errors
from w3lib.url import safe_url_string

from sinacrawl.parsing.urls import is_sina_host
from sinacrawl.scrapy_compat import set_url, sleep

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


# --- the upstream mirror --------------------------------------------------------------------


class UpstreamError(ValueError):
    """SINACRAWL_UPSTREAM is not an ``http(s)://host[:port]`` base URL."""


def parse_upstream(value: str | None) -> str | None:
    """The mirror base URL without a trailing slash, None when unset; raises UpstreamError.

    >>> parse_upstream("http://127.0.0.1:8080/")
    'http://127.0.0.1:8080'
    >>> parse_upstream("")
    """
    if value is None or not str(value).strip():
        return None
    value = str(value).strip()
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- raises ValueError on a malformed port
    except ValueError as exc:
        raise UpstreamError(f"SINACRAWL_UPSTREAM={value!r} is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UpstreamError(
            f"SINACRAWL_UPSTREAM={value!r} must look like http://HOST:PORT (a mirror of Sina "
            "laid out as /<original host>/<path>)"
        )
    if parts.query or parts.fragment or parts.username:
        raise UpstreamError(
            f"SINACRAWL_UPSTREAM={value!r} must not carry a query, fragment or user"
        )
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def mirror_url(url: str, upstream: str) -> str:
    """The mirror's URL for a real Sina URL.

    >>> mirror_url("https://feed.mix.sina.com.cn/api/roll/get?pageid=155&page=2", "http://h:1")
    'http://h:1/feed.mix.sina.com.cn/api/roll/get?pageid=155&page=2'
    """
    parts = urlsplit(url)
    path = parts.path or "/"
    query = f"?{parts.query}" if parts.query else ""
    return f"{upstream}/{parts.netloc.lower()}{path}{query}"


def real_url(url: str, upstream: str) -> str | None:
    """The real Sina URL a mirror URL stands for (https), else None.

    >>> real_url("http://h:1/finance.sina.com.cn/a/doc-ix.shtml?x=1", "http://h:1")
    'https://finance.sina.com.cn/a/doc-ix.shtml?x=1'
    >>> real_url("http://h:1/evil.example.com/x", "http://h:1")
    """
    prefix = upstream + "/"
    if not url.startswith(prefix):
        return None
    host, _, rest = url[len(prefix) :].partition("/")
    if not is_sina_host(host):
        return None
    return f"https://{host}/{rest}"


# Scrapy's download errors: plain messages, safe to re-create with the real URL in them.
MESSAGE_ERRORS = (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    ResponseDataLossError,
)


class RealUrlLogFilter(logging.Filter):
    """Rewrites mirror URLs in Scrapy's download-handler warnings back to real Sina URLs."""

    def __init__(self, upstream: str) -> None:
        super().__init__()
        self.upstream = upstream
        self.pattern = re.compile(re.escape(upstream) + r"/([A-Za-z0-9.-]+)/")

    def _real(self, m: re.Match[str]) -> str:
        host = m.group(1)
        return f"https://{host}/" if is_sina_host(host) else m.group(0)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.upstream in message:
            record.msg, record.args = self.pattern.sub(self._real, message), ()
        return True


HANDLER_LOGGERS = ("scrapy.core.downloader.handlers.http11",)


def _install_log_filter(upstream: str) -> None:
    for name in HANDLER_LOGGERS:
        target = logging.getLogger(name)
        if not any(
            isinstance(f, RealUrlLogFilter) and f.upstream == upstream for f in target.filters
        ):
            target.addFilter(RealUrlLogFilter(upstream))


class UpstreamMirrorHandler(HTTP11DownloadHandler):
    """HTTP(S) download handler that fetches Sina hosts from ``SINACRAWL_UPSTREAM`` when set."""

    lazy = False

    def __init__(self, crawler: Crawler):
        super().__init__(crawler)
        self.upstream = parse_upstream(crawler.settings.get("SINACRAWL_UPSTREAM"))
        self.maxsize = crawler.settings.getint("DOWNLOAD_MAXSIZE")
        # One instance per scheme (http, https): say it once per crawl.
        if self.upstream and not getattr(crawler, "_sinacrawl_mirror_logged", False):
            crawler._sinacrawl_mirror_logged = True  # type: ignore[attr-defined]
            logger.info("Sina requests go to the mirror %s", self.upstream)
            _install_log_filter(self.upstream)
        self._received: dict[Request, int] = {}  # bytes so far, per download in flight
        crawler.signals.connect(self._count_bytes, signal=signals.bytes_received)

    async def download_request(self, request: Request) -> Response:
        if not self.upstream or not is_sina_host(urlparse_cached(request).hostname):
            return await self._download(request, request)
        target = mirror_url(request.url, self.upstream)
        try:
            response = await self._download(request.replace(url=target), request)
        except MESSAGE_ERRORS as exc:
            # Errors name the URL they fetched; logs and stats should name the real one.
            if target not in str(exc):
                raise
            raise type(exc)(str(exc).replace(target, request.url)) from exc
        return self._as_real(response, request, target)

    async def _download(self, fetched: Request, real: Request) -> Response:
        self._received[fetched] = 0
        try:
            return await super().download_request(fetched)
        except DownloadCancelledError as exc:
            # A streamed body over DOWNLOAD_MAXSIZE is cancelled without a word; say why.
            limit = fetched.meta.get("download_maxsize", self.maxsize)
            received = self._received.get(fetched, 0)
            if str(exc) or not limit or received <= limit:
                raise
            raise DownloadCancelledError(
                f"Received {received} bytes which is larger than download max size ({limit})"
                f" in request {real}."
            ) from exc
        finally:
            self._received.pop(fetched, None)

    def _count_bytes(self, data: bytes, request: Request) -> None:
        if request in self._received:
            self._received[request] += len(data)

    def _as_real(self, response: Response, request: Request, target: str) -> Response:
        """The mirror's response under the real URL; mirror-relative redirects mapped back."""
        location = response.headers.get(b"Location")
        if location is None:
            # The same object under the real URL: replace() would copy and re-normalise every
            # header, a noticeable share of the crawl thread's time per page.
            return set_url(response, request.url)
        headers = response.headers.copy()
        absolute = urljoin(target, safe_url_string(location.decode("latin-1")))
        real = real_url(absolute, self.upstream)
        if real is not None:
            headers[b"Location"] = real.encode("ascii")
        return response.replace(url=request.url, headers=headers)


# --- robots.txt -------------------------------------------------------------------------------

DISALLOW_ALL = b"User-agent: *\nDisallow: /\n"


class StrictRobotsTxtMiddleware(RobotsTxtMiddleware):
    """RobotsTxtMiddleware with RFC 9309's error rules (unreachable → disallow all).

    Scrapy's middleware downloads robots.txt through the downloader middlewares, this one
    included (after retries, as it sits at the engine's end); here an answer that means
    "unreachable" becomes a robots.txt that disallows everything, which Scrapy then parses
    and caches for the host like any other.
    """

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.unreachable: dict[str, str] = {}  # host → why its robots.txt was not had

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Response:
        if not is_robots_request(request):
            return response
        if response.status >= 500 or response.status == 429:
            return self._disallow_host(request, f"HTTP {response.status}")
        if 400 <= response.status < 500:
            # "Unavailable": the crawler may access any resource (RFC 9309 §2.3.1.3).
            return response.replace(body=b"")
        return response

    def process_exception(
        self, request: Request, exception: Exception, spider: Spider | None = None
    ) -> Response | None:
        if not is_robots_request(request) or isinstance(exception, IgnoreRequest):
            return None  # IgnoreRequest (e.g. an off-site redirect): Scrapy's "allow all"
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(f"robotstxt/exception_count/{type(exception)}")
        dns = isinstance(exception, (CannotResolveHostError, twisted_errors.DNSLookupError))
        why = "DNS failure" if dns else f"{type(exception).__name__}: {exception}"
        return self._disallow_host(request, why)

    def process_request_2(self, rp: Any, request: Request) -> None:
        """Scrapy's robots check, with its own reason for hosts whose robots.txt was lost."""
        why = self.unreachable.get(urlparse_cached(request).netloc)
        if why is not None:
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value("sinacrawl/robots/refused_unreachable")
            raise IgnoreRequest(f"robots.txt unreachable ({why}): not fetching {request.url}")
        super().process_request_2(rp, request)

    def _disallow_host(self, request: Request, why: str) -> Response:
        netloc = urlparse_cached(request).netloc
        logger.warning(
            "robots.txt of %s is unreachable (%s): not crawling that host in this run", netloc, why
        )
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value("sinacrawl/robots/unreachable")
        self.unreachable[netloc] = why  # its pages are refused for this, not as "Forbidden"
        return TextResponse(request.url, status=200, body=DISALLOW_ALL, request=request)


def is_robots_request(request: Request) -> bool:
    """The robots.txt download RobotsTxtMiddleware makes (marked so it is not itself checked)."""
    return bool(request.meta.get("dont_obey_robotstxt")) and request.url.endswith("/robots.txt")


# --- Retry-After ------------------------------------------------------------------------------


def retry_after_seconds(value: bytes | str | None, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or HTTP-date), else None.

    >>> retry_after_seconds(b"3")
    3.0
    >>> now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> retry_after_seconds("Thu, 01 Jan 2026 00:00:10 GMT", now)
    10.0
    >>> retry_after_seconds("soon") is None
    True
    """
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


class RetryAfterMiddleware(RetryMiddleware):
    """RetryMiddleware that waits as long as a 429/503 ``Retry-After`` asks, within a cap."""

    HONOURED = frozenset({429, 503})

    def __init__(self, settings: BaseSettings):
        super().__init__(settings)
        self.max_wait = settings.getfloat("RETRY_AFTER_MAX", 60.0)

    async def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Request | Response:
        wait = None
        if response.status in self.HONOURED and response.status in self.retry_http_codes:
            wait = retry_after_seconds(response.headers.get(b"Retry-After"))
        if wait is None or request.meta.get("dont_retry", False):
            return super().process_response(request, response)
        stats = self.crawler.stats
        if wait > self.max_wait:
            logger.warning(
                "%s asks to come back in %.0f s (over RETRY_AFTER_MAX=%.0f s); not retrying %s",
                urlparse_cached(request).hostname,
                wait,
                self.max_wait,
                request,
            )
            stats.inc_value("sinacrawl/retry_after/too_long")
            return response
        retry = get_retry_request(
            request,
            spider=self.crawler.spider,
            reason=f"{response.status} with Retry-After {wait:g}s",
            max_retry_times=request.meta.get("max_retry_times", self.max_retry_times),
            priority_adjust=request.meta.get("priority_adjust", self.priority_adjust),
        )
        if retry is None:
            return response
        stats.inc_value("sinacrawl/retry_after/honoured")
        stats.max_value("sinacrawl/retry_after/max_wait", wait)
        if wait > 0:
            await sleep(wait)
        return retry


# --- redirects --------------------------------------------------------------------------------


class OffsiteRedirect(IgnoreRequest):
    """A redirect to a host outside the spider's allowed domains."""


class RedirectLoop(IgnoreRequest):
    """A redirect back to a URL already in the chain."""


class TooManyRedirects(IgnoreRequest):
    """A redirect chain longer than REDIRECT_MAX_TIMES."""


def _without_fragment(url: str) -> str:
    return url.split("#", 1)[0]


class RedirectGuardMiddleware:
    """Counts, logs and fails the redirects Scrapy's RedirectMiddleware would drop silently.

    Ordered just above RedirectMiddleware (600) so it sees each 3xx before it is followed.
    """

    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.max_redirects = crawler.settings.getint("REDIRECT_MAX_TIMES")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RedirectGuardMiddleware:
        return cls(crawler)

    def _allowed(self, host: str | None) -> bool:
        domains = getattr(self.crawler.spider, "allowed_domains", None) or ()
        if not host:
            return False
        if not domains:
            return is_sina_host(host)
        host = host.lower()
        return any(host == d or host.endswith("." + d) for d in domains)

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Response:
        if (
            response.status not in REDIRECT_STATUSES
            or b"Location" not in response.headers
            or request.meta.get("dont_redirect")
            or request.meta.get("handle_httpstatus_all")
            or response.status in request.meta.get("handle_httpstatus_list", ())
        ):
            return response
        location = safe_url_string(response.headers[b"Location"].decode("latin-1"))
        target = urljoin(request.url, location)
        chain = [*request.meta.get("redirect_urls", []), request.url]
        stats = self.crawler.stats
        if not self._allowed(urlsplit(target).hostname):
            stats.inc_value("sinacrawl/redirects/offsite")
            logger.warning("Off-site redirect from %s to %s: not followed", request.url, target)
            raise OffsiteRedirect(f"off-site redirect to {target}")
        if _without_fragment(target) in {_without_fragment(u) for u in chain}:
            stats.inc_value("sinacrawl/redirects/loop")
            logger.warning("Redirect loop: %s", " -> ".join([*chain, target]))
            raise RedirectLoop(f"redirect loop back to {target}")
        if len(chain) > self.max_redirects:
            stats.inc_value("sinacrawl/redirects/too_many")
            logger.warning("More than %d redirects from %s", self.max_redirects, chain[0])
            raise TooManyRedirects(f"more than {self.max_redirects} redirects")
        return response


# --- meta refresh -----------------------------------------------------------------------------

# Scrapy looks for a refresh in a page's first 4096 characters: at most 4 bytes each in
# UTF-8 and GB18030.
_REFRESH_SCAN_BYTES = 4096 * 4


class ByteScanMetaRefreshMiddleware(MetaRefreshMiddleware):
    """MetaRefreshMiddleware that decodes only pages whose first bytes mention "refresh".

    Scrapy's decodes every HTML page in full (``response.text``) to look at its start, a
    few percent of the crawl thread for 120 KB pages that the extraction worker decodes
    anyway. In an ASCII-compatible encoding (all Sina pages: UTF-8, GBK) a page whose first
    bytes do not spell "refresh" cannot declare one there.
    """

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Request | Response:
        if "listing" in request.meta:
            # An article page is the article: extracted as it is, never swapped for the page
            # its refresh names (which would be stored under this article's doc_id).
            return response
        if (
            isinstance(response, HtmlResponse)
            and b"\x00" not in response.body[:64]  # UTF-16/32 spell it differently
            # lower() and a plain search: 7x faster than a case-insensitive regex here
            and b"refresh" not in response.body[:_REFRESH_SCAN_BYTES].lower()
        ):
            return response
        return super().process_response(request, response)
