"""Shared test fixtures: where the real Sina data lives (../shared/fixtures by default).

Set SINACRAWL_FIXTURES to read the real pages from elsewhere. They are never copied into
this repository.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

# Fixtures for servers the tests start (kept in their own modules).
pytest_plugins = ["tests.mongo_server"]

# In CI (CI=true) property tests draw the same examples every run, so a landing is never
# blocked by a new random draw; locally they stay random and keep finding new cases.
hypothesis_settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(os.environ.get("SINACRAWL_FIXTURES", REPO.parent / "shared" / "fixtures"))
SYNTHETIC = Path(__file__).resolve().parent / "synthetic"


def real_pages() -> list[Path]:
    """Every real article page in the shared fixtures, sorted by name."""
    return sorted((FIXTURES / "sina-pages").glob("*.html"))


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        pytest.fail(f"real Sina fixtures not found at {FIXTURES}; set SINACRAWL_FIXTURES")
    return FIXTURES
