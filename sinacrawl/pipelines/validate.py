"""First pipeline: every item leaves in SPEC §3's shape, or is dropped with a counted reason.

The shape is :func:`sinacrawl.normalise.normalise`'s (the same step extraction ends with, so
for an extracted article it changes nothing). Items without a title, a body or a usable
document id are dropped (``DropArticle`` reasons ``no_title``, ``no_body``, ``no_doc_id``).
"""

from __future__ import annotations

import re
from typing import Any

from sinacrawl.exceptions import DropArticle
from sinacrawl.items import FIELDS, Article
from sinacrawl.normalise import normalise


class ValidatePipeline:
    """Normalises every item and drops the ones no store can use."""

    def process_item(self, item: Any) -> Article:
        data = normalise(item)
        if not data["doc_id"]:
            raise DropArticle("no_doc_id", data["url"] or "item without url")
        if not data["title"]:
            raise DropArticle("no_title", data["url"] or data["doc_id"])
        if not (data["body_text"] or _has_content(data["body_html"])):
            raise DropArticle("no_body", data["url"] or data["doc_id"])
        return Article(**{name: data[name] for name in FIELDS})


def _has_content(body_html: str | None) -> bool:
    if not body_html:
        return False
    return bool(re.search(r"<img\b", body_html, re.I) or re.sub(r"<[^>]*>|\s+", "", body_html))
