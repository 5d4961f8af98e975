"""The mock site's per-stock news pages (``vCB_AllNewsStock``), served as GB2312 bytes.

Config keys (see ``catalog.DEFAULT_CONFIG`` for the rest)::

    "stock_news": [{"symbol": "sh600519", "name": "贵州茅台", "refs": ["china:0", "jjxw:1"],
                    "per_page": 3}],
    "mobile_forms": {"cj:0": "cj", "k:0": "k"}

``stock_news`` lists, per symbol, the articles its news page shows (newest first, ``per_page``
rows a page, a ``下一页`` link while more follow, ``name`` in the page title when given).
``mobile_forms`` serves an article at its desktop address (``t.cj.sina.com.cn/articles/view/…``
or ``k.sina.com.cn/article_….html``) while the stock pages link its mobile form
(``cj.sina.cn``/``k.sina.cn``), as Sina's do: a crawler that fetched the mobile form as
listed would get a 404 here.
"""

from __future__ import annotations

import html
from typing import Any

from sinacrawl.testing.catalog import Catalog, MockArticle

HOST = "vip.stock.finance.sina.com.cn"
FIRST_PAGE = f"/{HOST}/corp/go.php/vCB_AllNewsStock/symbol/"
LATER_PAGES = f"/{HOST}/corp/view/vCB_AllNewsStock.php"
# (desktop host and path form, mobile one), by the name configs use
FORMS = {
    "cj": (
        "https://t.cj.sina.com.cn/articles/view/{user}/{id}",
        "https://cj.sina.cn/articles/view/{user}/{id}",
    ),
    "k": (
        "https://k.sina.com.cn/article_{user}_{id}.html",
        "https://k.sina.cn/article_{user}_{id}.html",
    ),
}


def apply_mobile_forms(cfg: dict[str, Any], by_ref: dict[str, MockArticle]) -> None:
    """Move the articles ``mobile_forms`` names to their desktop address (doc_id kept)."""
    for ref, form in cfg.get("mobile_forms", {}).items():
        if form not in FORMS:
            raise ValueError(f"mobile_forms {ref!r}: form must be one of {sorted(FORMS)}")
        article = by_ref.get(ref)
        if article is None:
            raise ValueError(f"config names {ref!r}, which the mock site does not have")
        article.url = FORMS[form][0].format(user=5000000000 + article.index, id=article.doc_id)


def listed_url(article: MockArticle, cfg: dict[str, Any]) -> str:
    """The address a stock page links for an article: the mobile form when it has one."""
    form = cfg.get("mobile_forms", {}).get(article.ref)
    if form is None:
        return article.url
    return FORMS[form][1].format(user=5000000000 + article.index, id=article.doc_id)


def route(catalog: Catalog, path: str, query: dict[str, list[str]]) -> tuple[int, bytes] | None:
    """(status, GB2312 body) for a per-stock news path; None for any other path."""
    if path.startswith(FIRST_PAGE) and path.endswith(".phtml"):
        symbol, page = path[len(FIRST_PAGE) : -len(".phtml")], 1
    elif path == LATER_PAGES:
        symbol = query.get("symbol", [""])[0]
        try:
            page = int(query.get("Page", ["1"])[0])
        except ValueError:
            page = 1
    else:
        return None
    spec = next((s for s in catalog.config.get("stock_news", ()) if s["symbol"] == symbol), None)
    if spec is None:
        return 404, b"<html><body>404 Not Found</body></html>"
    return 200, stock_page(catalog, spec, max(page, 1))


def stock_page(catalog: Catalog, spec: dict[str, Any], page: int) -> bytes:
    """One page of a stock's news listing, shaped like the real one, in GB2312."""
    articles = sorted(
        (catalog.by_ref[r] for r in spec["refs"]), key=lambda a: a.ctime, reverse=True
    )
    per_page = int(spec.get("per_page", 40))
    shown = articles[(page - 1) * per_page : page * per_page]
    symbol = spec["symbol"]
    rows = "".join(
        f"&nbsp;&nbsp;&nbsp;&nbsp;{a.ctime:%Y-%m-%d}&nbsp;{a.ctime:%H:%M}&nbsp;&nbsp;"
        f"<a target='_blank' href='{html.escape(listed_url(a, catalog.config))}'>"
        f"{html.escape(a.title)}</a> <br>"
        for a in shown
    )
    more = ""
    if page * per_page < len(articles):
        more = (
            f"<a href='http://{HOST}/corp/view/vCB_AllNewsStock.php?symbol={symbol}"
            f"&Page={page + 1}'>下一页</a>"
        )
    name = spec.get("name")
    title = f"{name}({symbol[2:]})个股资讯" if name else f"{symbol}个股资讯"
    text = (
        "<!doctype html>\r\n<html>\r\n<head>\r\n"
        f"<title>{html.escape(title)}_新浪财经_新浪网</title>\r\n"
        '<meta http-equiv="Content-Type" content="text/html; charset=gb2312" />\r\n'
        '</head>\r\n<body>\r\n<div class="datelist"><ul>\r\n'
        f"{rows}\r\n</ul>\r\n</div>\r\n"
        f"<div>第{page}页&nbsp;&nbsp;&nbsp;&nbsp;{more}</div>\r\n</body>\r\n</html>\r\n"
    )
    return text.encode("gb2312", errors="xmlcharrefreplace")
