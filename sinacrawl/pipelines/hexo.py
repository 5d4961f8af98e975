"""Hexo archive pipeline (the default store): one post per article under ``ARCHIVE_DIR``.

Settings: ``ARCHIVE_DIR`` (the site's ``source/_posts``; empty switches the archive off) and
``HEXO_TIMEZONE`` (the site's ``_config.yml`` ``timezone:``; unset writes the seed's GMT dates).
A post is rewritten only when its bytes change, so an unchanged article keeps its mtime.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from itemadapter import ItemAdapter
from scrapy.exceptions import NotConfigured

from sinacrawl.archive import (
    ArchiveIndex,
    Entry,
    GroupCommit,
    atomic_write,
    begin_writing,
    content_hash,
    end_writing,
    file_mode,
)
from sinacrawl.posts import post_path, render_post
from sinacrawl.state import KnownArticles, to_epoch
from sinacrawl.storeguard import confine, storage_failed

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)


class HexoPipeline:
    """Writes each item as ``<ARCHIVE_DIR>/<categories…>/<YYYY-MM-DD>-<doc_id>.md``."""

    def __init__(
        self,
        archive_dir: str | Path,
        hexo_timezone: str | None = None,
        *,
        stats: StatsCollector | None = None,
        known: KnownArticles | None = None,
    ) -> None:
        if hexo_timezone:
            try:
                ZoneInfo(hexo_timezone)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"HEXO_TIMEZONE={hexo_timezone!r} is not an IANA zone") from exc
        self.root = Path(archive_dir)
        self.hexo_timezone = hexo_timezone or None
        self.stats = stats
        self.known = known
        self.mode = file_mode()
        self.index: ArchiveIndex | None = None
        self.commit: GroupCommit | None = None
        self._writing: Path | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> HexoPipeline:
        archive_dir = crawler.settings.get("ARCHIVE_DIR")
        if not archive_dir:
            raise NotConfigured("ARCHIVE_DIR is empty: no Hexo archive")
        return cls(
            archive_dir,
            crawler.settings.get("HEXO_TIMEZONE"),
            stats=crawler.stats,
            known=KnownArticles.from_crawler(crawler),
        )

    def open_spider(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        swept, self._writing = begin_writing(self.root)
        if swept:
            logger.warning("removed %d temporary files left by an interrupted run", swept)
        self.index = ArchiveIndex(self.root)
        self.commit = GroupCommit(self.index, self.mode)

    def close_spider(self) -> None:
        if self.index is not None:
            self.index.close()
            self.index = self.commit = None
        if self._writing is not None:
            end_writing(self._writing)
            self._writing = None

    async def process_item(self, item: Any) -> Any:
        # Rendering is cheaper than handing it to a thread; the fsyncs are grouped (see
        # GroupCommit). The index is only touched in the crawl thread, in order.
        try:
            entry, before, target, content, changed = self._plan(item)
            if changed:
                assert self.commit is not None
                await self.commit.write(target, content, entry)
        except (
            OSError,
            sqlite3.Error,
        ) as exc:  # one line and a count per article, not a traceback each
            raise storage_failed("Hexo archive", item, exc, self.stats) from None
        self._record(entry, changed, before, indexed=changed)
        return item

    def store(self, item: Any) -> Any:
        """The same as ``process_item``, synchronously (tools, tests, benchmarks)."""
        entry, before, target, content, changed = self._plan(item)
        if changed:
            atomic_write(target, content, self.mode)
        self._record(entry, changed, before, indexed=False)
        return item

    def _plan(self, item: Any) -> tuple[Entry, Entry | None, Path, bytes, bool]:
        """The item's index entry, the one before, its post's path and bytes, and whether
        those differ from the file's."""
        if self.index is None:
            self.open_spider()
        assert self.index is not None
        # Item values are strings, lists of strings or None (validated): a shallow copy is
        # enough, and ItemAdapter.asdict()'s deep walk cost more CPU than rendering the post.
        data = {k: list(v) if isinstance(v, list) else v for k, v in ItemAdapter(item).items()}
        doc_id = str(data["doc_id"])
        rel = post_path(data)
        content = render_post(data, self.hexo_timezone)
        before = self.index.get(doc_id)
        mtime = self.known.listing_mtime(doc_id) if self.known is not None else None
        listing_mtime = to_epoch(mtime) or (before.listing_mtime if before else 0)
        entry = Entry(doc_id, rel, content_hash(content), listing_mtime)
        target = self.root / rel
        confine(self.root, target)  # a symlinked category folder must not lead out
        return entry, before, target, content, not _same_bytes(target, content)

    def _record(self, entry: Entry, written: bool, before: Entry | None, *, indexed: bool) -> None:
        assert self.index is not None
        self._inc("written" if written else "unchanged")
        if not indexed and entry != before:
            self.index.put(entry)
        if before and before.path != entry.path:
            self._remove_old(before.path)
        if self.known is not None:
            self.known.remember(entry.doc_id, entry.listing_mtime)

    def _remove_old(self, rel: str) -> None:
        # The article moved (new date or categories): the old post would be a duplicate.
        old = (self.root / rel).resolve()
        if old.is_relative_to(self.root.resolve()):
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
                self._inc("moved")

    def _inc(self, key: str) -> None:
        if self.stats is not None:
            self.stats.inc_value(f"sinacrawl/hexo/{key}")


def _same_bytes(path: Path, content: bytes) -> bool:
    try:
        if path.stat().st_size != len(content):
            return False
        return path.read_bytes() == content
    except FileNotFoundError:
        return False
