"""Compare the per-stock listing parser with its hand-checked golden file; --accept writes it.

    .venv/bin/python tests/update_listing_golden.py            # unified diff ('' when equal)
    .venv/bin/python tests/update_listing_golden.py --accept   # write what the parser says now

The golden file (tests/golden/listings/) was first written from the raw HTML by a throwaway
regex over the ``YYYY-MM-DD&nbsp;HH:MM&nbsp;&nbsp;<a href=…>title</a>`` rows, not by the
parser, and checked against the page by eye: 40 rows, 2026-09-04 09:50 (cj.sina.cn, 8月白酒行业
观察) down to 2026-09-02 13:56 (stock/observe), the next link to Page=2.
"""

from __future__ import annotations

import difflib
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: make `tests` and `sinacrawl` importable
    sys.path.insert(0, str(REPO))

from sinacrawl.parsing.stocklist import StockNewsPage, parse_stock_news  # noqa: E402
from tests.conftest import FIXTURES  # noqa: E402
from tests.update_golden import GOLDEN_DIR, dump_golden  # noqa: E402

FIXTURE = "stocknews_vcb_allnewsstock_sh600519_2026-09-04_utf8.html"
PAGE_URL = (
    "https://vip.stock.finance.sina.com.cn/corp/go.php/vCB_AllNewsStock/symbol/sh600519.phtml"
)
GOLDEN = GOLDEN_DIR / "listings" / FIXTURE.replace(".html", ".json")


def fixture_path() -> Path:
    return FIXTURES / "sina-listings" / FIXTURE


def view(page: StockNewsPage) -> dict[str, Any]:
    """What the golden file holds for a parsed page."""
    return {
        "fixture": FIXTURE,
        "url": PAGE_URL,
        "stock_name": page.stock_name,
        "next_url": page.next_url,
        "refused_next": page.refused_next,
        "skipped": page.skipped,
        "entries": [
            {
                "published": e.ctime.isoformat() if e.ctime else None,
                "url": e.url,
                "doc_id": e.doc_id,
                "title": e.title,
            }
            for e in page.entries
        ],
    }


def load() -> dict[str, Any]:
    return json.loads(GOLDEN.read_text(encoding="utf-8"))


def main(argv: list[str]) -> int:
    actual = dump_golden(view(parse_stock_news(fixture_path().read_bytes(), PAGE_URL)))
    if argv == ["--accept"]:
        GOLDEN.write_text(actual, encoding="utf-8")
        print(f"wrote {GOLDEN}")
        return 0
    expected = GOLDEN.read_text(encoding="utf-8") if GOLDEN.exists() else ""
    diff = difflib.unified_diff(
        expected.splitlines(True), actual.splitlines(True), str(GOLDEN), "parser now"
    )
    sys.stdout.writelines(diff)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
