"""Flash stores (SPEC §7): day posts in the Hexo archive, and the MongoDB ``flashes`` collection.

Both handle only ``Flash`` items and pass every other item through untouched. Neither is in
the project's ``ITEM_PIPELINES``: the ``live`` spider switches them on for its runs.

- :class:`FlashHexoPipeline` keeps each Beijing day's flashes in a small JSON file under
  ``<ARCHIVE_DIR>/.sinacrawl/7x24/<feed>/<day>.json`` and renders the day's post from it
  (:mod:`sinacrawl.flashposts`). Changed days are written when the spider closes (or every
  ``FLASH_FLUSH_ITEMS`` changes): first the post, atomically and only when its bytes differ,
  then the day file. A run killed before that leaves both as they were; one killed between the
  two leaves a post that already shows a flash the day file lacks, so the next run takes
  that flash again and finds the post already right. Nothing is half-written, nothing lost.
- :class:`FlashMongoPipeline` is the article MongoDB pipeline (journal, batched bulk
  upserts, retries, spool and replay) pointed at ``MONGO_FLASH_COLLECTION`` with flash
  documents (:func:`sinacrawl.flashes.flash_document`) and a spool folder of its own.

:func:`known_flashes` says which flashes every enabled flash store holds (and at which
``updated_at``), for the spider to skip them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter
from scrapy.exceptions import NotConfigured

from sinacrawl.archive import (
    INDEX_DIR,
    atomic_write,
    begin_writing,
    end_writing,
    file_mode,
    sweep_temp_files,
)
from sinacrawl.flashes import as_dict, day_of, flash_document, in_time_order, merge, when
from sinacrawl.flashposts import day_key, day_post_path, render_day
from sinacrawl.items import Flash
from sinacrawl.pipelines.mongo import (
    Journal,
    MongoPipeline,
    MongoWriter,
)
from sinacrawl.posts import checked_timezone
from sinacrawl.state import KnownArticles, mongo_known, to_epoch

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

STAT = "sinacrawl/flashes/hexo/"
STORAGE_FAILED = "sinacrawl/storage/failed/flash_posts"
DAYS_DIR = "7x24"
# Day files read for the known flashes: the feed reaches back two to three days.
KNOWN_DAYS = 10
_STORES_ATTR = "_sinacrawl_flash_stores"


def _register(crawler: Crawler, store: Any) -> None:
    stores = getattr(crawler, _STORES_ATTR, None)
    if stores is None:
        stores = []
        setattr(crawler, _STORES_ATTR, stores)
    stores.append(store)


def known_flashes(crawler: Crawler) -> KnownArticles:
    """Flash id → ``updated_at`` (epoch) held by every enabled flash store (none: empty)."""
    stores = getattr(crawler, _STORES_ATTR, [])
    return KnownArticles.from_stores([store.stored_versions() for store in stores])


class DayFiles:
    """The per-day JSON files of one archive: ``<state>/7x24/<feed key>/<day>.json``."""

    def __init__(self, folder: Path, mode: int) -> None:
        self.folder = folder
        self.mode = mode

    def path(self, feed: int, day: str) -> Path:
        return self.folder / day_key(feed) / f"{day}.json"

    def load(self, feed: int, day: str) -> dict[str, dict[str, Any]]:
        """A day's flashes (id → flash); empty for a new day. An unreadable file is an
        error: rebuilding the day from the feed alone would drop what it no longer lists."""
        path = self.path(feed, day)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        flashes = data.get("flashes") if isinstance(data, dict) else None
        if not isinstance(flashes, dict):
            raise ValueError(f"{path}: not a day file of flashes")
        return flashes

    def save(self, feed: int, day: str, flashes: dict[str, dict[str, Any]]) -> None:
        path = self.path(feed, day)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"day": day, "feed": feed, "flashes": dict(sorted(flashes.items()))}
        text = json.dumps(data, ensure_ascii=False, sort_keys=True, indent=0)
        atomic_write(path, text.encode("utf-8") + b"\n", self.mode)

    def recent(self) -> Iterator[tuple[str, int]]:
        """(id, updated_at epoch) of the flashes in each feed's newest day files."""
        if not self.folder.is_dir():
            return
        for feed_dir in sorted(p for p in self.folder.iterdir() if p.is_dir()):
            for path in sorted(feed_dir.glob("????-??-??.json"))[-KNOWN_DAYS:]:
                try:
                    flashes = json.loads(path.read_text(encoding="utf-8")).get("flashes", {})
                except (OSError, ValueError, AttributeError):
                    continue
                for key, flash in flashes.items():
                    updated = when(flash.get("updated_at")) if isinstance(flash, dict) else None
                    yield str(key), to_epoch(updated)


class FlashHexoPipeline:
    """One Hexo post per Beijing day of flashes, rewritten only when a flash was added or
    changed (settings ``ARCHIVE_DIR``, ``HEXO_TIMEZONE``, ``FLASH_FLUSH_ITEMS``)."""

    def __init__(
        self,
        archive_dir: str | Path,
        hexo_timezone: str | None = None,
        *,
        stats: Any = None,
        flush_items: int = 500,
    ) -> None:
        self.root = Path(archive_dir)
        self.hexo_timezone = checked_timezone(hexo_timezone)
        self.stats = stats
        self.flush_items = max(1, flush_items)
        self.mode = file_mode()
        self.days = DayFiles(self.root / INDEX_DIR / DAYS_DIR, self.mode)
        self._loaded: dict[tuple[int, str], dict[str, dict[str, Any]]] = {}
        self._dirty: set[tuple[int, str]] = set()
        self._changes = 0
        self._writing: Path | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FlashHexoPipeline:
        settings = crawler.settings
        if not settings.get("ARCHIVE_DIR"):
            raise NotConfigured("ARCHIVE_DIR is empty: no Hexo archive")
        pipeline = cls(
            settings.get("ARCHIVE_DIR"),
            settings.get("HEXO_TIMEZONE"),
            stats=crawler.stats,
            flush_items=settings.getint("FLASH_FLUSH_ITEMS", 500),
        )
        _register(crawler, pipeline)
        return pipeline

    def stored_versions(self) -> Iterable[tuple[str, int]]:
        """(flash id, updated_at epoch) of what this store holds."""
        return self.days.recent()

    def open_spider(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        swept, self._writing = begin_writing(self.root)
        # The archive sweep leaves the state folder alone; the day files live there.
        swept += sweep_temp_files(self.days.folder) if self.days.folder.is_dir() else 0
        if swept:
            logger.warning("removed %d temporary files left by an interrupted run", swept)

    def close_spider(self) -> None:
        try:
            self.flush()
        finally:
            if self._writing is not None:
                end_writing(self._writing)
                self._writing = None

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, Flash):
            return item
        flash = as_dict(item)
        key = (int(flash["feed"]), day_of(flash))
        if key not in self._loaded:
            self._loaded[key] = self.days.load(*key)
        outcome = merge(self._loaded[key], flash)
        self._inc(outcome)
        if outcome in ("added", "changed"):
            self._dirty.add(key)
            self._changes += 1
            if self._changes >= self.flush_items:
                self.flush()
        return item

    def flush(self) -> None:
        """Write every changed day: its post (when the bytes differ), then its day file."""
        for key in sorted(self._dirty):
            try:
                self._write_day(*key)
            except OSError as exc:
                if self.stats is not None:
                    self.stats.inc_value(STORAGE_FAILED)
                logger.error("could not write the 7x24 post of %s: %s", key[1], exc)
            self._dirty.discard(key)
        self._changes = 0
        # Days stay loaded: a later flash of the same day merges into what was written.

    def _write_day(self, feed: int, day: str) -> None:
        flashes = self._loaded[(feed, day)]
        content = render_day(day, in_time_order(flashes), self.hexo_timezone, feed)
        target = self.root / day_post_path(day, feed)
        if not _same_bytes(target, content):
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(target, content, self.mode)
            self._inc("posts_written")
        else:
            self._inc("posts_unchanged")
        self.days.save(feed, day, flashes)

    def _inc(self, key: str) -> None:
        if self.stats is not None:
            self.stats.inc_value(STAT + key)


def _same_bytes(path: Path, content: bytes) -> bool:
    try:
        return path.stat().st_size == len(content) and path.read_bytes() == content
    except FileNotFoundError:
        return False


class FlashWriter(MongoWriter):
    """Flashes have no unique url (many have none): an index on ``published_at`` instead."""

    def ensure_indexes(self) -> None:
        self.collection.create_index("published_at", name="published_at")
        self._indexed = True


class FlashMongoPipeline(MongoPipeline):
    """The MongoDB pipeline for ``Flash`` items: collection ``MONGO_FLASH_COLLECTION``
    (``flashes``), ``_id`` = flash id, ``revision`` raised when the text changes; its journal
    and spool in ``<MONGO_SPOOL_DIR or <state>/mongo-spool>-flashes``. Other items pass."""

    def __init__(self, crawler: Crawler, uri: str) -> None:
        super().__init__(crawler, uri)
        settings = crawler.settings
        name = settings.get("MONGO_FLASH_COLLECTION") or "flashes"
        database = self.collection.database
        self.collection = database.get_collection(
            name,
            codec_options=self.collection.codec_options,
            write_concern=self.collection.write_concern,
        )
        self.where = f"{self.where.rsplit('.', 1)[0]}.{name}"
        durable = self.writer.durable.write_concern
        self.writer = FlashWriter(
            self.collection,
            self.redact,
            durable=self.collection.with_options(write_concern=durable),
            retries=self.writer.retries,
            backoff=self.writer.backoff,
            probe_seconds=self.writer.probe_seconds,
        )
        self.spool_dir = self.spool_dir.with_name(self.spool_dir.name + "-flashes")
        self.journal = Journal(self.spool_dir)
        self.uri = uri
        _register(crawler, self)

    def stored_versions(self) -> Iterable[tuple[str, int]]:
        """(flash id, updated_at epoch) of what this store holds."""
        return mongo_known(self.uri, self.collection.name)

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, Flash):
            return item
        return await super().process_item(item)

    def document(self, item: Any) -> dict[str, Any]:
        return flash_document(ItemAdapter(item), datetime.now(timezone.utc))
