"""The mock Sina site's bodies: article pages in the current finance template, roll API JSON
(modelled field by field on the real response in ../shared/fixtures/sina-listings/) and the
server-rendered roll listing. Pure functions of the catalog, so they can be cached.
"""

from __future__ import annotations

import functools
import html
import json
import random
import zlib
from datetime import datetime
from typing import Any

from sinacrawl.testing.catalog import EDITORS, OBJECTS, SENTENCE_PARTS, SUBJECTS, MockArticle

# The furniture every real 2026 page carries around the article (navigation, scripts, ads);
# repeated to reach the configured page size, as real pages are mostly furniture.
_NAV_LINKS = (
    ("https://finance.sina.com.cn/", "财经首页"),
    ("https://finance.sina.com.cn/stock/", "股票"),
    ("https://finance.sina.com.cn/china/", "国内"),
    ("https://finance.sina.com.cn/world/", "国际"),
    ("https://finance.sina.com.cn/money/", "理财"),
    ("https://finance.sina.com.cn/tech/", "科技"),
    ("https://finance.sina.com.cn/roll/", "滚动"),
)
_SCRIPT_FILLER = (
    "<script>(function(d,s,id){var s,n=d.getElementsByTagName(s)[0];if(d.getElementById(id))"
    "return;s=d.createElement(s);s.id=id;s.setAttribute('charset','utf-8');"
    "s.src='//d1.sina.com.cn/litong/zhitou/sinaads/release/sinaads.js';"
    "n.parentNode.insertBefore(s,n);})(document,'script','sinaads-script');</script>\n"
)


def article_page(article: MockArticle) -> bytes:
    """The article page in the 2017+ finance template, encoded as the article says."""
    rng = random.Random(f"{article.doc_id}:{article.index}")
    charset = "gb2312" if article.encoding == "gbk" else "utf-8"
    stamp = article.page_time or article.ctime
    paragraphs = _paragraphs(rng, article)
    body = "\n".join(f"<p>\u3000\u3000{html.escape(p)}</p>" for p in paragraphs[:2])
    if article.image:
        body += (
            f'\n<div class="img_wrapper"><img src="{_protocol_relative(article.image)}" '
            f'alt="{html.escape(article.title)}"><span class="img_descr">'
            f"{html.escape(article.title)}</span></div>"
        )
    body += "\n" + "\n".join(f"<p>\u3000\u3000{html.escape(p)}</p>" for p in paragraphs[2:])
    if article.revised:
        body += "\n<p>\u3000\u3000（更新）记者随后获悉，相关部门已就上述内容作出补充说明。</p>"
    date_html = (
        "" if "date" in article.omit else f'<span class="date">{stamp:%Y年%m月%d日 %H:%M}</span>'
    )
    source_html = (
        ""
        if "source" in article.omit
        else f'<a href="https://finance.sina.com.cn/" rel="nofollow" class="source ent-source" '
        f'target="_blank">{html.escape(article.media_name)}</a>'
    )
    published_meta = (
        ""
        if "date" in article.omit
        else f'<meta property="article:published_time" content="{stamp.isoformat()}" />\n'
    )
    keywords = ",".join(article.keywords)
    head = (
        "<!DOCTYPE html>\n<html>\n<head>\n"
        f'<meta charset="{charset}"/>\n'
        f'<meta http-equiv="Content-Type" content="text/html; charset={charset}" />\n'
        f"<title>{html.escape(article.title)}_新浪财经_新浪网</title>\n"
        f'<meta name="keywords" content="{html.escape(keywords)}" />\n'
        f'<meta name="description" content="{html.escape(article.intro)}" />\n'
        f'<meta property="og:type" content="news" />\n'
        f'<meta property="og:title" content="{html.escape(article.title)}" />\n'
        f'<meta property="og:url" content="{article.url}" />\n'
        + (
            f'<meta property="og:image" content="{_protocol_relative(article.image)}" />\n'
            if article.image
            else ""
        )
        + published_meta
        + f'<meta name="mediaid" content="{html.escape(article.media_name)}" />\n'
    )
    top = (
        "</head>\n<body>\n"
        '<div class="path-search"><div class="path">'
        '<a class="channel-logo" href="http://finance.sina.com.cn/"></a>'
        '<div class="channel-path"><a href="http://finance.sina.com.cn/china/">国内</a>'
        '<span class="spliter">></span><span>正文</span></div></div></div>\n'
        f'<h1 class="main-title">{html.escape(article.title)}</h1>\n'
        '<div class="top-bar-wrap" id="top_bar_wrap"><div class="top-bar ani" id="top_bar">'
        '<div class="top-bar-inner clearfix">\n'
        f'<div class="second-title">{html.escape(article.title)}</div>\n'
        f'<div class="date-source">\n    {date_html}\n    {source_html}</div>\n'
        '<div class="page-tools"><span class="tool-icon tool-wb">'
        '<a href="javascript:;" title="分享到微博">微博</a></span></div>\n'
        "</div></div></div>\n"
        '<div class="article-content clearfix" id="article_content">'
        '<div class="article-content-left">\n'
        '<div class="ad top-ad"><ins class="sinaads" data-ad-pdps="PDPS000000060745"></ins>'
        "<script>(sinaads = window.sinaads || []).push({})</script></div>\n"
        '<div class="article" id="artibody">\n'
    )
    tail = (
        "\n"
        '<div class="clearfix appendQr_wrap"><div class="appendQr_normal">'
        '<img src="//n.sinaimg.cn/finance/cece9e13/20240627/655959900_20240627.png" /></div>'
        '<div class="appendQr_normal_txt">海量资讯、精准解读，尽在新浪财经APP</div></div>\n'
        f'<p class="article-editor">责任编辑：{rng.choice(EDITORS)}</p>\n'
        "</div>\n"
        f'<div class="keywords" id="keywords" data-wbkey="{html.escape(keywords)}">'
        "<i>关键词：</i>"
        + "".join(
            f'<a href="http://tags.finance.sina.com.cn/{html.escape(k)}" target="_blank">'
            f"{html.escape(k)}</a>"
            for k in article.keywords
        )
        + "</div>\n</div></div>\n"
    )
    page = head + top + body + tail
    footer = '<div class="footer"><p>Copyright &copy; 1996-2026 SINA Corporation</p></div>\n'
    page += _furniture(rng, article.size_kb * 1024 - len(page.encode("utf-8")) - len(footer))
    page += footer + "</body>\n</html>\n"
    return page.encode("gbk" if article.encoding == "gbk" else "utf-8")


def _protocol_relative(url: str) -> str:
    """Sina writes its image URLs as ``//n.sinaimg.cn/…``; so does the mock."""
    return url.split(":", 1)[1] if url.startswith(("http:", "https:")) else url


def _paragraphs(rng: random.Random, article: MockArticle) -> list[str]:
    count = rng.randint(5, 9)
    out = []
    for _ in range(count):
        sentences = []
        for _ in range(rng.randint(2, 4)):
            sentences.append(
                f"{rng.choice(SENTENCE_PARTS)}，{rng.choice(SUBJECTS)}{rng.choice(OBJECTS)}"
                f"较上月增长{rng.randint(1, 99)}.{rng.randint(0, 9)}%，"
                f"{rng.choice(SUBJECTS)}表示将继续{rng.choice(OBJECTS)}。"
            )
        out.append("".join(sentences))
    return out


def _furniture(rng: random.Random, size: int) -> str:
    """Navigation and script blocks, about ``size`` bytes (nothing when size <= 0).

    Consecutive blocks from a pool made once, starting at a page-specific block: joining
    ready strings keeps a 150 KB page well under a millisecond to make.
    """
    pool, sizes = _furniture_pool()
    parts: list[str] = []
    total = 0
    i = rng.randrange(len(pool))
    while total < size:
        parts.append(pool[i])
        total += sizes[i]
        i = (i + 1) % len(pool)
    return "".join(parts)


@functools.cache
def _furniture_pool() -> tuple[tuple[str, ...], tuple[int, ...]]:
    rng = random.Random("furniture")
    blocks = []
    for _ in range(2000):
        if rng.random() < 0.5:
            blocks.append(_SCRIPT_FILLER)
        else:
            links = "".join(
                f'<li><a href="{u}?r={rng.randrange(10**6)}" target="_blank">{t}</a></li>'
                for u, t in _NAV_LINKS
            )
            blocks.append(f'<div class="side-nav"><ul>{links}</ul></div>\n')
    return tuple(blocks), tuple(len(b.encode("utf-8")) for b in blocks)


def roll_api(
    articles: list[MockArticle],
    *,
    pageid: int,
    lid: int,
    num: int,
    page: int,
    now: datetime,
) -> dict[str, Any]:
    """One page of the roll API, shaped like the real response (string times, comos: ids)."""
    start = (page - 1) * num
    chunk = articles[start : start + num] if page >= 1 else []
    return {
        "result": {
            "status": {"code": 0, "msg": "succ"},
            "timestamp": now.strftime("%a %b %d %H:%M:%S +0800 %Y"),
            "top": [],
            "pdps": [],
            "cre": [],
            "total": len(articles),
            "end": int(chunk[-1].ctime.timestamp()) if chunk else 0,
            "start": int(chunk[0].ctime.timestamp()) if chunk else 0,
            "lid": lid,
            "rtime": int(now.timestamp()),
            "data": [_roll_entry(a, pageid, lid) for a in chunk],
        }
    }


def _roll_entry(article: MockArticle, pageid: int, lid: int) -> dict[str, Any]:
    bare_id = article.doc_id[1:]
    wapurl = f"https://finance.sina.cn/roll/{article.ctime:%Y-%m-%d}/detail-{article.doc_id}.d.html"
    if article.image:
        img: Any = []
        images: Any = [{"u": article.image, "w": "550", "h": "366", "t": ""}]
    else:
        # The real feed puts its WeChat poster here, as a dict, when an article has no picture.
        img = {
            "u": "http://n.sinaimg.cn/finance/c30320b4/20210712/wx_poster_finance1.png",
            "w": 100,
            "h": 100,
            "t": "",
        }
        images = []
    return {
        "icons": "",
        "is_cre_manual": "0",
        "hqChart": json.dumps(
            {
                "stockCharts": "no",
                "stockCode": "",
                "stockMarket": "",
                "mulStockChart": "",
                "isStaticStock": "",
            },
            separators=(",", ":"),
        ),
        "intime": str(int(article.ctime.timestamp()) + 6),
        "channelid": "31",
        "ctime": str(int(article.ctime.timestamp())),
        "mtime": str(int(article.mtime.timestamp())),
        "authoruid": "0",
        "level": "2",
        "vid": "0",
        "ipad_vid": "0",
        "video_time_length": "0",
        "categoryid": "1",
        "mediaid": "0",
        "templateid": "0",
        "productid": "0",
        "ext_0": "0",
        "ext_1": "0",
        "ext_2": "0",
        "ext_3": "0",
        "ext_4": "0",
        "docid": f"comos:{bare_id}",
        "url": article.url,
        "urls": php_json([article.url]),
        "wapurl": wapurl,
        "wapurls": php_json([wapurl, wapurl.replace("https:", "http:")]),
        "wapsummary": "",
        "title": article.title,
        "stitle": "",
        "summary": "",
        "intro": article.intro,
        "author": "",
        "commentid": f"cj:comos-{bare_id}:0",
        "video_id": "0",
        "keywords": ",".join(article.keywords),
        "media_name": article.media_name,
        "columnid": "1850,2018,2032",
        "subjectid": "",
        "img": img,
        "images": images,
        "lids": f"295,747,{lid}",
        "oid": str(zlib.crc32(article.doc_id.encode()) % 10**9),
        "mlids": "",
        "ext": "1",
    }


def php_json(value: Any) -> str:
    """JSON as Sina's PHP writes it: compact, ASCII with ``\\u`` escapes, ``/`` as ``\\/``."""
    return json.dumps(value, separators=(",", ":")).replace("/", "\\/")


def jsonp(callback: str, payload: dict[str, Any]) -> str:
    """The JSONP form Sina's feed.mix serves for ``callback=``."""
    return f"try{{{callback}({php_json(payload)});}}catch(e){{}};"


def roll_html(cid: str, articles: list[MockArticle], *, page: int, per_page: int) -> bytes:
    """A server-rendered roll listing page (``finance.sina.com.cn/roll/c/<cid>.shtml``),
    with the real page's structure: ``ul.list_009#listcontent`` entries and a pagebox."""
    pages = max(1, -(-len(articles) // per_page))
    chunk = articles[(page - 1) * per_page : page * per_page] if page >= 1 else []
    items = "\t".join(
        f'<li><a href="{a.url}" target="_blank">{html.escape(a.title)}</a>'
        f"<span>({a.ctime:%m月%d日 %H:%M})</span></li>"
        for a in chunk
    )
    pagebox = _pagebox(page, pages)
    text = (
        "<!DOCTYPE html>\n<html>\n<head>\n"
        '<meta http-equiv="Content-Type" content="text/html; charset=utf-8" />\n'
        '<meta name="robots" content="noindex,nofollow">\n'
        f"<title>滚动新闻_新浪财经_{cid}</title>\n</head>\n<body>\n"
        '<div id="Main"><div class="listBlk">\n'
        f'<div id="page-wrap-top" class="page-wrap" style="display: none;">{pagebox}</div>\n'
        '<div class="hs01"> </div>\n'
        f'<ul class="list_009" id="listcontent" style="display: none;">\n{items}\n</ul>\n'
        '<div class="hs01"> </div>\n'
        f'<div id="page-wrap-bottom" class="page-wrap" style="display: none;">{pagebox}</div>\n'
        "</div></div>\n</body>\n</html>\n"
    )
    return text.encode("utf-8")


def _pagebox(page: int, pages: int) -> str:
    parts = ['<span class="pagebox">']
    if page > 1:
        parts.append(f'<span class="pagebox_pre"><a href="?page={page - 1}">上一页</a></span>')
    else:
        parts.append('<span class="pagebox_pre_nolink">上一页</span>')
    for n in range(1, pages + 1):
        if n == page:
            parts.append(f'<span class="pagebox_num_nonce">{n}</span>')
        else:
            parts.append(f'<span class="pagebox_num"><a href="?page={n}">{n}</a></span>')
    if page < pages:
        parts.append(f'<span class="pagebox_next"><a href="?page={page + 1}">下一页</a></span>')
    else:
        parts.append('<span class="pagebox_next_nolink">下一页</span>')
    parts.append("</span>")
    return "\n".join(parts)
