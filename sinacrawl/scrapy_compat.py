"""The only place sinacrawl touches Scrapy internals; ``tests/test_scrapy_compat.py`` checks
each one against the installed Scrapy and fails loudly when a release changes it.

Everything else uses public API (subclasses and their hook points, ``get_retry_request``,
``create_crawler``, signals, settings). Each name below has no public equivalent; say why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scrapy.http import Response


def set_url(response: Response, url: str) -> Response:
    """``response`` under ``url``, in place.

    ``Response._set_url``: the public ``response.replace(url=...)`` builds a new response and
    re-normalises every header, a noticeable share of the crawl thread's time per page when
    every page comes from the upstream mirror. Without it (a future Scrapy), replace().
    """
    setter = getattr(response, "_set_url", None)
    if setter is None:
        return response.replace(url=url)
    setter(url)
    return response
