"""Listings (roll API JSON, listing HTML) to entries. See ListingEntry."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class ListingEntry:
    """One article as a listing announces it; travels with the article request.

    The article callback uses it as the fallback for fields the page lacks.
    """

    url: str
    """Canonical article URL."""
    doc_id: str | None
    """Document id from the URL (or the listing's ``docid``)."""
    title: str | None = None
    intro: str | None = None
    media_name: str | None = None
    """The outlet the listing credits (fallback for ``source``)."""
    ctime: datetime | None = None
    """Listing time (fallback for ``published_at``), aware, Beijing."""
    mtime: datetime | None = None
    """Last modification time the listing reports; newer than stored means re-fetch."""
    keywords: tuple[str, ...] = field(default_factory=tuple)
    image: str | None = None
    """Absolute URL of the listing's picture, if any."""
