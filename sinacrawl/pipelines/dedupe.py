"""Second pipeline: the second item for an article within one run is dropped.

"The same article" is the same doc_id or the same canonical URL. Across runs the stores
decide (an unchanged article is not rewritten) and the incremental middleware keeps known
articles from being downloaded at all. Ids are kept as 64-bit hashes (CompactIdSet), so a
run that sees a million articles costs megabytes, not hundreds of them.
"""

from __future__ import annotations

from typing import Any

from itemadapter import ItemAdapter

from sinacrawl.exceptions import DuplicateArticle
from sinacrawl.parsing.urls import canonical_url
from sinacrawl.state import CompactIdSet
from sinacrawl.stores import ARTICLE, kind_of


class DedupePipeline:
    """Drops an item whose doc_id or canonical URL was already seen in this run."""

    def __init__(self) -> None:
        self.seen = CompactIdSet()

    def process_item(self, item: Any) -> Any:
        if kind_of(item) != ARTICLE:
            return item  # the live spider handles each flash id once per run itself
        adapter = ItemAdapter(item)
        doc_id = adapter.get("doc_id")
        url = adapter.get("url")
        keys = [f"doc:{doc_id}"] if doc_id else []
        if url:
            keys.append(f"url:{canonical_url(url)}")
        for key in keys:
            if key in self.seen:
                raise DuplicateArticle(f"{doc_id or url} already handled in this run")
        for key in keys:
            self.seen.add(key)
        return item
