"""Guards against hostile responses that are not about URLs (see :mod:`sinacrawl.urlpolicy`).

- :func:`note_listing_problems`: what a listing page held that the crawler refused or capped
  (refused URLs, entries past ``LISTING_MAX_ENTRIES``, malformed parts) is counted, and
  logged once per kind and run.
- :class:`ArticlePageGuardMiddleware`: an article request answers with that article or
  fails with a reason: a page that is cut short (a ``Content-Length`` shorter than the page)
  is ``data_loss``; a redirect that ends on another document is ``other_page``. Neither is
  ever stored under the requested doc_id.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from scrapy.exceptions import IgnoreRequest, ResponseDataLossError
from scrapy.http import HtmlResponse

from sinacrawl.parsing.listing import DEFAULT_MAX_ENTRIES
from sinacrawl.parsing.urls import doc_id_from_url
from sinacrawl.urlpolicy import count_refused

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.settings import BaseSettings

    from sinacrawl.parsing.listing import ListingPage

logger = logging.getLogger(__name__)

LISTINGS = "sinacrawl/listings/"


def listing_limit(settings: BaseSettings) -> int:
    """``LISTING_MAX_ENTRIES``: how many entries one listing page may contribute."""
    return settings.getint("LISTING_MAX_ENTRIES", DEFAULT_MAX_ENTRIES)


def _first_time(crawler: Crawler, key: str, count: int) -> bool:
    """Add ``count`` to stat ``key``; True when it was the first of the run."""
    assert crawler.stats is not None
    first = not crawler.stats.get_value(key)
    crawler.stats.inc_value(key, count)
    return first


def note_listing_problems(crawler: Crawler, page: ListingPage, url: str) -> None:
    """Count (and log once per kind) what a listing page held that was not used."""
    for reason, refused in page.refused:
        count_refused(crawler, reason, refused)
    if page.excess and _first_time(crawler, LISTINGS + "entries_over_limit", page.excess):
        logger.warning(
            "Listing %s holds %d entries more than LISTING_MAX_ENTRIES=%d allows; they are "
            "ignored (counted as %sentries_over_limit, logged once)",
            url,
            page.excess,
            listing_limit(crawler.settings),
            LISTINGS,
        )
    for kind in page.malformed:
        if _first_time(crawler, f"{LISTINGS}malformed/{kind}", 1):
            logger.warning(
                "Listing %s is partly malformed (%s); its readable entries are used "
                "(counted as %smalformed/%s, logged once)",
                url,
                kind,
                LISTINGS,
                kind,
            )


# A complete HTML page ends its document; Sina's always do, however broken the rest is.
_DOCUMENT_END = re.compile(rb"</\s*(?:html|body)\s*>", re.IGNORECASE)


class OtherPage(IgnoreRequest):
    """A redirect ended on a page of another document than the one requested."""


class ArticlePageGuardMiddleware:
    """Article responses that are not the whole requested article fail with a reason.

    Article requests are the ones whose ``meta`` holds ``listing`` and ``doc_id``.
    """

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArticlePageGuardMiddleware:
        return cls()

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Response:
        doc_id = request.meta.get("doc_id")
        if "listing" not in request.meta or not doc_id or response.status != 200:
            return response
        if request.meta.get("redirect_urls"):
            landed = doc_id_from_url(response.url)
            if landed != doc_id:
                raise OtherPage(
                    f"redirected from the page of {doc_id} to {response.url[:300]}, "
                    f"which is {'document ' + landed if landed else 'no article'}"
                )
        if isinstance(response, HtmlResponse) and not _DOCUMENT_END.search(response.body):
            raise ResponseDataLossError(
                f"{response.url}: the page stops before its end ({len(response.body)} bytes "
                "received; a Content-Length shorter than the page?)"
            )
        return response
