"""The run lock: one crawl per archive at a time, so overlapping cron runs never collide.

``fcntl.flock`` on a file (setting ``SINACRAWL_LOCK``, default
``<ARCHIVE_DIR>/.sinacrawl/run.lock``). The kernel drops the lock when the holder exits, even
on ``kill -9``, so a crashed run never leaves a stale lock behind. The file keeps the holder's
pid and start time only to make the "already running" message useful.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sinacrawl.runstate import lock_file
from sinacrawl.yesno import yes_no

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings


class LockHeld(RuntimeError):
    """Another run holds the lock; ``holder`` is what it wrote into the lock file."""

    def __init__(self, path: Path, holder: str) -> None:
        self.path = path
        self.holder = holder
        super().__init__(f"another sinacrawl run holds {path} ({holder or 'holder unknown'})")


def lock_path(settings: BaseSettings) -> Path | None:
    """Where the run lock lives, or None when locking is off.

    ``SINACRAWL_LOCK`` wins (a path, or ``off``/``0``/``false`` to disable). Without it, the
    lock sits in the archive's state folder. Distributed workers (``REDIS_URL`` set) share
    their work through Redis and may share one archive, so they take no lock unless
    ``SINACRAWL_LOCK`` names one.
    """
    explicit = settings.get("SINACRAWL_LOCK")
    if explicit not in (None, ""):
        if yes_no(explicit) is False:
            return None
        return Path(explicit)
    if settings.get("REDIS_URL"):
        return None
    return lock_file(settings)


class RunLock:
    """A non-blocking exclusive lock on a file; use as a context manager.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "run.lock"
    >>> with RunLock(path):
    ...     try:
    ...         RunLock(path).acquire()
    ...     except LockHeld as held:
    ...         print("held by pid", held.holder.split()[1] == str(os.getpid()))
    held by pid True
    >>> RunLock(path).acquire().release()
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock or raise LockHeld at once (never waits)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise LockHeld(self.path, holder) from None
        # The file is truncated only after we own it, so the holder's note is never lost.
        os.ftruncate(fd, 0)
        note = f"pid {os.getpid()} since {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n"
        os.write(fd, note.encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            # Unlock before close; the file itself stays (deleting it races with a waiter).
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""
