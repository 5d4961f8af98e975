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
