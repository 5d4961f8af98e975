"""Storage failures as counted outcomes: one log line each, never a write outside the archive.

A post that cannot be written (disk full, read-only folder, a folder that leads out of the
archive through a symlink) fails that article: :func:`storage_failed` logs one line with the
doc_id and the reason, counts ``sinacrawl/storage/failed/<reason>`` (exit status 4) and
returns the :class:`~sinacrawl.exceptions.StorageFailed` for the pipeline to raise, which
the accounting counts as ``failed/<reason>``. Tracebacks are left to the first failure of a
kind (:mod:`sinacrawl.logformatter`); here there are none, the reason says it all.
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sinacrawl.exceptions import StorageFailed

if TYPE_CHECKING:
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)

FAILED = "sinacrawl/storage/failed/"
_REASONS = {
    errno.ENOSPC: "disk_full",
    errno.EDQUOT: "disk_full",
    errno.EROFS: "read_only",
    errno.EACCES: "permission",
    errno.EPERM: "permission",
    errno.ENOTDIR: "not_a_folder",
    errno.EISDIR: "is_a_folder",
}


class ArchiveEscape(OSError):
    """A post's folder resolves (through a symlink) to a place outside the archive."""


def confine(root: Path, target: Path) -> None:
    """Raise ArchiveEscape unless ``target``'s folder, symlinks resolved, is inside ``root``.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> confine(root, root / "a" / "b.md")
    >>> (root / "out").symlink_to(tempfile.mkdtemp())
    >>> confine(root, root / "out" / "b.md")
    Traceback (most recent call last):
    sinacrawl.storeguard.ArchiveEscape: ...
    """
    real_root = root.resolve()
    folder = target.parent.resolve()
    if not folder.is_relative_to(real_root):
        raise ArchiveEscape(
            errno.EXDEV, f"{target.parent} leads outside the archive {real_root} (to {folder})"
        )


def storage_reason(exc: BaseException) -> str:
    """A short stable token for why a write failed.

    >>> storage_reason(OSError(errno.ENOSPC, "No space left on device"))
    'disk_full'
    """
    if isinstance(exc, ArchiveEscape):
        return "outside_archive"
    code = getattr(exc, "errno", None)
    if code in _REASONS:
        return _REASONS[code]
    if code in errno.errorcode:
        return errno.errorcode[code].lower()
    return type(exc).__name__.lower()


def storage_failed(
    store: str, item: Any, exc: BaseException, stats: StatsCollector | None
) -> StorageFailed:
    """Log and count one failed write; the exception the pipeline raises for it."""
    reason = storage_reason(exc)
    doc_id = item.get("doc_id") if hasattr(item, "get") else None
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    where = getattr(exc, "filename", None)
    logger.error(
        "%s could not store %s: %s (%s%s)",
        store,
        doc_id,
        reason,
        detail[:300],
        f": {os.fsdecode(where)[:300]}" if where else "",
    )
    if stats is not None:
        stats.inc_value(FAILED + reason)
    return StorageFailed(reason, f"{store}: {detail[:200]}")
