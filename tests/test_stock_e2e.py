"""End to end: ``scrapy crawl stock`` against the mock site's per-stock news pages (GB2312).

Three symbols list overlapping news, some of it also on the ``finance`` channel's roll, and
rows link finance.sina.com.cn sub-channels (jjxw, stock/aiassist, 7x24) and the mobile
cj.sina.cn / k.sina.cn forms, which the mock serves only at their desktop addresses.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient

from sinacrawl.symbols import FILE, symbols_of
from sinacrawl.testing.process import RunningSite, mocksite_process
from tests.test_crawl_e2e import (
    article_fetches,
    assert_counts_add_up,
    crawl,
    no_tracebacks,
    recent_config,
)

pytestmark = pytest.mark.slow

SYMBOLS = "sh600519,sz000001,bj430047"
STOCK_NEWS = [
    {
        "symbol": "sh600519",
        "name": "贵州茅台",
        "per_page": 3,
        "refs": ["china:0", "china:1", "jjxw:0", "jjxw:1", "ai:0", "flash:0", "cj:0", "k:0"],
    },
    {
        "symbol": "sz000001",
        "name": "平安银行",
        "per_page": 3,
        "refs": ["china:1", "jjxw:1", "jjxw:2", "ai:1", "cj:1", "k:0"],
    },
    # no name: the page title gives none, so the symbol is the category
    {"symbol": "bj430047", "per_page": 4, "refs": ["china:0", "jjxw:0", "jjxw:3", "ai:2", "k:1"]},
]
CHANNELS = [
    {"name": "china", "pageid": 155, "lid": 1686, "count": 6, "path": "china/gncj"},
    {"name": "jjxw", "pageid": 0, "lid": 0, "count": 4, "path": "jjxw"},
    {"name": "ai", "pageid": 0, "lid": 0, "count": 3, "path": "stock/aiassist/lr"},
    {"name": "flash", "pageid": 0, "lid": 0, "count": 1, "path": "7x24"},
    {"name": "cj", "pageid": 0, "lid": 0, "count": 2, "path": "cj"},
    {"name": "k", "pageid": 0, "lid": 0, "count": 2, "path": "k"},
]
MOBILE = {"cj:0": "cj", "cj:1": "cj", "k:0": "k", "k:1": "k"}


def expected_symbols(site: RunningSite) -> dict[str, list[str]]:
    found: dict[str, set[str]] = {}
    for spec in STOCK_NEWS:
        for ref in spec["refs"]:
            found.setdefault(site.catalog.by_ref[ref].doc_id, set()).add(spec["symbol"])
    return {doc_id: sorted(symbols) for doc_id, symbols in found.items()}


@pytest.fixture
def stock_site(tmp_path: Path) -> Iterator[RunningSite]:
    config = recent_config(channels=CHANNELS, stock_news=STOCK_NEWS, mobile_forms=MOBILE)
    with mocksite_process(config, tmp_path / "site") as site:
        yield site


def test_symbols_with_overlapping_news_store_each_article_once_with_every_symbol(
    stock_site: RunningSite, tmp_path: Path, mongo_uri: str
) -> None:
    site = stock_site
    archive = tmp_path / "archive"
    settings = {"MONGO_URI": mongo_uri}
    china = crawl(site, tmp_path / "finance", archive=archive, settings=settings)
    assert china.returncode == 0, china.log[-3000:]
    assert len(china.items) == 6

    def crawl_stocks(workdir: Path):
        return crawl(
            site,
            workdir,
            spider="stock",
            args={"symbols": SYMBOLS, "max_pages": "10"},
            archive=archive,
            settings=settings,
        )

    before = len(site.requests())
    result = crawl_stocks(tmp_path / "stock")
    no_tracebacks(result)
    assert result.returncode == 0, result.log[-3000:]
    # (Scrapy's own deprecation notices aside: not this spider's doing)
    warnings = [x for x in result.log.splitlines() if " WARNING: " in x and "py.warnings" not in x]
    assert warnings == []
    assert_counts_add_up(result)

    expected = expected_symbols(site)
    china_ids = {a.doc_id for a in site.catalog.channels["china"].articles}
    stock_only = set(expected) - china_ids
    # every stock-listed article not stored by the finance run is fetched exactly once
    fetched = article_fetches(site, before)
    assert sorted(fetched.values()) == [1] * len(stock_only)
    assert {site.catalog.by_path[p].doc_id for p in fetched} == stock_only
    # the mobile forms were fetched at their desktop address, never as listed
    paths = [r["path"] for r in site.requests()[before:]]
    assert not any(p.startswith(("/cj.sina.cn/", "/k.sina.cn/")) for p in paths)
    desktop = [p for p in paths if p.startswith(("/t.cj.sina.com.cn/", "/k.sina.com.cn/"))]
    assert len([p for p in desktop if not p.endswith("/robots.txt")]) == 4
    # listings walked to their last page: 3 + 2 + 2 pages
    assert sum("vCB_AllNewsStock" in p for p in paths) == 7

    items = {i["doc_id"]: i for i in result.items}
    assert set(items) == stock_only
    templates = result.stats_with("sinacrawl/templates/")
    assert sum(templates.values()) == len(stock_only), templates
    for doc_id, item in items.items():
        first = next(s for s in SYMBOLS.split(",") if s in expected[doc_id])
        assert first in item["stocks"]
        name = {"sh600519": "贵州茅台", "sz000001": "平安银行"}.get(first, first)
        assert item["categories"] == ["金融", "新浪财经", "个股", name]
        assert item["title"] and item["body_text"] and item["published_at"]

    # one post per article in the archive, whichever run stored it
    posts = Counter(p.stem.split("-", 3)[3] for p in result.posts())
    assert set(posts) == china_ids | stock_only and set(posts.values()) == {1}

    # every symbol recorded: beside the archive index, and in the MongoDB documents
    assert symbols_of(archive / ".sinacrawl" / FILE) == expected
    client = MongoClient(mongo_uri, serverSelectionTimeoutMS=5000)
    try:
        docs = {d["_id"]: d for d in client.get_default_database()["articles"].find()}
    finally:
        client.close()
    assert set(docs) == china_ids | stock_only
    for doc_id, symbols in expected.items():
        assert sorted(docs[doc_id]["symbols"]) == symbols, doc_id
    assert result.stat("sinacrawl/symbols/mongo_recorded") == sum(map(len, expected.values()))

    # a second run requests no article and leaves the records as they are
    before = len(site.requests())
    again = crawl_stocks(tmp_path / "again")
    assert again.returncode == 0, again.log[-3000:]
    assert article_fetches(site, before) == Counter()
    assert again.items == []
    # page 1 of each symbol held nothing but stored articles: no page 2 was read
    listings = [r["path"] for r in site.requests()[before:] if "vCB_AllNewsStock" in r["path"]]
    assert len(listings) == 3, listings
    assert symbols_of(archive / ".sinacrawl" / FILE) == expected


def test_a_symbols_file_with_comments(tmp_path: Path) -> None:
    from sinacrawl.spiders.stock import read_symbols

    path = tmp_path / "watchlist.txt"
    path.write_text("# my list\nsh600519  # 贵州茅台\n\nSZ000001\nsh600519\n", encoding="utf-8")
    assert read_symbols(None, str(path)) == ["sh600519", "sz000001"]
    assert read_symbols("bj430047", str(path)) == ["bj430047", "sh600519", "sz000001"]


def test_an_unreadable_symbols_file_is_a_usage_error(tmp_path: Path):
    from scrapy.exceptions import UsageError

    from sinacrawl.spiders.stock import read_symbols

    with pytest.raises(UsageError, match=r"-a symbols_file=.*cannot read it"):
        read_symbols(None, str(tmp_path / "missing.txt"))
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing yet\n", encoding="utf-8")
    with pytest.raises(UsageError, match="named no symbol"):
        read_symbols(None, str(empty))
    with pytest.raises(UsageError, match=r"-a symbols=sh600519"):
        read_symbols(None, None)
