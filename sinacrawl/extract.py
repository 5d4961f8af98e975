"""``python -m sinacrawl.extract [--url URL] FILE...``: re-extract saved Sina pages.

Prints one JSON object per file (JSON Lines, UTF-8, not ASCII-escaped) holding exactly the
Article fields, produced by ``sinacrawl.loaders.build_article`` — the spiders' own code path,
fed the file's raw bytes so that the encoding logic is the same too. Without ``--url`` the
article URL is read from the page itself (og:url, canonical link, share links); with several
files, the n-th ``--url`` belongs to the n-th file.

Exit status: 0 when every file was extracted, 1 when a file could not be read, 2 on bad
arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from sinacrawl.items import FIELDS
from sinacrawl.loaders import build_article


def extract_file(path: Path, url: str | None = None) -> dict[str, Any]:
    """The item for one saved page, as a plain dict in the item's field order."""
    item = build_article(path.read_bytes(), url)
    return {name: item.get(name) for name in FIELDS}


def to_json_line(item: dict[str, Any]) -> str:
    return json.dumps(item, ensure_ascii=False, separators=(",", ":"))


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sinacrawl.extract",
        description="Extract Sina article pages saved on disk; one JSON object per file.",
    )
    parser.add_argument(
        "--url",
        action="append",
        default=[],
        help="the page's original URL; repeat it for several files (the n-th --url is the "
        "n-th file's); files without one: the URL is found in the page",
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    args = parser.parse_args(argv)
    if len(args.url) > len(args.files):
        parser.error(f"{len(args.url)} --url values for {len(args.files)} files")
    urls: list[str | None] = [u.strip() or None for u in args.url]
    urls += [None] * (len(args.files) - len(urls))
    out = out or _utf8_stdout()
    status = 0
    for path, url in zip(args.files, urls, strict=True):
        try:
            item = extract_file(path, url)
        except OSError as exc:
            print(f"{path}: cannot read: {exc.strerror or exc}", file=sys.stderr)
            status = 1
            continue
        out.write(to_json_line(item) + "\n")
        out.flush()
    return status


def _utf8_stdout() -> TextIO:
    """stdout writing UTF-8 whatever the locale (JSON Lines are UTF-8 by definition)."""
    stream = sys.stdout
    if (getattr(stream, "encoding", "") or "").lower().replace("-", "") != "utf8":
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(encoding="utf-8")  # type: ignore[union-attr]
    return stream


if __name__ == "__main__":
    sys.exit(main())
