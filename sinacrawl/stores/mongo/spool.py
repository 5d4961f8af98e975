"""The local journal and spool: every document is on disk before it is buffered.

Each batch has its own segment file (extended-JSON lines) locked by the process writing it;
a segment is deleted once a journaled MongoDB write covers it, and kept (fsync'ed) as a
spool file when MongoDB does not take it. The next start replays what earlier runs kept.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterable, Iterator
from datetime import timezone
from pathlib import Path
from typing import Any

from bson import json_util

from sinacrawl.archive import fsync_dir

# Spool lines: relaxed extended JSON keeps dates as dates and stays readable for a person.
EXTENDED_JSON = json_util.JSONOptions(
    json_mode=json_util.JSONMode.RELAXED, tz_aware=True, tzinfo=timezone.utc
)
SPOOL_GLOB = "spool-*.jsonl"


def _encode(doc: dict[str, Any]) -> bytes:
    return (json_util.dumps(doc, json_options=EXTENDED_JSON, ensure_ascii=False) + "\n").encode()


class Segment:
    """One journal file of extended-JSON lines, locked while this process owns it.

    The lock tells a starting run which files belong to a live process (skip) and which were
    left by a finished or killed one (replay).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def append(self, doc: dict[str, Any]) -> None:
        # One write() of the whole line: a killed process leaves whole lines in the page cache.
        os.write(self.fd, _encode(doc))

    def discard(self) -> None:
        """The batch is in MongoDB: the file is no longer needed."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self.fd)

    def keep(self) -> None:
        """The batch is not in MongoDB: make the file durable for the next start's replay."""
        os.fsync(self.fd)
        fsync_dir(self.path.parent)
        os.close(self.fd)


class Journal:
    """Creates segments in the spool directory; one per batch."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self._seq = 0
        self._current: Segment | None = None

    def append(self, doc: dict[str, Any]) -> None:
        if self._current is None:
            self._seq += 1
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
            name = f"spool-{stamp}-{os.getpid()}-{self._seq:06d}.jsonl"
            self._current = Segment(self.directory / name)
        self._current.append(doc)

    def seal(self) -> Segment | None:
        """End the current segment; its batch goes to MongoDB next."""
        segment, self._current = self._current, None
        return segment


def spool_files(directory: Path) -> list[Path]:
    """Spool files left by earlier runs (oldest first)."""
    return sorted(directory.glob(SPOOL_GLOB)) if directory.is_dir() else []


@contextlib.contextmanager
def claim(path: Path) -> Iterator[bool]:
    """Lock a spool file for replay; False when a live process still writes it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def read_spool(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The documents of a spool file and the number of unreadable lines (a torn last line)."""
    docs, bad = [], 0
    with path.open("rb") as handle:
        for line in handle:
            try:
                doc = json_util.loads(line.decode("utf-8"), json_options=EXTENDED_JSON)
            except (ValueError, UnicodeDecodeError):
                bad += 1
                continue
            if isinstance(doc, dict) and "_id" in doc:
                docs.append(doc)
            else:
                bad += 1
    return docs, bad


def write_rejected(directory: Path, rejected: Iterable[tuple[dict[str, Any], str]]) -> Path:
    """Keep documents MongoDB refused for good beside the spool, for a person to look at."""
    path = directory / f"rejected-{time.strftime('%Y%m%d', time.gmtime())}.jsonl"
    with path.open("ab") as handle:
        for doc, reason in rejected:
            handle.write(_encode({"reason": reason, "document": doc}))
        handle.flush()
        os.fsync(handle.fileno())
    return path
