"""Where a run keeps its state: the one place that reads ``ARCHIVE_DIR`` and names the folder.

Everything a run needs beyond the stored articles lives in one hidden folder, the *run-state
folder*: ``<ARCHIVE_DIR>/.sinacrawl`` when there is an archive, ``./.sinacrawl`` when there is
none (``ARCHIVE_DIR`` set empty, e.g. a MongoDB-only run). In it:

    run.lock          the run lock (sinacrawl/extensions/lock.py; SINACRAWL_LOCK overrides)
    channels.json     which channels ended their last run cleanly (sinacrawl/incremental.py)
    mongo-spool/      batches MongoDB has not confirmed yet (MONGO_SPOOL_DIR overrides)
    index.sqlite3     the Hexo archive's index (sinacrawl/archive.py)
    writers/          marks of processes writing posts (sinacrawl/archive.py)
    symbols.sqlite    which stock symbols listed each article (sinacrawl/symbols.py)
    history.json      complete days, open gaps, last clean listing time (sinacrawl/history.py)

Components ask these functions; none of them reads ``ARCHIVE_DIR`` or builds the path itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

STATE_DIR_NAME = ".sinacrawl"
LOCK_FILE = "run.lock"
CHANNELS_FILE = "channels.json"
SPOOL_DIR = "mongo-spool"
INDEX_FILE = "index.sqlite3"


def archive_dir(settings: Any) -> Path | None:
    """The Hexo archive's folder (``ARCHIVE_DIR``), or None when the archive is off."""
    value = settings.get("ARCHIVE_DIR")
    return Path(value) if value else None


def state_dir_of(folder: str | Path) -> Path:
    """The run-state folder belonging to ``folder`` (an archive, or the working folder).

    >>> state_dir_of("archive").as_posix()
    'archive/.sinacrawl'
    """
    return Path(folder) / STATE_DIR_NAME


def state_dir(settings: Any) -> Path:
    """The run-state folder of a run with these settings (see the module docstring).

    >>> state_dir({"ARCHIVE_DIR": "site/source/_posts"}).as_posix(), state_dir({}).as_posix()
    ('site/source/_posts/.sinacrawl', '.sinacrawl')
    """
    return state_dir_of(archive_dir(settings) or ".")


def lock_file(settings: Any) -> Path:
    """The default run lock (``SINACRAWL_LOCK`` is read by the lock extension)."""
    return state_dir(settings) / LOCK_FILE


def channels_file(settings: Any) -> Path:
    """Per-channel "last run ended cleanly" marks of the incremental middleware."""
    return state_dir(settings) / CHANNELS_FILE


def spool_dir(settings: Any) -> Path:
    """Where MongoDB batches wait until MongoDB confirms them: ``MONGO_SPOOL_DIR`` or the
    run-state folder's ``mongo-spool``."""
    explicit = settings.get("MONGO_SPOOL_DIR")
    return Path(explicit) if explicit else state_dir(settings) / SPOOL_DIR


def index_file(folder: str | Path) -> Path:
    """The Hexo archive index of the archive in ``folder``."""
    return state_dir_of(folder) / INDEX_FILE
