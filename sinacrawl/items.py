"""The one item sinacrawl produces (SPEC §3). Every field is present on every item."""

from __future__ import annotations

import scrapy

LIST_FIELDS = ("categories", "section", "keywords", "stocks", "images")


class Article(scrapy.Item):
    """A Sina Finance article, as stored in the Hexo archive and in MongoDB."""

    url = scrapy.Field()
    """Canonical article URL: https, no query string, no fragment."""
    doc_id = scrapy.Field()
    """Sina document id (``ikyamrmz6784021``, or the trailing number of old URLs); the unique key."""
    title = scrapy.Field()
    """Headline as shown in the page heading, whitespace collapsed, no site suffix."""
    published_at = scrapy.Field()
    """Publication time, ISO 8601 with the Beijing offset (``2021-11-22T17:33:50+08:00``)."""
    source = scrapy.Field()
    """Outlet credited as source (来源), e.g. ``新京报``."""
    author = scrapy.Field()
    """Named writer when the page names one, else None."""
    editor = scrapy.Field()
    """Name on the 责任编辑 line without work codes (``霍琦``)."""
    categories = scrapy.Field()
    """The channel's category path, e.g. ``["金融", "新浪财经", "新浪财经－国內"]``."""
    section = scrapy.Field()
    """The page's own breadcrumb/channel names, e.g. ``["产经"]``."""
    keywords = scrapy.Field()
    """The article's keywords/tags (never just the title again)."""
    stocks = scrapy.Field()
    """Stock codes the article links, e.g. ``["sh603883"]``."""
    body_html = scrapy.Field()
    """Cleaned article HTML: paragraphs, images, tables, captions; absolute image URLs."""
    body_text = scrapy.Field()
    """The body as plain text, one paragraph a line."""
    images = scrapy.Field()
    """Absolute URLs of content images in body order (no logos, QR codes, ads)."""
    headimg = scrapy.Field()
    """First content image, else a content ``og:image``, else None."""
    crawled_at = scrapy.Field()
    """When the page was fetched, ISO 8601 UTC."""


FIELDS: tuple[str, ...] = tuple(Article.fields)


def empty_article() -> dict:
    """Every field with its 'unknown' value: None, or [] for list fields."""
    return {name: ([] if name in LIST_FIELDS else None) for name in FIELDS}


class Flash(scrapy.Item):
    """A flash (快讯) of Sina Finance's 7×24 live feed (SPEC §7); every field is always present."""

    kind = "flash"  # how the stores file it (sinacrawl/stores/)
    key = "id"  # the field holding its unique key

    id = scrapy.Field()
    """The feed's flash id as a string (``"5076690"``); the unique key everywhere."""
    url = scrapy.Field()
    """The desktop page of the flash (``ext.docurl``, ``https://finance.sina.com.cn/7x24/…``,
    made https), else None; never the mobile ``finance.sina.cn`` address."""
    published_at = scrapy.Field()
    """``create_time``, ISO 8601 in Beijing time (``2026-09-04T10:37:52+08:00``)."""
    updated_at = scrapy.Field()
    """``update_time`` (later than ``published_at`` once the flash was edited), same form."""
    text = scrapy.Field()
    """The flash as plain text: tags stripped, entities decoded, whitespace collapsed."""
    html = scrapy.Field()
    """The rich text cleaned like article bodies (parsing.text); '' only when text is ''."""
    tags = scrapy.Field()
    """Tag names in the feed's order, e.g. ``["央行", "国际"]``."""
    stocks = scrapy.Field()
    """Stock codes in the article ``stocks`` convention: ``sh600802``/``sz001225``/``bj…``,
    ``hk06655`` (five digits), US tickers as Sina's quote pages name them, ``gb_`` plus the
    lower-case ticker (``gb_nmr``). Indexes (``sih30184``), funds and currencies are left out."""
    focus = scrapy.Field()
    """Whether the editors marked the flash as important (``is_focus``)."""
    feed = scrapy.Field()
    """The zhibo id of the feed it came from (152 = the finance feed), an int."""
    crawled_at = scrapy.Field()
    """When the feed page holding it was fetched, ISO 8601 UTC."""


FLASH_FIELDS: tuple[str, ...] = tuple(Flash.fields)
