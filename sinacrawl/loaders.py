"""The Article ItemLoader and ``build_article``: the one extraction path of spiders and CLI.

``build_article`` reads the page's fields (``parsing/article.py``), lets the listing entry
fill what the page lacks, and loads everything through small named processors so that every
item value is JSON-ready: strings (dates as ISO 8601), lists of strings, or None.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from typing import Any, ClassVar

from scrapy.loader import ItemLoader

from sinacrawl.items import LIST_FIELDS, Article
from sinacrawl.parsing.article import extract_article
from sinacrawl.parsing.dates import to_iso, utc_iso
from sinacrawl.parsing.listing import ListingEntry
from sinacrawl.parsing.text import absolute_url, collapse, is_content_image
from sinacrawl.parsing.urls import canonical_url, doc_id_from_url


def clean_text(value: Any) -> str | None:
    """Whitespace collapsed, control characters dropped; '' becomes None.

    >>> clean_text("  新浪\\n财经\\x07 "), clean_text("   ")
    ('新浪 财经', None)
    """
    if value is None:
        return None
    text = collapse(str(value))
    return text or None


def iso_date(value: Any) -> str | None:
    """An aware datetime (or an ISO string) as ISO 8601 in Beijing time.

    >>> from sinacrawl.parsing.dates import from_unix
    >>> iso_date(from_unix(1637573630))
    '2021-11-22T17:33:50+08:00'
    """
    if isinstance(value, datetime):
        return to_iso(value)
    return clean_text(value)


def keep_text(value: Any) -> str | None:
    """Body text/HTML: None when blank, otherwise untouched (its line breaks matter).

    >>> keep_text("a\\nb"), keep_text(" \\n ")
    ('a\\nb', None)
    """
    if value is None:
        return None
    text = str(value).replace("\ufffd", "")
    return text if text.strip() else None


def each(function: Callable[[Any], Any]) -> Callable[[Iterable[Any]], list[Any]]:
    """An input processor applying ``function`` to every value and dropping Nones (what
    itemloaders' MapCompose does, without its per-call signature inspection).

    >>> each(clean_text)([" a ", None, "  "])
    ['a']
    """

    def apply(values: Iterable[Any]) -> list[Any]:
        return [out for v in values if (out := function(v)) is not None]

    apply.__name__ = f"each_{function.__name__}"
    return apply


def first(values: Iterable[Any]) -> Any:
    """The first value that is not None or '' (itemloaders' TakeFirst).

    >>> first([None, "", "x", "y"])
    'x'
    """
    for value in values:
        if value is not None and value != "":
            return value
    return None


def unique(values: Iterable[Any]) -> list[Any]:
    """Order-preserving de-duplication (the output processor of list fields).

    >>> unique(["a", "b", "a"])
    ['a', 'b']
    """
    out: list[Any] = []
    for value in values:
        if value not in out:
            out.append(value)
    return out


class ArticleLoader(ItemLoader):
    """Loads an Article: single values take the first non-empty, lists stay lists.

    The processors take no loader context, so they are resolved once per field and class
    instead of on every value (itemloaders' generic lookup costs more than extraction).
    """

    default_item_class = Article
    default_input_processor = staticmethod(each(clean_text))
    default_output_processor = staticmethod(first)

    published_at_in = staticmethod(each(iso_date))
    body_html_in = staticmethod(each(keep_text))
    body_text_in = staticmethod(each(keep_text))

    categories_out = staticmethod(unique)
    section_out = staticmethod(unique)
    keywords_out = staticmethod(unique)
    stocks_out = staticmethod(unique)
    images_out = staticmethod(unique)

    _resolved: ClassVar[dict[tuple[type, str, str], Callable[..., Any]]] = {}

    def _processor(self, field_name: str, kind: str) -> Callable[..., Any]:
        key = (type(self), field_name, kind)
        proc = self._resolved.get(key)
        if proc is None:
            default = (
                self.default_input_processor if kind == "in" else self.default_output_processor
            )
            proc = getattr(self, f"{field_name}_{kind}", None) or default
            self._resolved[key] = proc
        return proc

    def _process_input_value(self, field_name: str, value: Any) -> Any:
        return self._processor(field_name, "in")(value)

    def add_value(
        self, field_name: str | None, value: Any, *processors: Any, re: Any = None, **kw: Any
    ) -> ArticleLoader:
        """As ItemLoader.add_value; a plain field/value pair takes a short path (it is
        called for every field of every article)."""
        if field_name is None or processors or re is not None or kw:
            return super().add_value(field_name, value, *processors, re=re, **kw)
        if value is None:
            return self
        if not isinstance(value, list | tuple):
            value = (value,)
        processed = self._processor(field_name, "in")(value)
        if processed:
            self._values.setdefault(field_name, []).extend(processed)
        return self

    def get_output_value(self, field_name: str) -> Any:
        return self._processor(field_name, "out")(self._values.get(field_name, []))

    def load_item(self) -> Any:
        # Article is a scrapy.Item: set fields directly rather than through an ItemAdapter
        item = self.item
        values = self._values
        for field_name in tuple(values):
            value = self._processor(field_name, "out")(values[field_name])
            if value is not None:
                item[field_name] = value
        return item


def build_article(
    body: bytes,
    url: str | None,
    *,
    content_type: str | None = None,
    listing: ListingEntry | None = None,
    categories: Sequence[str] = (),
    crawled_at: datetime | None = None,
) -> Article:
    """Extract one article page (raw bytes) into an Article with every field present.

    The page is the authority; ``listing`` only fills what the page lacks (date from
    ``listing.ctime``, source from ``listing.media_name``, title, keywords, and ``headimg``
    from ``listing.image``). Raises nothing for bad pages: unknown values are None or [].
    """
    found = extract_article(
        body, url or (listing.url if listing else None), content_type=content_type
    )
    loader = ArticleLoader()
    page_url = found.url or (canonical_url(listing.url) if listing and listing.url else None)
    loader.add_value("url", page_url)
    doc_id = doc_id_from_url(page_url) or (listing.doc_id if listing else None)
    loader.add_value("doc_id", doc_id)
    loader.add_value("title", found.title)
    loader.add_value("published_at", found.published_at)
    loader.add_value("source", found.source)
    loader.add_value("author", found.author)
    loader.add_value("editor", found.editor)
    loader.add_value("categories", list(categories))
    loader.add_value("section", found.section)
    loader.add_value("keywords", found.keywords)
    loader.add_value("stocks", found.stocks)
    loader.add_value("body_html", found.body.html)
    loader.add_value("body_text", found.body.text)
    loader.add_value("images", found.body.images)
    loader.add_value("headimg", found.headimg)
    if listing is not None:
        _fill_from_listing(loader, listing, found.title)
    item = loader.load_item()
    for name in Article.fields:
        if name not in item:
            item[name] = [] if name in LIST_FIELDS else None
    item["crawled_at"] = utc_iso(crawled_at or datetime.now(timezone.utc))
    set_template(item, found.template)
    return item


def set_template(item: Article, template: str | None) -> None:
    """Note which page template the item was read by: not a field (SPEC §3 fixes those), an
    attribute the spider turns into the ``sinacrawl/templates/<name>`` stat."""
    item._template = template  # Item allows underscore attributes beside its fields


def template_of(item: Any) -> str | None:
    """The template :func:`build_article` noted on an item, if any."""
    return getattr(item, "_template", None)  # the extraction workers read it so too


def _fill_from_listing(
    loader: ArticleLoader, listing: ListingEntry, page_title: str | None
) -> None:
    """Listing values come after the page's, so TakeFirst keeps the page's when it has one."""
    loader.add_value("title", listing.title)
    loader.add_value("published_at", listing.ctime)
    loader.add_value("source", listing.media_name)
    if not loader.get_collected_values("keywords"):
        title_key = clean_text(page_title or listing.title)
        loader.add_value("keywords", [k for k in listing.keywords if clean_text(k) != title_key])
    if not loader.get_collected_values("headimg") and listing.image:
        image = absolute_url(listing.image, None)
        if image and is_content_image(image):
            loader.add_value("headimg", image)
