"""The ``article`` spider: fetch the article URLs a user names, same item as ``finance``.

::

    scrapy crawl article -a urls=https://finance.sina.com.cn/…/doc-i….shtml,https://…
    scrapy crawl article -a urls_file=urls.txt      # one URL a line; blank lines, # comments ok
    scrapy crawl article -a urls=… -a channel=macro  # file the posts under another channel

A URL that is not an http(s) Sina article address is reported (logged and counted as
``sinacrawl/urls/rejected/<reason>``) and skipped; the rest are fetched. Items carry the
categories of ``-a channel`` (default: the default channel's).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy.exceptions import UsageError

from sinacrawl.channels import DEFAULT_CHANNEL, UnknownChannel, get_channels
from sinacrawl.parsing.listing import ListingEntry
from sinacrawl.parsing.urls import canonical_url, doc_id_from_url, is_sina_host
from sinacrawl.spiderargs import check_no_unknown_args, parse_bool
from sinacrawl.spiders.finance import ArticleSpiderBase

if TYPE_CHECKING:
    from scrapy.http import Response

REJECTED = "sinacrawl/urls/rejected/"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+-]*:(?!\d)")  # a scheme, not host:port


def check_url(url: str) -> tuple[str | None, str | None]:
    """``(request URL, None)`` for a usable article URL, else ``(None, reason)``.

    >>> check_url("finance.sina.com.cn/a/doc-ix1.shtml")
    ('https://finance.sina.com.cn/a/doc-ix1.shtml', None)
    >>> check_url("https://example.com/doc-ix1.shtml")
    (None, 'not_sina')
    >>> check_url("https://finance.sina.com.cn/")
    (None, 'no_doc_id')
    """
    url = url.strip()
    if not url or any(c.isspace() for c in url):
        return None, "malformed"
    if _SCHEME.match(url) and "://" not in url:
        return None, "not_http"  # mailto:, javascript:, data:
    if "://" not in url and not url.startswith("//"):
        url = "https://" + url  # a bare host/path, as copied from an address bar
    if url.startswith("//"):
        url = "https:" + url
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a malformed port
    except ValueError:
        return None, "malformed"
    if parts.scheme not in ("http", "https"):
        return None, "not_http"
    if parts.username is not None or not is_sina_host(parts.hostname):
        return None, "not_sina"
    if doc_id_from_url(url) is None:
        return None, "no_doc_id"
    # Fetch the canonical form: https, no tracking query (cre=…), no fragment.
    return canonical_url(url), None


def read_urls(urls: str | None, urls_file: str | None, *, file_arg: str = "urls_file") -> list[str]:
    """The URLs given by ``-a urls=`` (comma separated) and ``-a urls_file=``, in order.

    ``file_arg`` names the file argument in errors (the stock spider reads symbols so).
    """
    found: list[str] = []
    if urls:
        found.extend(u for u in urls.split(",") if u.strip())
    if urls_file:
        path = Path(urls_file).expanduser()
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise UsageError(
                f"-a {file_arg}={urls_file}: cannot read it ({exc.strerror})"
            ) from None
        except UnicodeDecodeError:
            raise UsageError(f"-a {file_arg}={urls_file}: not a UTF-8 text file") from None
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                found.append(line)
    return found


class ArticleSpider(ArticleSpiderBase):
    """Fetch and extract the given article URLs."""

    name = "article"

    def __init__(
        self,
        urls: str | None = None,
        urls_file: str | None = None,
        channel: str | None = None,
        refresh: str | bool | None = None,
        **kwargs: Any,
    ) -> None:
        check_no_unknown_args(self.name, kwargs, ("urls", "urls_file", "channel", "refresh"))
        super().__init__(**kwargs)
        if not urls and not urls_file and type(self).start is not _OWN_START:
            # `scrapy parse --spider=article URL` brings its own request (it replaces start).
            self.urls: list[str] = []
        elif not urls and not urls_file:
            raise UsageError("give article URLs with -a urls=URL[,URL…] or -a urls_file=PATH")
        else:
            self.urls = read_urls(urls, urls_file)
            if not self.urls:
                raise UsageError("-a urls / -a urls_file named no URL")
        try:
            (self.channel,) = get_channels(channel or DEFAULT_CHANNEL)
        except UnknownChannel as exc:
            raise UsageError(str(exc)) from None
        except ValueError:
            raise UsageError(f"-a channel={channel!r}: give one channel name") from None
        self.refresh = parse_bool("refresh", refresh)

    @classmethod
    def handles_request(cls, request: Any) -> bool:
        """No URL on its own: the spider needs its URLs as arguments (so ``scrapy shell URL``
        does not pick it, and uses Scrapy's default spider with sinacrawl's settings)."""
        return False

    async def parse(self, response: Response, **kwargs: Any) -> AsyncIterator[Any]:
        """The article callback under Scrapy's default name, for ``scrapy parse``."""
        response.meta.setdefault("categories", list(self.channel.categories))
        async for item in self.parse_article(response):
            yield item

    async def start(self) -> AsyncIterator[Any]:
        seen: set[str] = set()
        for raw in self.urls:
            url, reason = check_url(raw)
            if url is None:
                self.logger.warning("Skipping %r: not a Sina article URL (%s)", raw, reason)
                self.crawler.stats.inc_value(REJECTED + str(reason))
                continue
            doc_id = doc_id_from_url(url)
            if doc_id in seen:
                self.logger.info("Skipping %s: given twice", raw)
                continue
            seen.add(doc_id)
            entry = ListingEntry(url=url, doc_id=doc_id)
            yield self.article_request(entry, self.channel.name, self.channel.categories)


# The spider's own start, to tell when a command (`scrapy parse`) has replaced it.
_OWN_START = ArticleSpider.start
