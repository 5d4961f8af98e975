"""The Hexo archive on disk: crash-safe post files and the small index beside them.

A post is written to a temporary file in its own folder, fsync'ed, given 0644 and renamed
over the final name, so a reader (or a ``kill -9``) never sees half a post. Only then is it
recorded in the index, ``<ARCHIVE_DIR>/.sinacrawl/index.sqlite3`` (doc_id → path, content
hash, listing mtime): a post without an index row is merely fetched again next time and
rewritten with the same bytes, never lost. The index can be rebuilt from the posts.

During a crawl, :class:`GroupCommit` does the same for many posts at once: one helper-thread
job writes, fsyncs and renames the whole group, and one SQLite transaction records it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import os
import re
import secrets
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from scrapy.utils.asyncio import run_in_thread

from sinacrawl.runstate import STATE_DIR_NAME, index_file, state_dir_of

logger = logging.getLogger(__name__)

TMP_PREFIX = ".sinacrawl-tmp-"
TMP_SUFFIX = ".tmp"
OPEN_WAIT_SECONDS = 30.0
WRITERS_DIR = "writers"

# Who owns a temporary file or a writer mark: "<pid>-<token of this process>". The token
# tells this process from an earlier one that had the same pid (a container's cron job is
# often pid 1 every time), whose leftovers would otherwise look like its own.
_OWNER = f"{os.getpid()}-{secrets.token_hex(4)}"
_serial = itertools.count()


# Post file names the archive writes: <YYYY-MM-DD>-<doc_id>.md
POST_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})-([0-9A-Za-z_-]+)\.md$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS posts (
    doc_id TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    hash TEXT NOT NULL,
    listing_mtime INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID
"""


def content_hash(data: bytes) -> str:
    """The hash the index keeps of a post's bytes."""
    return hashlib.sha256(data).hexdigest()[:32]


def file_mode() -> int:
    """0644 under the usual umask: what a plain ``open()`` would give a new file."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` so that it holds either the old or the new bytes, never half."""
    _replace_durably(path, data, mode)
    fsync_dir(path.parent)


# Temporary files this process could not remove (a folder turned read-only under it): while
# any is left, its writer mark stays, so that the next run sweeps the archive.
_leftovers: set[str] = set()


def _discard(tmp: str) -> None:
    """Remove a temporary file of ours; one that cannot go is remembered as a leftover."""
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    except OSError:
        _leftovers.add(tmp)


def _replace_durably(path: Path, data: bytes, mode: int) -> None:
    """An fsync'ed temporary file renamed over ``path`` (the folder is not fsync'ed yet)."""
    tmp = write_temp(path, data, mode, sync=True)
    try:
        os.replace(tmp, path)
    except BaseException:
        _discard(tmp)
        raise


def write_temp(path: Path, data: bytes, mode: int, *, sync: bool) -> str:
    """``data`` in a new temporary file beside ``path`` (fsync'ed if ``sync``); its name."""
    # The owner in the name lets a sweep tell a dead run's leftovers from a live writer's file.
    tmp = f"{path.parent}{os.sep}{TMP_PREFIX}{_owner()}-{next(_serial)}{TMP_SUFFIX}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        fd = os.open(tmp, flags, 0o600)
    except FileNotFoundError:  # a new folder: the first post of a category or day
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, flags, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fchmod(fd, mode)
        if sync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        _discard(tmp)
        raise
    os.close(fd)
    return tmp


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where the platform allows opening folders)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _owner() -> str:
    # After a fork the child is a new owner; the crawl does not fork, tests may.
    global _OWNER
    if not _OWNER.startswith(f"{os.getpid()}-"):
        _OWNER = f"{os.getpid()}-{secrets.token_hex(4)}"
    return _OWNER


def _owner_alive(owner: str) -> bool:
    """Whether the process an ``<pid>-<token>…`` name belongs to may still be writing."""
    pid_text, _, rest = owner.partition("-")
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid():
        return (rest + "-").startswith(_owner().partition("-")[2] + "-")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def sweep_temp_files(root: Path, stuck: list[str] | None = None) -> int:
    """Remove temporary files a killed run left behind; returns how many.

    Files of a live process (another worker sharing the archive) are left alone; files that
    cannot be removed (a read-only folder) are added to ``stuck``.
    """
    removed = 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != STATE_DIR_NAME]
        removed += _sweep(folder, files, stuck)
    return removed


def sweep_folder(folder: Path) -> int:
    """:func:`sweep_temp_files` for one folder only (not its subfolders)."""
    try:
        return _sweep(str(folder), os.listdir(folder))
    except FileNotFoundError:
        return 0


def _sweep(folder: str, names: Iterable[str], stuck: list[str] | None = None) -> int:
    removed = 0
    for name in names:
        if name.startswith(TMP_PREFIX) and name.endswith(TMP_SUFFIX):
            if _owner_alive(name[len(TMP_PREFIX) :]):
                continue
            try:
                os.unlink(os.path.join(folder, name))
                removed += 1
            except FileNotFoundError:
                pass
            except OSError:  # a read-only folder: left for a later run
                if stuck is not None:
                    stuck.append(os.path.join(folder, name))
    return removed


def begin_writing(root: Path) -> tuple[int, Path]:
    """Sweep what killed writers left in ``root``, then mark this process as a writer there.

    Returns (temporary files removed, this process's mark, for :func:`end_writing`). A clean
    run removes its mark, so the walk over the whole archive only happens when a mark
    outlived its process (a killed run) or there are no marks yet (an archive new to them).
    """
    marks = state_dir_of(root) / WRITERS_DIR
    stuck: list[str] = []
    try:
        dead = [m for m in marks.iterdir() if not _owner_alive(m.name)]
        swept = sweep_temp_files(root, stuck) if dead else 0
    except FileNotFoundError:
        dead, swept = [], sweep_temp_files(root, stuck)
    if stuck:  # the marks stay, so the next run tries again
        logger.warning(
            "could not remove %d temporary files left by an earlier run, e.g. %s",
            len(stuck),
            stuck[0],
        )
        dead = []
    for mark in dead:  # only now: a run killed during the sweep leaves them for the next
        mark.unlink(missing_ok=True)
    marks.mkdir(parents=True, exist_ok=True)
    mine = marks / _owner()
    mine.touch()
    return swept, mine


def end_writing(mark: Path) -> None:
    """This process has finished writing: nothing of it is left to sweep, unless a temporary
    file could not be removed even now; then the mark stays for the next run's sweep."""
    for tmp in list(_leftovers):
        _leftovers.discard(tmp)
        _discard(tmp)
    if _leftovers:
        logger.warning(
            "%d temporary files could not be removed (e.g. %s); the next run removes them",
            len(_leftovers),
            next(iter(_leftovers)),
        )
        return
    mark.unlink(missing_ok=True)


@dataclass(frozen=True)
class Entry:
    """What the index remembers of one stored article."""

    doc_id: str
    path: str
    """Path of the post relative to the archive folder, with ``/`` separators."""
    hash: str
    listing_mtime: int
    """Listing mtime in Unix seconds, 0 when unknown."""


class ArchiveIndex:
    """doc_id → (path, content hash, listing mtime), in SQLite inside the archive folder.

    SQLite in WAL mode survives a killed process at any moment; when the file is missing
    or damaged it is rebuilt from the posts (listing mtimes are then unknown).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.path = index_file(self.root)
        self._db = self._open()

    @classmethod
    def known(cls, root: str | os.PathLike[str]) -> Iterator[tuple[str, int]]:
        """(doc_id, listing mtime) of every archived article; empty for a missing archive."""
        if not Path(root).is_dir():
            return
        index = cls(root)
        try:
            yield from index.doc_ids()
        finally:
            index.close()

    def _open(self) -> sqlite3.Connection:
        fresh = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = self._connect_when_free()
        except sqlite3.OperationalError:
            raise  # locked for OPEN_WAIT_SECONDS, or unreadable: not damage, nothing to rebuild
        except sqlite3.DatabaseError as exc:
            logger.warning("archive index %s is damaged (%s); rebuilding it", self.path, exc)
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.replace(f"{self.path}{suffix}", f"{self.path}.damaged{suffix}")
            fresh = True
            db = self._connect()
        if fresh:
            self._rebuild(db)
        return db

    def _connect_when_free(self) -> sqlite3.Connection:
        # Workers sharing an archive open the index together. Switching a new database to
        # WAL can fail at once with "database is locked" (SQLite will not wait where
        # waiting could deadlock), which is a reason to try again, not damage.
        deadline = time.monotonic() + OPEN_WAIT_SECONDS
        while True:
            try:
                return self._connect()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            # WAL with synchronous=NORMAL loses nothing when the process is killed; a power
            # cut can lose the last rows, which only means those posts are fetched again.
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(_SCHEMA)
            db.execute("SELECT count(*) FROM posts").fetchone()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _rebuild(self, db: sqlite3.Connection) -> None:
        rows = []
        for folder, dirs, files in os.walk(self.root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                m = POST_NAME.match(name)
                if not m:
                    continue
                full = Path(folder, name)
                rel = full.relative_to(self.root).as_posix()
                rows.append((m.group(2), rel, content_hash(full.read_bytes()), 0))
        with db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT OR REPLACE INTO posts VALUES (?, ?, ?, ?)", rows)
        if rows:
            logger.info("rebuilt archive index from %d posts in %s", len(rows), self.root)

    def get(self, doc_id: str) -> Entry | None:
        row = self._db.execute(
            "SELECT doc_id, path, hash, listing_mtime FROM posts WHERE doc_id = ?", (doc_id,)
        ).fetchone()
        return Entry(*row) if row else None

    def put(self, entry: Entry) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO posts VALUES (?, ?, ?, ?)",
            (entry.doc_id, entry.path, entry.hash, entry.listing_mtime),
        )

    def put_many(self, entries: Iterable[Entry]) -> None:
        """Record many entries in one transaction: all or none."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT OR REPLACE INTO posts VALUES (?, ?, ?, ?)",
                [(e.doc_id, e.path, e.hash, e.listing_mtime) for e in entries],
            )

    def doc_ids(self) -> Iterator[tuple[str, int]]:
        yield from self._db.execute("SELECT doc_id, listing_mtime FROM posts")

    def __len__(self) -> int:
        return self._db.execute("SELECT count(*) FROM posts").fetchone()[0]

    def close(self) -> None:
        self._db.close()


class GroupCommit:
    """Durable posts in groups, for the crawl: ``await write(path, data, entry)`` returns
    once the post is fsync'ed under its final name and ``entry`` is committed to the index.

    The posts waiting at any moment are written, fsync'ed and renamed as one job in a helper
    thread, and their index rows go in one transaction; posts arriving meanwhile form the
    next group. The job is system calls only, each of which lets go of the GIL: a helper
    thread doing Python work per post (rendering) held the GIL against the crawl thread and
    cost more than the work, and file creation in the crawl thread waited behind the journal
    commits the fsyncs force. The order per post is :func:`atomic_write`'s: data durable,
    then renamed, then indexed, so a ``kill -9`` between any two steps leaves an old post, a
    swept temporary file, or a post that is fetched again — never half a post.
    """

    def __init__(self, index: ArchiveIndex, mode: int) -> None:
        self.index = index
        self.mode = mode
        self._waiting: list[tuple[Path, bytes, Entry, asyncio.Future[None]]] = []
        self._flusher: asyncio.Future[None] | None = None

    async def write(self, path: Path, data: bytes, entry: Entry) -> None:
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((path, data, entry, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush())
        await done

    async def _flush(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            posts = [(path, data) for path, data, _, _ in group]
            try:
                errors = await run_in_thread(_write_durably, posts, self.mode)
            except Exception as exc:  # the thread job itself could not run
                errors = [exc] * len(group)
            durable = [entry for (_, _, entry, _), e in zip(group, errors, strict=True) if not e]
            try:
                if durable:
                    self.index.put_many(durable)
            except Exception as exc:  # sqlite3: disk full, locked too long, …
                errors = [e or exc for e in errors]
            for (_, _, _, done), error in zip(group, errors, strict=True):
                if done.done():
                    continue
                if error:
                    done.set_exception(error)
                else:
                    done.set_result(None)


def _write_durably(posts: list[tuple[Path, bytes]], mode: int) -> list[BaseException | None]:
    """Each post to an fsync'ed temporary file renamed over it, then the folders fsync'ed
    (helper thread); per post, None or the error that stopped it."""
    errors: list[BaseException | None] = []
    folders: set[Path] = set()
    for path, data in posts:
        try:
            _replace_durably(path, data, mode)
        except OSError as exc:
            errors.append(exc)
        else:
            folders.add(path.parent)
            errors.append(None)
    for folder in folders:
        fsync_dir(folder)
    return errors
