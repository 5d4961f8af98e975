"""A MongoDB for the tests: nx-27017 (MongoDB wire protocol on SQLite) on a free loopback port.

The tests talk real wire protocol through pymongo, without needing a MongoDB install. With
``MONGO_URI`` set in the environment they use that server instead (a real MongoDB); each test
gets its own database, dropped afterwards, so a shared server is left as it was.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError

START_TIMEOUT = 20.0

# nx-27017 0.8.1 (neosqlite 1.17.2) has a fast path for simple updates that stores a ``$set``
# date of an existing document as a string ("2026-11-27 13:15:06"), which real MongoDB never
# does; its own switch for the general update path keeps dates BSON dates. The pipeline sends
# plain standard updates either way; only the stand-in server is adjusted.
LAUNCH = """
import sys
try:
    from neosqlite.collection.query_helper.utils import set_force_fallback
except ImportError:  # another neosqlite: run as is (BSON-date tests will say so)
    print("nx-27017 launcher: set_force_fallback not found", file=sys.stderr)
else:
    set_force_fallback(True)
from nx_27017.nx_27017 import main
sys.argv[0] = "nx-27017"
main()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class NxServer:
    """One nx-27017 child process; ``stop()`` kills it, ``start()`` brings it back on its port."""

    def __init__(
        self,
        workdir: Path,
        *,
        data: str = "memory",
        db: str | None = None,
        port: int | None = None,
    ) -> None:
        """``data``: ``memory``, or a folder for one SQLite file per database (survives a
        restart). Either way each logical database is isolated. ``db``: one SQLite file for
        every database instead (nx-27017's own default; then two databases share one
        ``articles`` table)."""
        self.workdir = workdir
        self.storage = ["--db", db] if db else ["--data-dir", data]
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self) -> NxServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-c",
            LAUNCH,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *self.storage,
            "--log-file",
            str(self.workdir / "nx.log"),
            "--pid-file",
            str(self.workdir / "nx.pid"),
        ]
        log = (self.workdir / "nx.out").open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                output = (self.workdir / "nx.out").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"nx-27017 exited with {self.process.returncode}: {output}")
            client = MongoClient(self.uri, serverSelectionTimeoutMS=300, connectTimeoutMS=300)
            try:
                client.admin.command("ping")
                return
            except PyMongoError:
                time.sleep(0.1)
            finally:
                client.close()
        self.stop()
        raise RuntimeError(f"nx-27017 did not answer ping on port {self.port}")

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server: SIGKILL with ``kill`` (an outage), else terminate politely."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        if kill:
            process.kill()
        else:
            process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def mongo_server_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URI of the test MongoDB: ``$MONGO_URI``, else a session-wide nx-27017."""
    external = os.environ.get("MONGO_URI")
    if external:
        yield external
        return
    server = NxServer(tmp_path_factory.mktemp("nx-27017")).start()
    try:
        yield server.uri
    finally:
        server.stop()


def with_database(uri: str, database: str) -> str:
    """The URI pointing at another database, keeping credentials and options."""
    head, _, tail = uri.partition("://")
    hosts_and_path, _, query = tail.partition("?")
    hosts = hosts_and_path.split("/", 1)[0]
    return f"{head}://{hosts}/{database}" + (f"?{query}" if query else "")


@pytest.fixture
def mongo_uri(mongo_server_uri: str) -> Iterator[str]:
    """A URI with a database of its own for this test, dropped afterwards."""
    database = f"sinacrawl_test_{uuid.uuid4().hex[:12]}"
    uri = with_database(mongo_server_uri, database)
    yield uri
    client = MongoClient(uri, serverSelectionTimeoutMS=3000)
    try:
        client.drop_database(database)
    except PyMongoError:
        pass  # the server of an outage test may be gone; nothing left to clean
    finally:
        client.close()
