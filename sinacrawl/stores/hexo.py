"""The Hexo archive store (the default): one post per article under ``ARCHIVE_DIR``.

Settings: ``ARCHIVE_DIR`` (the site's ``source/_posts``; empty switches the archive off) and
``HEXO_TIMEZONE`` (the site's ``_config.yml`` ``timezone:``; unset writes the seed's GMT dates).
A post is rewritten only when its bytes change, so an unchanged article keeps its mtime.
Where a post goes and what it says is its kind's *layout* (:class:`ArticlePosts` for
articles); a new item kind adds a layout to :data:`LAYOUTS`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from itemadapter import ItemAdapter

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
from sinacrawl.runstate import archive_dir
from sinacrawl.state import to_epoch
from sinacrawl.storeguard import confine
from sinacrawl.stores import ARTICLE, Record, kind_of

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)


class Layout(Protocol):
    """Where the posts of one item kind go and what they say."""

    def path(self, data: dict[str, Any]) -> str:
        """The post's path relative to the archive, ``/``-separated."""
        ...

    def render(self, data: dict[str, Any], hexo_timezone: str | None) -> bytes:
        """The post's bytes."""
        ...


class ArticlePosts:
    """Articles: ``<categories…>/<YYYY-MM-DD>-<doc_id>.md``, front matter and body."""

    @staticmethod
    def path(data: dict[str, Any]) -> str:
        return post_path(data)

    @staticmethod
    def render(data: dict[str, Any], hexo_timezone: str | None) -> bytes:
        return render_post(data, hexo_timezone)


LAYOUTS: dict[str, Layout] = {ARTICLE: ArticlePosts()}


class HexoStore:
    """The :class:`~sinacrawl.stores.Store` writing each item as a post under the archive."""

    name = "hexo"

    def __init__(
        self,
        archive_dir: str | Path,
        hexo_timezone: str | None = None,
        *,
        stats: StatsCollector | None = None,
        layouts: dict[str, Layout] | None = None,
    ) -> None:
        if hexo_timezone:
            try:
                ZoneInfo(hexo_timezone)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"HEXO_TIMEZONE={hexo_timezone!r} is not an IANA zone") from exc
        self.root = Path(archive_dir)
        self.hexo_timezone = hexo_timezone or None
        self.stats = stats
        self.layouts = LAYOUTS if layouts is None else layouts
        self.mode = file_mode()
        self.index: ArchiveIndex | None = None
        self.commit: GroupCommit | None = None
        self._writing: Path | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> HexoStore:
        folder = archive_dir(crawler.settings)
        if folder is None:
            raise ValueError("ARCHIVE_DIR is empty: no Hexo archive")
        return cls(folder, crawler.settings.get("HEXO_TIMEZONE"), stats=crawler.stats)

    def known_ids(self) -> Iterator[tuple[str, int]]:
        return ArchiveIndex.known(self.root)

    async def open(self) -> None:
        self.open_now()

    async def put(self, batch: Sequence[Record]) -> None:
        # Rendering is cheaper than handing it to a thread; the fsyncs are grouped (see
        # GroupCommit). The index is only touched in the crawl thread, in order.
        for record in batch:
            entry, before, target, content, changed = self._plan(record)
            if changed:
                assert self.commit is not None
                await self.commit.write(target, content, entry)
            self._record(entry, changed, before, indexed=changed)

    async def flush(self) -> None:
        """Nothing is buffered: ``put`` returns once its posts are durable."""

    async def close(self) -> None:
        self.close_now()

    def open_now(self) -> None:
        """``open``, synchronously (tools, tests, benchmarks)."""
        self.root.mkdir(parents=True, exist_ok=True)
        swept, self._writing = begin_writing(self.root)
        if swept:
            logger.warning("removed %d temporary files left by an interrupted run", swept)
        self.index = ArchiveIndex(self.root)
        self.commit = GroupCommit(self.index, self.mode)

    def close_now(self) -> None:
        """``close``, synchronously."""
        if self.index is not None:
            self.index.close()
            self.index = self.commit = None
        if self._writing is not None:
            end_writing(self._writing)
            self._writing = None

    def store(self, item: Any, listing_mtime: datetime | None = None) -> Any:
        """One item, synchronously, one fsync each (tools, tests, benchmarks)."""
        record = Record(item, kind_of(item), str(ItemAdapter(item).get("doc_id")), listing_mtime)
        entry, before, target, content, changed = self._plan(record)
        if changed:
            atomic_write(target, content, self.mode)
        self._record(entry, changed, before, indexed=False)
        return item

    def _plan(self, record: Record) -> tuple[Entry, Entry | None, Path, bytes, bool]:
        """The record's index entry, the one before, its post's path and bytes, and whether
        those differ from the file's."""
        if self.index is None:
            self.open_now()
        assert self.index is not None
        layout = self.layouts[record.kind]
        # Item values are strings, lists of strings or None (validated): a shallow copy is
        # enough, and ItemAdapter.asdict()'s deep walk cost more CPU than rendering the post.
        data = {
            k: list(v) if isinstance(v, list) else v for k, v in ItemAdapter(record.item).items()
        }
        rel = layout.path(data)
        content = layout.render(data, self.hexo_timezone)
        before = self.index.get(record.doc_id)
        listing_mtime = to_epoch(record.listing_mtime) or (before.listing_mtime if before else 0)
        entry = Entry(record.doc_id, rel, content_hash(content), listing_mtime)
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
