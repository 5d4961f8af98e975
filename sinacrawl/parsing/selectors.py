"""Where each field lives on Sina's page templates: selectors and patterns as data.

Every tuple is a fallback order, tried top to bottom; the first non-empty answer wins.
Comments name the template a selector is for, so a newcomer can match them to the pages in
``../shared/fixtures/sina-pages/``. XPath is evaluated by libxml2 in C; expressions that
scan the whole document are kept few and specific, and body-level work is done inside the
article container only.
"""

from __future__ import annotations

import re

from lxml import etree


def _cls(name: str) -> str:
    """XPath test for one class token (not a substring of another class)."""
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


def xpath(expr: str) -> etree.XPath:
    """A compiled XPath query (compiled once, at import)."""
    return etree.XPath(expr)


# --- title: the visible headline -----------------------------------------------------------
# Headlines are <h1> since 2008: one cheap query for every h1, then these (class/id) tests.
HEADLINES = xpath("descendant::h1")
HEADLINE_MARKS: tuple[tuple[str, str], ...] = (
    ("class", "main-title"),  # 2017+ finance/news, k.sina, t.cj
    ("id", "artibodyTitle"),  # 2008-17
    ("class", "art_tit_h1"),  # mobile finance.sina.cn
)
TITLE_FALLBACKS: tuple[tuple[str, etree.XPath], ...] = (
    ("2005 table th.f24", xpath(f"descendant::th[{_cls('f24')}]")),
    ("2004 table td.title14 b", xpath(f"descendant::td[{_cls('title14')}][@align='center']//b")),
)
# The <title> element ends in site names; cut at the first of these separators.
TITLE_SUFFIX = re.compile(r"\s*(?:[_|｜]|--).*$")

# --- the byline box: date, source and author sit together in one element -------------------
# id() lookups are free (libxml2 indexes ids while parsing); class scans are narrowed first.
BYLINE_BOXES: tuple[tuple[str, etree.XPath], ...] = (
    ("2017+ #top_bar .date-source", xpath(f"id('top_bar')/descendant::div[{_cls('date-source')}]")),
    ("2008-19 #pub_date's box", xpath("id('pub_date')/parent::*")),
    ("2014-17 #navtimeSource", xpath("id('navtimeSource')")),
    ("2017+ .date-source", xpath(f"descendant::div[{_cls('date-source')}]")),
    ("2014-17 span.time-source", xpath(f"descendant::span[{_cls('time-source')}]")),
    ("mobile figcaption.weibo_detail", xpath(f"descendant::figcaption[{_cls('weibo_detail')}]")),
    (
        "2005 byline under th.f24",
        xpath(f"descendant::th[{_cls('f24')}]/ancestor::table[1]/descendant::td[@align='center']"),
    ),
)
# Inside the box: where the source (来源) is, in order.
BOX_SOURCE: tuple[tuple[str, etree.XPath], ...] = (
    ("a/span.source", xpath(f"descendant::*[{_cls('source')}]")),
    ("#media_name", xpath("descendant::*[@id='media_name']")),
    ("media_name span", xpath("descendant::*[@data-sudaclick='media_name']")),
    ("mobile h2.weibo_user", xpath(f"descendant::h2[{_cls('weibo_user')}]")),
    ("2005 font", xpath("descendant::font")),
)
BOX_AUTHOR = xpath(f"descendant::*[{_cls('author')}]")
META_DATE_KEYS: tuple[str, ...] = (
    "article:published_time",
    "og:article:published_time",
    "bytedance:published_time",
)
# Sina's CMS stamps each page: <!--[112,3,114366] published at 2004-10-13 14:01:37 ...-->
CMS_COMMENT_DATE = re.compile(r"published at (\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})")
CMS_COMMENT_SCAN = 2048  # it sits at the top of the page
META_SOURCE_KEYS: tuple[str, ...] = ("article:author", "mediaid")
# A bare byline like "2016年05月25日10:10 新浪财经": the source follows the time.
BYLINE_SOURCE_AFTER_DATE = re.compile(r"\d{1,2}[:：]\d{2}(?:[:：]\d{2})?\s+(\S[^\n]{0,30}?)\s*$")

# --- author: a named writer ------------------------------------------------------------------
# Patterns on the first and last paragraphs of the body, the lines right before and after it
# (and the 2004 byline cell). Group 1 is a credit: a name, maybe with an outlet, a title or a
# pen-name note around it, which article.credit_name reduces to the name.
AUTHOR_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("作者：X", re.compile(r"作者\s*[:：｜|]\s*([^，,；;。！!？?\n]{2,30})")),
    ("（记者 X）", re.compile(r"[（(][^（()）]{0,12}?记者\s*([\u4e00-\u9fff·]{2,4})\s*[）)]")),
    (
        "【作者：X】 / [文/X]",
        re.compile(r"[【\[〔](?:作者|文|撰文|撰稿)\s*[:：｜|/／]?\s*([^】\]〕]{2,30})[】\]〕]"),
    ),
    ("文/X line", re.compile(r"^\s*(?:文|撰文|撰稿)\s*[/／|｜:：]\s*(.{2,30}?)\s*$")),
    ("（outlet X）", re.compile(r"[（(][\u4e00-\u9fff]{2,12}\s+([\u4e00-\u9fff·]{2,4})[）)]\s*$")),
)
# Titles around a credited name: "经济观察报 记者 陈白", "财经评论员陈白", "陈白 首席经济学家".
CREDIT_TITLES = re.compile(
    r"(?:特约|实习|见习|首席|资深|高级)?(?:记者|评论员|分析师|经济学家|研究员|撰稿人|"
    r"主笔|专栏作家|作家|编辑|通讯员|实习生|教授|主编)"
)
# A credited name: Chinese (with · for transliterations) or Latin letters.
CREDIT_NAME = re.compile(r"[\u4e00-\u9fff·]{2,8}|[A-Za-z][A-Za-z .'-]{1,29}")
# Where a credit stops being the name: a clause, or a note such as （笔名）.
CREDIT_CUT = re.compile(r"[，,；;（(、]")
# Text after the body shorter than this may be a credit line (longer is another paragraph).
CREDIT_LINE_MAX_CHARS = 60
# A 2004 book page's byline cell (td.l15 centred) carries 作者：X.
AUTHOR_CELLS = xpath("descendant::td[contains(@class, 'l15')]")

# --- editor (责任编辑): inside the body container, or right after it --------------------------
_EDITOR_TEST = "contains(@class, 'article-editor') or contains(@class, 'show_author')"
EDITOR: tuple[tuple[str, etree.XPath], ...] = (
    ("p.article-editor/p.show_author in the body", xpath(f"descendant::p[{_EDITOR_TEST}]")),
    ("p.article-editor after the body", xpath(f"following-sibling::p[{_EDITOR_TEST}]")),
)
EDITOR_LINE = re.compile(r"责任编辑\s*[:：]\s*(.+)")
# Work codes after the name: "霍琦 SF142", "乔雷华 SN098"
EDITOR_WORK_CODE = re.compile(r"\s*[A-Za-z]{1,4}\d{2,}\s*$")

# --- keywords / tags ---------------------------------------------------------------------------
# The tags meta holds exactly the tag links (文章关键词/关键字) when the page has any.
META_TAG_KEYS: tuple[str, ...] = ("tags",)
KEYWORD_LINKS_BY_ID: tuple[tuple[str, etree.XPath], ...] = (
    ("2017+ div#keywords a", xpath("id('keywords')/descendant::a")),
    (
        "2017+ #article-bottom .keywords a",
        xpath("id('article-bottom')/descendant::div[contains(@class, 'keywords')]//a"),
    ),
)
# Searched from the body container's parent: the tag block sits right after the body.
KEYWORD_LINKS_NEAR_BODY: tuple[tuple[str, etree.XPath], ...] = (
    (
        "2014-17 .article-keywords a",
        xpath("../descendant::div[contains(@class, 'article-keywords')]//a"),
    ),
    ("2017+ div.keywords a", xpath("../descendant::div[contains(@class, 'keywords')]//a")),
    ("tech p.art_keywords a", xpath("../descendant::p[contains(@class, 'art_keywords')]//a")),
)
META_KEYWORD_KEYS: tuple[str, ...] = ("keywords",)
# Site-wide keyword metas that say nothing about the article.
GENERIC_KEYWORDS: frozenset[str] = frozenset(
    {"sina.cn", "财经头条", "财经新闻", "投资价值", "新浪财经", "新浪网", "新浪新闻", "新浪"}
)
# 2005 pages name their keyword in "点击此处查询全部<font>房产投资</font>新闻"
OLD_KEYWORD_LINK = xpath("descendant::a[starts-with(@href, 'http://chanews.sina.com.cn/s.cgi?k=')]")

# --- section: the breadcrumb, found next to the headline when there is one ---------------------
_CRUMB_TEST = f"{_cls('channel-path')} or {_cls('bread')}"
BREADCRUMB_NEAR_HEADLINE: tuple[tuple[str, etree.XPath], ...] = (
    (
        "2017+ .channel-path before h1",
        xpath(f"preceding-sibling::*/descendant-or-self::div[{_CRUMB_TEST}]"),
    ),
    (
        "2014-17 .bread before the header",
        xpath(f"../preceding-sibling::*/descendant-or-self::div[{_CRUMB_TEST}]"),
    ),
)
BREADCRUMB: tuple[tuple[str, etree.XPath], ...] = (
    ("2008-13 p#lo_links", xpath("id('lo_links')")),
    ("any .channel-path/.bread", xpath(f"descendant::div[{_CRUMB_TEST}]")),
    # 2004-05 table pages: the "新浪首页 > … > 正文" cell
    (
        "2004-05 table crumb",
        xpath("descendant::a[normalize-space()='新浪首页']/parent::*[contains(., '正文')]"),
    ),
)
BREADCRUMB_SKIP: frozenset[str] = frozenset({"正文", "新浪首页", "首页", "新浪网", ">", "&gt;"})
BREADCRUMB_SPLIT = re.compile(r"\s*[>＞›»]\s*")

# --- body container, per template ---------------------------------------------------------------
BODY: tuple[tuple[str, etree.XPath], ...] = (
    ("#artibody", xpath("id('artibody')")),
    # before div#article: 2004-05 table pages wrap the whole page table in div#article.
    # Their font#zoom may hold nothing (the parser closes <font> before each <p>), so the
    # body is the table cell around it.
    ("2004-05 td > font#zoom", xpath("id('zoom')/parent::td")),
    ("news #article", xpath("id('article')")),
    ("mobile section.art_content", xpath(f"descendant::section[{_cls('art_content')}]")),
    ("mobile article.art_box", xpath(f"descendant::article[{_cls('art_box')}]")),
    ("2008-13 .blkContainerSblkCon", xpath(f"descendant::div[{_cls('blkContainerSblkCon')}]")),
)

# An unknown template's body: the element whose own <p> children hold at least this much text.
MIN_UNKNOWN_BODY_CHARS = 200

# Which template read a page, as counted in the stats (``sinacrawl/templates/<name>``), so a
# watchdog sees a template start failing: the BODY rule that matched, ``generic`` for the
# densest-paragraphs fallback, ``none`` when no body was found at all.
BODY_TEMPLATE_NAMES: dict[str, str] = {
    "#artibody": "artibody",
    "2004-05 td > font#zoom": "table_zoom",
    "news #article": "news_article",
    "mobile section.art_content": "mobile_art_content",
    "mobile article.art_box": "mobile_art_box",
    "2008-13 .blkContainerSblkCon": "blk_container",
}
GENERIC_TEMPLATE = "generic"
NO_BODY_TEMPLATE = "none"

# An unknown template's date: the first element whose class or id speaks of a date or time
# and whose short text holds a full date and time (tried only when nothing else gave one).
GENERIC_DATE_BOXES = xpath(
    "descendant::*[contains(@class, 'date') or contains(@class, 'time') or "
    "contains(@id, 'date') or contains(@id, 'time')][not(self::script)][not(self::style)]"
)
GENERIC_DATE_MAX_CHARS = 80

# --- the page's own URL, when the caller does not know it ---------------------------------------
META_URL_KEYS: tuple[str, ...] = ("og:url", "toutiao")
CANONICAL_LINK = xpath("descendant::link[@rel='canonical']/@href")
# Share links and widgets that carry the article URL: mood counter (2009), weibo share.
URL_ATTRS = xpath("descendant::span[@name='moodcounter']/@url")
SHARE_URL = re.compile(r"[?&]url=(https?%3A%2F%2F[^&\"']+|https?://[^&\"']+)")

# --- stocks -------------------------------------------------------------------------------------
# Links to quote pages inside the body, as Sina quote codes.
STOCK_LINK_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"/realstock/company/((?:sh|sz|bj)\d{6})/", re.I), "{}"),
    (re.compile(r"finance\.sina\.com\.cn/stock/quotes/((?:sh|sz|bj)\d{6})\b", re.I), "{}"),
    (re.compile(r"/usstock/quotes/([A-Za-z.]+)\.html", re.I), "gb_{}"),
    (re.compile(r"/hkstock/quotes/(\d{5})\.html", re.I), "hk{}"),
)
STOCK_SPAN_ID = re.compile(r"^(?:stock_((?:sh|sz|bj)\d{6})|usstock_([A-Za-z.]+)|hkstock_(\d{5}))$")
# <!-- news_keyword_pub,stock,sh603883 --> · <!-- news_keyword_pub,usstock,AAPL&WB -->
STOCK_MARKER = re.compile(r"news_keyword_pub,(\w+),([^\s>-][^>]*?)\s*$")
