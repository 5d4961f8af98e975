"""GroupCommit: the crawl's post writes, made durable and indexed in groups."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

import sinacrawl.archive as archive
from sinacrawl.archive import TMP_PREFIX, ArchiveIndex, Entry, GroupCommit, content_hash


def entry(root: Path, n: int) -> tuple[Path, bytes, Entry]:
    path = root / "财经" / f"2026-11-27-idoc{n:04d}.md"
    data = f"---\ntitle: 第{n}篇\n---\n".encode()
    return (
        path,
        data,
        Entry(f"idoc{n:04d}", path.relative_to(root).as_posix(), content_hash(data), n),
    )


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(TMP_PREFIX)]


def write_all(commit: GroupCommit, posts) -> list[BaseException | None]:
    async def run():
        return await asyncio.gather(
            *(commit.write(*post) for post in posts), return_exceptions=True
        )

    return asyncio.run(run())


def test_concurrent_posts_are_grouped_and_each_is_durable_then_indexed(tmp_path, monkeypatch):
    groups: list[int] = []
    write_durably = archive._write_durably

    def counting(posts, mode):
        groups.append(len(posts))
        return write_durably(posts, mode)

    monkeypatch.setattr(archive, "_write_durably", counting)
    index = ArchiveIndex(tmp_path)
    commit = GroupCommit(index, 0o644)
    posts = [entry(tmp_path, n) for n in range(40)]

    assert write_all(commit, posts) == [None] * 40
    assert sum(groups) == 40 and len(groups) < 40  # grouped, and nothing left behind
    for path, data, expected in posts:
        assert path.read_bytes() == data
        assert path.stat().st_mode & 0o777 == 0o644
        assert index.get(expected.doc_id) == expected
    assert temp_files(tmp_path) == []


def test_a_post_that_cannot_be_renamed_fails_alone_and_is_not_indexed(tmp_path):
    index = ArchiveIndex(tmp_path)
    commit = GroupCommit(index, 0o644)
    posts = [entry(tmp_path, n) for n in range(5)]
    blocker = posts[2][0]
    (blocker / "occupied").mkdir(parents=True)  # a non-empty folder where the post should go

    results = write_all(commit, posts)

    assert isinstance(results[2], OSError)
    assert [r for i, r in enumerate(results) if i != 2] == [None] * 4
    assert index.get(posts[2][2].doc_id) is None
    assert [index.get(e.doc_id) for _, _, e in posts if e.doc_id != posts[2][2].doc_id] == [
        e for _, _, e in posts if e.doc_id != posts[2][2].doc_id
    ]
    assert temp_files(tmp_path) == []


def test_an_index_that_cannot_commit_fails_the_group(tmp_path):
    index = ArchiveIndex(tmp_path)
    commit = GroupCommit(index, 0o644)
    posts = [entry(tmp_path, n) for n in range(3)]
    index.close()  # every statement now raises sqlite3.ProgrammingError

    results = write_all(commit, posts)

    assert all(isinstance(r, Exception) and "closed" in str(r) for r in results), results
    # The files are in place (fetched again and found identical next time), never half-written.
    assert [p.read_bytes() for p, _, _ in posts] == [d for _, d, _ in posts]
    assert temp_files(tmp_path) == []


def test_a_full_disk_while_writing_the_temp_file_leaves_nothing(tmp_path, monkeypatch):
    index = ArchiveIndex(tmp_path)
    commit = GroupCommit(index, 0o644)
    path, data, expected = entry(tmp_path, 1)
    real_write = os.write

    def full(fd, view):
        if len(view) == len(data):
            raise OSError(28, "No space left on device")
        return real_write(fd, view)

    monkeypatch.setattr(archive.os, "write", full)
    with pytest.raises(OSError, match="No space left"):
        asyncio.run(commit.write(path, data, expected))
    assert not path.exists() and temp_files(tmp_path) == []
    assert index.get(expected.doc_id) is None


OPENER = r"""
import sys, time
from sinacrawl.archive import ArchiveIndex, Entry
root, n, start = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
time.sleep(max(0.0, start - time.time()))
index = ArchiveIndex(root)
index.put_many([Entry(f"iworker{n}", f"{n}.md", "h", 0)])
index.close()
"""


def test_workers_opening_a_new_archive_index_together_all_get_it_whole(tmp_path):
    """Distributed workers sharing one archive start together: a lock while the first one
    switches the new index to WAL is waited out, never taken for damage."""
    import subprocess
    import sys
    import time

    from tests.conftest import REPO

    for attempt in range(5):
        root = tmp_path / str(attempt)
        start = time.time() + 1.0  # interpreters started; then all open at once
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", OPENER, str(root), str(n), str(start)],
                env={**os.environ, "PYTHONPATH": str(REPO)},
                stderr=subprocess.PIPE,
            )
            for n in range(6)
        ]
        errors = [p.communicate(timeout=60)[1].decode() for p in procs]
        assert [p.returncode for p in procs] == [0] * 6, errors
        assert not list(root.rglob("*.damaged*"))
        index = ArchiveIndex(root)
        assert sorted(d for d, _ in index.doc_ids()) == [f"iworker{n}" for n in range(6)]
        index.close()
