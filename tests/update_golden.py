"""Compare the extractor with the hand-checked golden files; show diffs, write only on --accept.

    .venv/bin/python tests/update_golden.py                 # unified diff for every page
    .venv/bin/python tests/update_golden.py p05 p11         # pages whose stem starts so
    .venv/bin/python tests/update_golden.py --accept p05    # write p05's expected file

Also the one place that knows how golden files are read, compared and written; the golden
tests and the extraction benchmark import these helpers.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script: make `tests` and `sinacrawl` importable
    sys.path.insert(0, str(REPO))

from tests.conftest import FIXTURES, real_pages  # noqa: E402

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"

# Compared exactly; body_text is compared by similarity (see body_similarity).
EXACT_FIELDS: tuple[str, ...] = (
    "url",
    "doc_id",
    "title",
    "published_at",
    "source",
    "author",
    "editor",
    "keywords",
    "section",
    "stocks",
    "images",
    "headimg",
)
GOLDEN_FIELDS: tuple[str, ...] = (*EXACT_FIELDS, "body_text")
BODY_MIN_RATIO = 0.97

# Text that only page furniture carries; none of it may survive body cleaning.
BOILERPLATE_MARKERS: tuple[str, ...] = (
    "责任编辑",
    "新浪财经APP",
    "免责声明",
    "扫描二维码",
    "扫描左方二维码",
    "长按二维码",
    "特别声明：以上文章内容",
    "进入【新浪财经股吧】讨论",
    "本期精彩回顾",
    "新浪众测",
    "点击进入专题",
)

_TABLE_ROW = re.compile(r"^\|\s*(p\d+[^|]*?)\.html\s*\|\s*([^|]*?)\s*\|")
_SPACE = re.compile(r"\s+")


def request_urls(readme: Path | None = None) -> dict[str, str | None]:
    """Each real page's original URL from the fixtures README table (None when not given).

    A page without a URL there is fed to the extractor without one: it must find it itself.
    """
    readme = readme or FIXTURES / "README.md"
    urls: dict[str, str | None] = {}
    for line in readme.read_text(encoding="utf-8").splitlines():
        m = _TABLE_ROW.match(line)
        if m:
            stem, url = m.groups()
            urls[stem] = url if url.startswith("http") else None
    return urls


def golden_path(stem: str) -> Path:
    return GOLDEN_DIR / f"{stem}.json"


def load_golden(stem: str) -> dict[str, Any]:
    return json.loads(golden_path(stem).read_text(encoding="utf-8"))


def dump_golden(expected: Mapping[str, Any]) -> str:
    """The one serialisation of golden files: sorted keys, real characters, indent 2."""
    return json.dumps(dict(expected), ensure_ascii=False, sort_keys=True, indent=2) + "\n"


def normalise_body(text: str | None) -> str:
    """Lines stripped (U+3000 and NBSP too), whitespace runs collapsed, empty lines dropped."""
    lines = (_SPACE.sub(" ", line).strip() for line in (text or "").splitlines())
    return "\n".join(line for line in lines if line)


def body_similarity(expected: str | None, actual: str | None) -> float:
    """Character-level similarity of two bodies after normalise_body (1.0 = identical)."""
    a, b = normalise_body(expected), normalise_body(actual)
    if not a and not b:
        return 1.0
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def boilerplate_in(text: str | None) -> list[str]:
    return [marker for marker in BOILERPLATE_MARKERS if marker in (text or "")]


def load_extractor() -> Callable[..., Any]:
    """sinacrawl.loaders.build_article, or a clear ImportError naming what is missing."""
    try:
        from sinacrawl.loaders import build_article
    except ImportError as exc:
        raise ImportError(
            "the extractor entry point sinacrawl.loaders.build_article(body, url) is not "
            f"importable yet ({exc}); the golden tests need it"
        ) from exc
    return build_article


def extract_page(page: Path, url: str | None) -> dict[str, Any]:
    """Run the extractor over one saved page exactly as the spiders would (raw bytes)."""
    item = load_extractor()(page.read_bytes(), url)
    return dict(item)


def expected_from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: item.get(name) for name in GOLDEN_FIELDS}


def _diff_view(expected: Mapping[str, Any]) -> list[str]:
    """The golden JSON with body_text as normalised lines: a diff shows changed paragraphs,
    not the whitespace the comparison ignores."""
    view = dict(expected)
    if isinstance(view.get("body_text"), str):
        view["body_text"] = normalise_body(view["body_text"]).splitlines()
    return dump_golden(view).splitlines(keepends=True)


def golden_diff(stem: str, actual: Mapping[str, Any]) -> str:
    """Unified diff from the golden file to what the extractor gives now ('' when equal)."""
    path = golden_path(stem)
    old = _diff_view(load_golden(stem)) if path.exists() else []
    new = _diff_view(expected_from_item(actual))
    return "".join(
        difflib.unified_diff(
            old,
            new,
            fromfile=f"golden/{path.name}",
            tofile=f"extractor/{path.name}",
        )
    )


def select_pages(prefixes: Iterable[str]) -> list[Path]:
    prefixes = tuple(prefixes)
    pages = real_pages()
    if not prefixes:
        return pages
    return [p for p in pages if p.stem.startswith(prefixes)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="*", help="page stems or stem prefixes (default: all)")
    parser.add_argument(
        "--accept",
        action="store_true",
        help="write the extractor's output as the expected file of each page NAMED",
    )
    args = parser.parse_args(argv)
    if args.accept and not args.pages:
        parser.error("--accept needs the pages to write, by name: accepting is per page")
    pages = select_pages(args.pages)
    if not pages:
        parser.error(f"no real page matches {args.pages} in {FIXTURES / 'sina-pages'}")
    urls = request_urls()
    changed = 0
    for page in pages:
        try:
            item = extract_page(page, urls.get(page.stem))
        except Exception as exc:  # report every page, not just the first failure
            print(f"!! {page.stem}: extractor raised {type(exc).__name__}: {exc}")
            changed += 1
            continue
        diff = golden_diff(page.stem, item)
        if not diff:
            print(f"== {page.stem}: unchanged")
            continue
        changed += 1
        sys.stdout.write(diff)
        if args.accept:
            golden_path(page.stem).write_text(dump_golden(expected_from_item(item)), "utf-8")
            print(f"-> wrote {golden_path(page.stem)}; now check it against the page by hand")
    return 1 if changed and not args.accept else 0


if __name__ == "__main__":
    sys.exit(main())
