"""Why an article did not reach the stores; the accounting counts drops by these reasons."""

from __future__ import annotations

from scrapy.exceptions import DropItem


class DropArticle(DropItem):
    """An item dropped on purpose; ``reason`` is a short stable token for the stats."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}" if detail else reason)


class DuplicateArticle(DropArticle):
    """The same doc_id (or canonical URL) was already handled in this run."""

    def __init__(self, detail: str = "") -> None:
        super().__init__("duplicate", detail)
