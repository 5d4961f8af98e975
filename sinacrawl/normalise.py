"""The one normalisation step: any item-like value in SPEC §3's shape.

Every field present, lists as lists of unique non-empty strings, single-line fields with
their whitespace collapsed, ``body_text`` one paragraph a line, ``published_at`` ISO 8601 in
Beijing time and ``crawled_at`` ISO 8601 UTC, whole seconds, and no keyword that merely
repeats the title. Extraction ends with it (``loaders.build_article``) and the validate
pipeline applies it to whatever reaches the pipelines; on its own output it changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from itemadapter import ItemAdapter

from sinacrawl.items import LIST_FIELDS, empty_article
from sinacrawl.parsing.dates import BEIJING, parse_stored
from sinacrawl.parsing.text import clean_text, repeats_title
from sinacrawl.parsing.urls import canonical_url, doc_id_from_url

# Fields that are one line of text.
LINE_FIELDS = ("title", "source", "author", "editor", "doc_id", "url", "headimg")


def paragraphs(value: Any) -> str | None:
    """One paragraph a line, each collapsed, empty lines gone.

    >>> paragraphs("第一段\\n\\n  第二  段 \\r\\n")
    '第一段\\n第二 段'
    """
    if value is None:
        return None
    lines = (clean_text(line) for line in re.split(r"[\r\n\u2028\u2029]+", str(value)))
    text = "\n".join(line for line in lines if line)
    return text or None


def as_list(value: Any) -> list[str]:
    """A list of unique, collapsed, non-empty strings, order kept.

    >>> as_list("sh603883"), as_list(("a", " a ", None, "b")), as_list(None)
    (['sh603883'], ['a', 'b'], [])
    """
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        value = [value]
    out: list[str] = []
    for v in value:
        text = clean_text(v.decode("utf-8", "replace") if isinstance(v, bytes) else v)
        if text and text not in out:
            out.append(text)
    return out


def iso_datetime(value: Any, tz: timezone) -> str | None:
    """ISO 8601 with offset in ``tz``, whole seconds; naive values are Beijing time.

    >>> iso_datetime("2021-11-22 17:33:50", BEIJING), iso_datetime(1637573630, timezone.utc)
    ('2021-11-22T17:33:50+08:00', '2021-11-22T09:33:50+00:00')
    """
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        parsed = datetime.fromtimestamp(value, tz)
    else:
        parsed = parse_stored(value if isinstance(value, datetime) else str(value))
        if parsed is None:
            return None
    return parsed.astimezone(tz).replace(microsecond=0).isoformat()


def normalise(item: Any) -> dict[str, Any]:
    """SPEC §3's shape for any item-like value (never raises on odd values)."""
    data = empty_article()
    for name, value in ItemAdapter(item).items():
        if name in data:
            data[name] = value
    for name in LINE_FIELDS:
        data[name] = clean_text(data[name])
    for name in LIST_FIELDS:
        data[name] = as_list(data[name])
    data["body_text"] = paragraphs(data["body_text"])
    if data["body_html"] is not None:
        data["body_html"] = str(data["body_html"]).replace("\ufffd", "").strip() or None
    data["published_at"] = iso_datetime(data["published_at"], BEIJING)
    data["crawled_at"] = iso_datetime(data["crawled_at"], timezone.utc)
    if data["url"]:
        data["url"] = canonical_url(data["url"])
    if not data["doc_id"]:
        data["doc_id"] = doc_id_from_url(data["url"])
    # SPEC §3: keywords that merely repeat the title are not keywords.
    data["keywords"] = [k for k in data["keywords"] if not repeats_title(k, data["title"])]
    return data
