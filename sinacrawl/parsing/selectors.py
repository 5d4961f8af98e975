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


def X(expr: str) -> etree.XPath:
    return etree.XPath(expr)


# --- title: the visible headline -----------------------------------------------------------
TITLE: tuple[tuple[str, etree.XPath], ...] = (
    ("2017+ h1.main-title", X(f"//h1[{_cls('main-title')}]")),
    ("2008-17 h1#artibodyTitle", X("//h1[@id='artibodyTitle']")),
    ("mobile h1.art_tit_h1", X(f"//h1[{_cls('art_tit_h1')}]")),
    ("2005 table th.f24", X(f"//th[{_cls('f24')}]")),
    ("2004 table td.title14 b", X(f"//td[{_cls('title14')}][@align='center']//b")),
)
# The <title> element ends in site names; cut at the first of these separators.
TITLE_SUFFIX = re.compile(r"\s*(?:[_|｜]|--).*$")

# --- published_at: the byline first (its minute is the one readers see) ---------------------
BYLINE_DATE: tuple[tuple[str, etree.XPath], ...] = (
    ("2017+ .date-source .date", X(f"//*[{_cls('date-source')}]//*[{_cls('date')}]")),
    ("2008-19 #pub_date", X("//*[@id='pub_date']")),
    ("2014-17 .time-source", X(f"//*[{_cls('time-source')}]")),
    ("mobile time.weibo_time", X(f"//time[{_cls('weibo_time')}]")),
    ("mobile .art_time", X(f"//*[{_cls('art_time')}]")),
    # 2005 table pages: the centred byline cell under the headline
    ("2005 byline td", X(f"//th[{_cls('f24')}]/ancestor::table[1]//td[@align='center']")),
)
META_DATE_KEYS: tuple[str, ...] = (
    "article:published_time",
    "og:article:published_time",
    "bytedance:published_time",
)
# Sina's CMS stamps each page: <!--[112,3,114366] published at 2004-10-13 14:01:37 ...-->
CMS_COMMENT_DATE = re.compile(r"published at (\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})")
CMS_COMMENT_SCAN = 2048  # it sits at the top of the page

# --- source (来源): the page's own source slot -------------------------------------------------
SOURCE: tuple[tuple[str, etree.XPath], ...] = (
    ("2017+ .date-source .source", X(f"//*[{_cls('date-source')}]//*[{_cls('source')}]")),
    ("2008-19 #media_name", X("//*[@id='media_name']")),
    ("2014-17 media_name span", X("//*[@data-sudaclick='media_name']")),
    ("mobile h2.weibo_user", X(f"//h2[{_cls('weibo_user')}]")),
    ("2005 byline font", X(f"//th[{_cls('f24')}]/ancestor::table[1]//td[@align='center']/font")),
)
META_SOURCE_KEYS: tuple[str, ...] = ("article:author", "mediaid")
# A bare byline like "2016年05月25日10:10 新浪财经": the source follows the date.
BYLINE_SOURCE_AFTER_DATE = re.compile(r"\d{1,2}[:：]\d{2}(?:[:：]\d{2})?\s+(\S[^\n]{0,30}?)\s*$")

# --- author: a named writer --------------------------------------------------------------------
AUTHOR_SLOT: tuple[tuple[str, etree.XPath], ...] = (
    ("2017+ .date-source .author", X(f"//*[{_cls('date-source')}]//*[{_cls('author')}]")),
)
# Patterns on the first and last paragraphs of the body (and the 2004 byline cell).
AUTHOR_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("作者：X", re.compile(r"作者[:：]\s*([\u4e00-\u9fff·]{2,8})")),
    ("（记者 X）", re.compile(r"[（(][^（()）]{0,12}?记者\s*([\u4e00-\u9fff·]{2,4})\s*[）)]")),
    ("文/X", re.compile(r"^\s*文\s*[/／|]\s*([\u4e00-\u9fff·]{2,8})\s*$")),
    ("（outlet X）", re.compile(r"[（(][\u4e00-\u9fff]{2,12}\s+([\u4e00-\u9fff·]{2,4})[）)]\s*$")),
)
# A 2004 book page's byline cell (td.l15 centred) carries 作者：X.
AUTHOR_CELLS = X(f"//td[{_cls('l15')}]")

# --- editor (责任编辑) ----------------------------------------------------------------------------
EDITOR: tuple[tuple[str, etree.XPath], ...] = (
    ("p.article-editor", X(f"//*[{_cls('article-editor')}]")),
    ("p.show_author", X(f"//*[{_cls('show_author')}]")),
)
EDITOR_LINE = re.compile(r"责任编辑\s*[:：]\s*(.+)")
# Work codes after the name: "霍琦 SF142", "乔雷华 SN098"
EDITOR_WORK_CODE = re.compile(r"\s*[A-Za-z]{1,4}\d{2,}\s*$")

# --- keywords / tags -----------------------------------------------------------------------------
KEYWORD_LINKS: tuple[tuple[str, etree.XPath], ...] = (
    ("2017+ .keywords a", X(f"//*[{_cls('keywords')}]//a")),
    ("2014-17 .article-keywords a", X(f"//*[{_cls('article-keywords')}]//a")),
    ("tech p.art_keywords a", X(f"//*[{_cls('art_keywords')}]//a")),
)
META_KEYWORD_KEYS: tuple[str, ...] = ("tags", "keywords")
# Site-wide keyword metas that say nothing about the article.
GENERIC_KEYWORDS: frozenset[str] = frozenset(
    {"sina.cn", "财经头条", "财经新闻", "投资价值", "新浪财经", "新浪网", "新浪新闻", "新浪"}
)
# 2005 pages name their keyword in "点击此处查询全部<font>房产投资</font>新闻"
OLD_KEYWORD_LINK = X("//a[starts-with(@href, 'http://chanews.sina.com.cn/s.cgi?k=')]")

# --- section: the breadcrumb --------------------------------------------------------------------
BREADCRUMB: tuple[tuple[str, etree.XPath], ...] = (
    ("2017+ .channel-path", X(f"//*[{_cls('channel-path')}]")),
    ("2014-17 .bread", X(f"//div[{_cls('bread')}]")),
    ("2008-13 p#lo_links", X("//*[@id='lo_links']")),
    ("2008-13 .blkBreadcrumbNav", X(f"//*[{_cls('blkBreadcrumbNav')}]")),
    # 2004-05 table pages: the "新浪首页 > … > 正文" cell
    ("2004-05 table crumb", X("//a[normalize-space()='新浪首页']/parent::*[contains(., '正文')]")),
)
BREADCRUMB_SKIP: frozenset[str] = frozenset({"正文", "新浪首页", "首页", "新浪网", ">", "&gt;"})
BREADCRUMB_SPLIT = re.compile(r"\s*[>＞›»]\s*")

# --- body container, per template -------------------------------------------------------------
BODY: tuple[tuple[str, etree.XPath], ...] = (
    ("#artibody", X("//*[@id='artibody']")),
    # before div#article: 2004-05 table pages wrap the whole page table in div#article.
    # Their font#zoom may hold nothing (the parser closes <font> before each <p>), so the
    # body is the table cell around it.
    ("2004-05 td > font#zoom", X("//*[@id='zoom']/parent::td")),
    ("news #article", X("//div[@id='article']")),
    ("mobile section.art_content", X(f"//section[{_cls('art_content')}]")),
    ("mobile article.art_box", X(f"//article[{_cls('art_box')}]")),
    ("2008-13 .blkContainerSblkCon", X(f"//*[{_cls('blkContainerSblkCon')}]")),
)

# --- the page's own URL, when the caller does not know it ---------------------------------------
META_URL_KEYS: tuple[str, ...] = ("og:url", "toutiao")
CANONICAL_LINK = X("//link[@rel='canonical']/@href")
# Share links and widgets that carry the article URL: mood counter (2009), weibo share.
URL_ATTRS = X("//span[@name='moodcounter']/@url")
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
