"""The run lock: one run per archive; a killed holder never leaves a stale lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from scrapy.settings import Settings

from sinacrawl.extensions.lock import LockHeld, RunLock, lock_path
from tests.opskit import REPO

HOLDER = """
import sys, time
from pathlib import Path
from sinacrawl.extensions.lock import RunLock
RunLock(Path(sys.argv[1])).acquire()
print("locked", flush=True)
time.sleep(60)
"""


def test_second_holder_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    path = tmp_path / "state" / "run.lock"
    with RunLock(path):
        with pytest.raises(LockHeld) as held:
            RunLock(path).acquire()
        assert held.value.holder.startswith(f"pid {os.getpid()} since ")
        assert str(path) in str(held.value)
    # Released on exit: free again, and the file stays (deleting it would race a waiter).
    RunLock(path).acquire().release()
    assert path.exists()


def test_lock_path_rules(tmp_path: Path) -> None:
    assert lock_path(Settings({"ARCHIVE_DIR": str(tmp_path)})) == tmp_path / ".sinacrawl/run.lock"
    assert lock_path(Settings({"SINACRAWL_LOCK": "/var/lock/sina.lock"})) == Path(
        "/var/lock/sina.lock"
    )
    assert lock_path(Settings({"SINACRAWL_LOCK": "off", "ARCHIVE_DIR": "a"})) is None
    # Distributed workers coordinate through Redis; they take no archive lock by default...
    assert lock_path(Settings({"REDIS_URL": "redis://127.0.0.1:1", "ARCHIVE_DIR": "a"})) is None
    # ...unless asked to.
    assert lock_path(
        Settings({"REDIS_URL": "redis://127.0.0.1:1", "SINACRAWL_LOCK": str(tmp_path / "l")})
    ) == (tmp_path / "l")


@pytest.mark.slow
def test_kill_9_of_the_holder_frees_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "run.lock"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(LockHeld) as held:
            RunLock(path).acquire()
        assert f"pid {child.pid}" in held.value.holder
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    deadline = time.monotonic() + 5
    while True:
        try:
            RunLock(path).acquire().release()
            break
        except LockHeld:
            assert time.monotonic() < deadline, "the lock outlived its killed holder"
            time.sleep(0.05)
