"""Mobile article addresses → the desktop form whose template the golden tests cover.

Listings (the per-stock news page above all) link Sina's mobile article pages. Where the
desktop form of the same article is known, the crawler fetches that form instead: its
template is golden-tested (p14/p15 for k.sina.com.cn, p16 for t.cj.sina.com.cn), the mobile
one is not. The document id is the same either way (``doc_id_from_url`` reads both).

The mapping cannot be verified offline: it is what the real pages' own URLs show (the
desktop pages of 2018 carry the same user and article ids the mobile links of 2026 do). Keep
it in this one table; a form not listed here is fetched as it is.
"""

from __future__ import annotations

import re

# (mobile URL pattern, desktop URL template), tried in order.
DESKTOP_FORMS: tuple[tuple[re.Pattern[str], str], ...] = (
    # 财经头条: cj.sina.cn/articles/view/<user>/<id> ↔ t.cj.sina.com.cn/articles/view/<user>/<id>
    (
        re.compile(r"^https?://cj\.sina\.cn/articles/view/(\d+)/([0-9a-z]+)/?$"),
        "https://t.cj.sina.com.cn/articles/view/{0}/{1}",
    ),
    # 新浪看点: k.sina.cn/article_<user>_<id>.html ↔ k.sina.com.cn/article_<user>_<id>.html
    (
        re.compile(r"^https?://k\.sina\.cn/article_(\d+)_([0-9a-z]+)\.html?$"),
        "https://k.sina.com.cn/article_{0}_{1}.html",
    ),
)


def desktop_url(url: str) -> str:
    """The desktop form of a mobile article URL when the table knows it, else ``url``.

    >>> desktop_url("https://cj.sina.cn/articles/view/1668899380/6379623400101vg5u")
    'https://t.cj.sina.com.cn/articles/view/1668899380/6379623400101vg5u'
    >>> desktop_url("https://k.sina.cn/article_5953466483_162dab07301901ws2q.html")
    'https://k.sina.com.cn/article_5953466483_162dab07301901ws2q.html'
    >>> desktop_url("https://finance.sina.com.cn/jjxw/2026-09-04/doc-iniqrazh6449957.shtml")
    'https://finance.sina.com.cn/jjxw/2026-09-04/doc-iniqrazh6449957.shtml'
    """
    for pattern, template in DESKTOP_FORMS:
        m = pattern.match(url.strip())
        if m:
            return template.format(*m.groups())
    return url
