"""Flashes in the Hexo archive (SPEC §7): one post per Beijing day, kept with its day file.

Each Beijing day's flashes are kept in a small JSON file in the run-state folder
(``<ARCHIVE_DIR>/.sinacrawl/7x24/<feed>/<day>.json``) and the day's post is rendered from it
(:mod:`sinacrawl.flashposts`). Changed days are written at the store's flush (or every
``FLASH_FLUSH_ITEMS`` changes): first the post, atomically and only when its bytes differ,
then the day file. A run killed before that leaves both as they were; one killed between the
two leaves a post that already shows a flash the day file lacks, so the next run takes that
flash again (it is not known) and finds the post already right. Nothing is half-written,
nothing lost.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sinacrawl.archive import atomic_write, file_mode, sweep_temp_files
from sinacrawl.flashes import as_dict, day_of, in_time_order, merge, when
from sinacrawl.flashposts import day_key, day_post_path, render_day
from sinacrawl.posts import checked_timezone
from sinacrawl.runstate import FLASH_DIR, state_dir_of
from sinacrawl.state import to_epoch
from sinacrawl.storeguard import FAILED, confine, storage_reason

logger = logging.getLogger(__name__)

STAT = "sinacrawl/flashes/hexo/"
# Day files read for the known flashes: the feed reaches back two to three days.
KNOWN_DAYS = 10


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


class FlashDays:
    """The Hexo store's side of the ``flash`` kind: one post per Beijing day of flashes,
    rewritten only when a flash was added or changed (``FLASH_FLUSH_ITEMS``: changed flashes
    after which the changed days are written before the end of the run)."""

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
        self.days = DayFiles(state_dir_of(self.root) / FLASH_DIR, self.mode)
        self._loaded: dict[tuple[int, str], dict[str, dict[str, Any]]] = {}
        self._dirty: set[tuple[int, str]] = set()
        self._changes = 0

    def stored_versions(self) -> Iterable[tuple[str, int]]:
        """(flash id, updated_at epoch) of what this store holds."""
        return self.days.recent()

    def open(self) -> None:
        """Sweep what a killed run left among the day files (the archive's own sweep leaves
        the run-state folder alone)."""
        if self.days.folder.is_dir():
            swept = sweep_temp_files(self.days.folder)
            if swept:
                logger.warning("removed %d temporary day files of an interrupted run", swept)

    def put(self, item: Any) -> None:
        """Merge one flash into its day; write the changed days every ``flush_items``."""
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

    def flush(self) -> None:
        """Write every changed day: its post (when the bytes differ), then its day file."""
        for key in sorted(self._dirty):
            try:
                self._write_day(*key)
            except OSError as exc:
                # The day stays as it was on disk; the anchor does not move (exit 4), so the
                # next run takes the day's new flashes again.
                reason = storage_reason(exc)
                if self.stats is not None:
                    self.stats.inc_value(FAILED + reason)
                logger.error("could not write the 7x24 post of %s: %s (%s)", key[1], reason, exc)
            self._dirty.discard(key)
        self._changes = 0
        # Days stay loaded: a later flash of the same day merges into what was written.

    def _write_day(self, feed: int, day: str) -> None:
        flashes = self._loaded[(feed, day)]
        content = render_day(day, in_time_order(flashes), self.hexo_timezone, feed)
        target = self.root / day_post_path(day, feed)
        confine(self.root, target)  # a symlinked category folder must not lead out
        if not same_bytes(target, content):
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(target, content, self.mode)
            self._inc("posts_written")
        else:
            self._inc("posts_unchanged")
        self.days.save(feed, day, flashes)

    def _inc(self, key: str) -> None:
        if self.stats is not None:
            self.stats.inc_value(STAT + key)


def same_bytes(path: Path, content: bytes) -> bool:
    """Whether ``path`` holds exactly ``content`` (a rewrite would change nothing)."""
    try:
        return path.stat().st_size == len(content) and path.read_bytes() == content
    except FileNotFoundError:
        return False
