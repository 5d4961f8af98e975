"""The ``stock`` spider: everything Sina lists for a set of stock symbols (per-stock news).

::

    scrapy crawl stock -a symbols=sh600519,sz000001,bj430047
    scrapy crawl stock -a symbols_file=watchlist.txt   # one symbol a line, # comments
    scrapy crawl stock -a symbols=sh600519 -a since=2026-09-01 -a max_pages=5 -a refresh=1

Each symbol's listing (``vCB_AllNewsStock``, parsed by :mod:`sinacrawl.parsing.stocklist`)
is read newest first through its own next links, like a ``finance`` channel: it stops at
``since``, at a page whose articles are all stored, or at ``max_pages``. The articles are
ordinary article items filed under ``金融 / 新浪财经 / 个股 / <stock name or symbol>``, their
``stocks`` including the symbol. An article is stored once, under the first symbol (in the
order given) that lists it; every symbol that lists it is recorded by
:mod:`sinacrawl.symbols`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import scrapy
from scrapy.exceptions import UsageError

from sinacrawl.channels import ROOT_CATEGORIES, Channel, HtmlSource, Source
from sinacrawl.parsing.listing import ListingEntry, ListingPage
from sinacrawl.parsing.mobile import desktop_url
from sinacrawl.parsing.stocklist import (
    SYMBOL_FORMS,
    BadSymbol,
    parse_stock_news,
    parse_symbol,
    stock_news_url,
)
from sinacrawl.spiderargs import check_no_unknown_args
from sinacrawl.spiders.article import read_urls
from sinacrawl.spiders.finance import LISTINGS, FinanceSpider, Stream
from sinacrawl.symbols import STATS, SymbolLinks

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response

STOCK_CATEGORY = "个股"
NEXT_REFUSED = LISTINGS + "next_refused"


def read_symbols(symbols: str | None, symbols_file: str | None) -> list[str]:
    """The symbols of ``-a symbols=`` and ``-a symbols_file=``, in order, each once.

    Every bad one is named in one usage error that also gives the valid forms.

    >>> read_symbols("sh600519, SZ000001,sh600519", None)
    ['sh600519', 'sz000001']
    """
    if not symbols and not symbols_file:
        raise UsageError(
            "give stock symbols with -a symbols=sh600519[,sz000001…] or -a symbols_file=PATH"
        )
    raw = read_urls(symbols, symbols_file, file_arg="symbols_file")
    # "sh600519  # 贵州茅台": a comment may follow the symbol on its line
    texts = [t for t in (r.split("#", 1)[0].strip() for r in raw) if t]
    found: dict[str, None] = {}
    bad: list[str] = []
    for text in texts:
        try:
            found.setdefault(parse_symbol(text), None)
        except BadSymbol:
            bad.append(text)
    if bad:
        raise UsageError(
            f"bad stock symbol{'s' if len(bad) > 1 else ''} {', '.join(map(repr, bad))}: "
            f"expected {SYMBOL_FORMS}"
        )
    if not found:
        raise UsageError("-a symbols / -a symbols_file named no symbol")
    return list(found)


def stock_channel(symbol: str, name: str | None = None) -> Channel:
    """The per-stock listing of ``symbol`` as a channel named after the symbol."""
    return Channel(
        symbol,
        name or symbol,
        (HtmlSource(stock_news_url(symbol)),),
        (*ROOT_CATEGORIES, STOCK_CATEGORY, name or symbol),
    )


class StockSpider(FinanceSpider):
    """Crawl the per-stock news listings of the given symbols and every new article on them."""

    name = "stock"

    def __init__(
        self,
        symbols: str | None = None,
        symbols_file: str | None = None,
        since: str | None = None,
        until: str | None = None,
        max_pages: str | int | None = None,
        refresh: str | bool | None = None,
        **kwargs: Any,
    ) -> None:
        check_no_unknown_args(
            self.name,
            kwargs,
            ("symbols", "symbols_file", "since", "until", "max_pages", "refresh"),
        )
        wanted = read_symbols(symbols, symbols_file)
        super().__init__(since=since, until=until, max_pages=max_pages, refresh=refresh, **kwargs)
        self.channels = [stock_channel(s) for s in wanted]
        self.streams = [Stream(i, c, c.sources[0]) for i, c in enumerate(self.channels)]
        self.tally = {c.name: Counter() for c in self.channels}
        self.stock_names: dict[str, str] = {}
        self.links: SymbolLinks | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> StockSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.links = SymbolLinks.from_crawler(crawler)  # type: ignore[attr-defined]
        return spider  # type: ignore[return-value]

    def _parse_page(self, source: Source, response: Response, page_no: int) -> ListingPage:
        symbol = response.meta["channel"]
        content_type = response.headers.get(b"Content-Type")
        page = parse_stock_news(
            response.body,
            response.url,
            content_type=content_type.decode("latin-1") if content_type else None,
        )
        if page.stock_name and page.stock_code == symbol[2:]:
            self.stock_names.setdefault(symbol, page.stock_name)
        if page.refused_next:
            self.crawler.stats.inc_value(NEXT_REFUSED)
            self.logger.warning(
                "Stock %s: not following the next link %r of %s: not a Sina address",
                symbol,
                page.refused_next,
                response.url,
            )
        return ListingPage(
            entries=page.entries,
            has_more=bool(page.entries) and page.next_url is not None,
            next_url=page.next_url,
            skipped=page.skipped,
        )

    def _request_once(self, entry: ListingEntry, channel: Channel):
        symbol = channel.name
        if self.links is not None and entry.doc_id:
            self.links.add(entry.doc_id, symbol)
        named = stock_channel(symbol, self.stock_names.get(symbol))
        # The desktop form of a mobile link: its template is the golden-tested one.
        entry = replace(entry, url=desktop_url(entry.url))
        request = super()._request_once(entry, replace(channel, categories=named.categories))
        if request is not None:
            request.meta["symbol"] = symbol
        return request

    async def parse_article(self, response: Response) -> AsyncIterator[Any]:
        symbol = response.meta.get("symbol")
        async for item in super().parse_article(response):
            if symbol and isinstance(item, scrapy.Item | dict):
                stocks = list(item.get("stocks") or [])
                if symbol not in stocks:
                    item["stocks"] = [*stocks, symbol]
            yield item

    def closed(self, reason: str) -> None:
        super().closed(reason)
        if self.links is None or not self.links.pairs:
            return
        counts = self.links.save()
        for outcome, count in counts.items():
            if count:
                self.crawler.stats.inc_value(STATS + outcome, count)
        self.logger.info(
            "Stock symbols: %d article/symbol pairs seen, %d new; MongoDB: %d recorded, %d pending",
            len(self.links.pairs),
            counts["new"],
            counts["mongo_recorded"],
            counts["mongo_pending"],
        )
