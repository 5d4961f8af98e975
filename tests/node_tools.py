"""Node packages the Hexo and YAML tests run, installed once into a cache outside the repo.

``npm install`` runs only when a package is missing, under a file lock so parallel pytest
processes share one install. The cache is ``$SINACRAWL_NODE_CACHE`` or
``~/.cache/sinacrawl/node``; nothing is written into the repository.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

CACHE = Path(os.environ.get("SINACRAWL_NODE_CACHE", Path.home() / ".cache" / "sinacrawl" / "node"))
NPM_TIMEOUT = 900


def node_project(name: str, packages: dict[str, str]) -> Path:
    """A folder whose node_modules holds ``packages`` (name → version range)."""
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.fail("node and npm are needed for the Hexo/js-yaml tests (Debian: nodejs npm)")
    folder = CACHE / name
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # Written only after a complete install: an interrupted npm run is simply redone.
        marker = folder / ".installed.json"
        wanted = json.dumps(packages, sort_keys=True)
        if not marker.exists() or marker.read_text() != wanted:
            marker.unlink(missing_ok=True)
            (folder / "package.json").write_text(
                json.dumps({"name": f"sinacrawl-{name}", "private": True, "dependencies": packages})
            )
            subprocess.run(
                ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=folder,
                check=True,
                timeout=NPM_TIMEOUT,
                stdin=subprocess.DEVNULL,
            )
            marker.write_text(wanted)
    return folder


def run_node(script: str, payload: object, cwd: Path, timeout: float = 300, env=None) -> object:
    """Run ``script`` with node in ``cwd``, JSON in on stdin, JSON out on stdout."""
    proc = subprocess.run(
        ["node", "-e", script],
        input=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        cwd=cwd,
        capture_output=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"node failed: {proc.stderr.decode('utf-8', 'replace')[-2000:]}")
    return json.loads(proc.stdout.decode("utf-8"))
