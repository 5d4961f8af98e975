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


class StorageFailed(DropItem):
    """A store could not keep the item (disk full, read-only folder, outside the archive).

    The item stops there; the accounting counts it as ``failed/<reason>``, and the pipeline
    has already logged it (so Scrapy's own drop line is kept to DEBUG).
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}" if detail else reason, log_level="DEBUG")
