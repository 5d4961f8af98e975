"""The only place sinacrawl touches Scrapy internals; ``tests/test_scrapy_compat.py`` checks
each one against the installed Scrapy and fails loudly when a release changes it.

Everything else uses public API (subclasses and their hook points, ``get_retry_request``,
``create_crawler``, signals, settings). Each internal below has no public equivalent; its
docstring says why it is used. At the end: public helpers of newer Scrapy releases, restated
for the older releases the package supports (``scrapy>=2.15`` in pyproject.toml).
"""

from __future__ import annotations

import asyncio
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


# --- public API of newer Scrapy releases, for the older ones of the supported range -------

try:
    from scrapy.utils.asyncio import sleep
except ImportError:  # Scrapy < 2.18: the same, as 2.18 implements it
    from scrapy.utils.asyncio import is_asyncio_available

    async def sleep(seconds: float) -> None:
        """Sleep for ``seconds`` on asyncio or on the Twisted reactor, whichever runs."""
        if is_asyncio_available():
            await asyncio.sleep(seconds)
            return
        from twisted.internet import reactor
        from twisted.internet.task import deferLater

        await deferLater(reactor, seconds)
