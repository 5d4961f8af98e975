"""History on the mock Sina site: roll API day windows, a fixed clock, uneven days.

Config keys this module reads (on top of ``catalog.DEFAULT_CONFIG``)::

    "now": "2026-11-20T12:00:00+08:00"   the site's clock: listings show nothing newer,
                                          so a test can move "today" to simulate an outage
    channel "per_day": [30, 0, 300, …]    articles per Beijing day, the day of ``newest``
                                          first (0: an empty day); replaces "count"
    channel "windows": false              the list ignores day windows and answers with
                                          its newest-first pages (as an unverified lid may)

A day window is asked for as Sina's roll API takes it: ``etime`` is the day's **start**
(Unix seconds), ``stime`` = ``ctime`` its **end**; the answer's ``total`` counts the
window's entries and the pages run to ⌈total/num⌉.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sinacrawl.parsing.dates import BEIJING
from sinacrawl.testing.catalog import Catalog, MockArticle, MockChannel

DAY = timedelta(days=1)


def article_times(
    spec: dict[str, Any], start: datetime, spacing: timedelta, rng: random.Random
) -> Iterator[datetime]:
    """The listing times of a channel's articles, newest first.

    Without ``per_day``: one every ``spacing`` from ``start`` back. With it: each day's
    count spread evenly over that Beijing day (the first day ends at ``start``). One
    ``rng`` draw per article either way, so catalogs without ``per_day`` stay the same.
    """
    per_day = spec.get("per_day")
    if per_day is None:
        for index in range(int(spec.get("count", 20))):
            yield start - index * spacing + timedelta(seconds=rng.randrange(60))
        return
    midnight = start.astimezone(BEIJING).replace(hour=0, minute=0, second=0, microsecond=0)
    for back, count in enumerate(int(n) for n in per_day):
        day_start = midnight - back * DAY
        day_end = start if back == 0 else day_start + DAY
        slot = (day_end - day_start) / max(count, 1)
        for n in range(count):
            jitter = timedelta(seconds=rng.randrange(60)) * min(1.0, slot / timedelta(minutes=2))
            yield day_end - (n + 1) * slot + jitter


def clock(catalog: Catalog) -> datetime | None:
    """The site's fixed 'now' (config ``now``), None when every article is visible."""
    value = catalog.config.get("now")
    return datetime.fromisoformat(value).astimezone(BEIJING) if value else None


def visible(catalog: Catalog, articles: list[MockArticle]) -> list[MockArticle]:
    """The articles published by the site's clock."""
    now = clock(catalog)
    return articles if now is None else [a for a in articles if a.ctime <= now]


def honours_windows(catalog: Catalog, channel: MockChannel) -> bool:
    for spec in catalog.config.get("channels", ()):
        if spec.get("name") == channel.name:
            return spec.get("windows", True) is not False
    return True


def _int(query: dict[str, list[str]], name: str) -> int | None:
    try:
        return int(query[name][0])
    except (KeyError, IndexError, ValueError):
        return None


def listed(
    catalog: Catalog, channel: MockChannel, query: dict[str, list[str]]
) -> list[MockArticle]:
    """What a roll API request for ``channel`` lists (before paging), newest first: the
    window ``[etime, stime)`` when the query names one and the list honours windows."""
    articles = visible(catalog, channel.articles)
    start, end = _int(query, "etime"), _int(query, "stime")
    if start is None or end is None or not honours_windows(catalog, channel):
        return articles
    return [a for a in articles if start <= a.ctime.timestamp() < end]


def published_between(
    catalog: Catalog, channel: str, since: datetime, until: datetime
) -> list[MockArticle]:
    """The site's own answer to "what did ``channel`` publish in [since, until)": what a
    backfill of that range must store, no more, no less."""
    articles = visible(catalog, catalog.channels[channel].articles)
    return [a for a in articles if since <= a.ctime < until]
