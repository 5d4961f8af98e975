"""``build_article``: the one extraction path of spiders and CLI, page bytes to an Article.

``build_article`` reads the page's fields (``parsing/article.py``), lets the listing entry
fill what the page lacks, and ends with the one normalisation step
(:func:`sinacrawl.normalise.normalise`), so that every item value is JSON-ready: strings
(dates as ISO 8601), lists of strings, or None.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from sinacrawl.items import Article
from sinacrawl.normalise import normalise
from sinacrawl.parsing.article import extract_article
from sinacrawl.parsing.dates import utc_iso
from sinacrawl.parsing.listing import ListingEntry
from sinacrawl.parsing.text import absolute_url, clean_text, is_content_image, repeats_title
from sinacrawl.parsing.urls import canonical_url, doc_id_from_url


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
    page_url = found.url or (canonical_url(listing.url) if listing and listing.url else None)
    values: dict[str, Any] = {
        "url": page_url,
        "doc_id": doc_id_from_url(page_url) or (listing.doc_id if listing else None),
        "title": found.title,
        "published_at": found.published_at,
        "source": found.source,
        "author": found.author,
        "editor": found.editor,
        "categories": list(categories),
        "section": found.section,
        "keywords": found.keywords,
        "stocks": found.stocks,
        "body_html": found.body.html,
        "body_text": found.body.text,
        "images": found.body.images,
        "headimg": found.headimg,
        "crawled_at": utc_iso(crawled_at or datetime.now(timezone.utc)),
    }
    data = normalise(values)
    if listing is not None:
        _fill_from_listing(data, listing)
    item = Article(**data)
    set_template(item, found.template)
    return item


def set_template(item: Article, template: str | None) -> None:
    """Note which page template the item was read by: not a field (SPEC §3 fixes those), an
    attribute the spider turns into the ``sinacrawl/templates/<name>`` stat."""
    item._template = template  # Item allows underscore attributes beside its fields


def template_of(item: Any) -> str | None:
    """The template :func:`build_article` noted on an item, if any."""
    return getattr(item, "_template", None)  # the extraction workers read it so too


def _fill_from_listing(data: dict[str, Any], listing: ListingEntry) -> None:
    """What the normalised page lacks, from the listing (normalised the same way)."""
    # No title here: a listing keyword is judged against the article's title, not the listing's.
    filled = normalise(
        {
            "published_at": listing.ctime,
            "source": listing.media_name,
            "keywords": list(listing.keywords),
        }
    )
    filled["title"] = clean_text(listing.title)
    for name in ("title", "published_at", "source"):
        if data[name] is None:
            data[name] = filled[name]
    if not data["keywords"]:
        data["keywords"] = [k for k in filled["keywords"] if not repeats_title(k, data["title"])]
    if data["headimg"] is None and listing.image:
        image = clean_text(absolute_url(listing.image, None))
        if image and is_content_image(image):
            data["headimg"] = image
