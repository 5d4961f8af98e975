"""Dates: every form Sina prints, to an aware Beijing-time datetime.

Each form is an explicit pattern; nothing is parsed fuzzily (a fuzzy parser invents years
and months from stray digits). Text without a recognisable date gives None; text that looks
like a date but names an impossible one (month 13, hour 25) gives None and a warning.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone

logger = logging.getLogger(__name__)

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")

# Tried in order; the first that matches decides (a match that is no real date → None).
# Named groups: y m d, optional H M S, optional tz.
DATE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # 2021年11月22日 17:33 · 2009年11月09日13:48 · 2005年03月31日03:18 · seconds optional
    (
        "chinese",
        re.compile(
            r"(?P<y>\d{4})\s*年\s*(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*日"
            r"(?:\s*(?P<H>\d{1,2})\s*[:：]\s*(?P<M>\d{1,2})(?:\s*[:：]\s*(?P<S>\d{1,2}))?)?"
        ),
    ),
    # 2019-09-09 20:52:39 · 2021-11-22T17:33:50+08:00 · 2005-08-26 05:39:00 · 2004/10/10 17:06
    # · 2005.08.26 05:39 (mobile byline)
    (
        "numeric",
        re.compile(
            r"(?<!\d)(?P<y>\d{4})(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})(?!\d)"
            r"(?:(?:T|\s+)(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.\d+)?)?"
            r"\s*(?P<tz>Z|[+-]\d{2}:?\d{2})?)?",
            re.I,
        ),
    ),
)
_UNIX = re.compile(r"^\s*(\d{9,10})(?:\.\d+)?\s*$")
_UNIX_MS = re.compile(r"^\s*(\d{13})\s*$")


def from_unix(value: str | int | float | None) -> datetime | None:
    """Unix seconds (the roll API's strings) to Beijing time; None when not a number.

    >>> from_unix("1637573630").isoformat()
    '2021-11-22T17:33:50+08:00'
    """
    try:
        seconds = int(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    if seconds <= 0:
        return None
    try:
        return datetime.fromtimestamp(seconds, BEIJING)
    except (OverflowError, OSError, ValueError):
        return None


def _tz(value: str | None) -> timezone:
    if not value:
        return BEIJING  # Sina prints Beijing wall-clock time when it names no zone
    if value.upper() == "Z":
        return timezone.utc
    sign = -1 if value[0] == "-" else 1
    digits = value[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4])))


def parse_date(text: str | None) -> datetime | None:
    """The first Sina-style date in ``text``, as an aware Beijing datetime; None if none.

    >>> parse_date("2021年11月22日 17:33").isoformat()
    '2021-11-22T17:33:00+08:00'
    >>> parse_date("2009年11月09日13:48").isoformat()
    '2009-11-09T13:48:00+08:00'
    >>> parse_date("2019-09-09 20:52:39").isoformat()
    '2019-09-09T20:52:39+08:00'
    >>> parse_date("2022-07-31T06:13:25Z").isoformat()
    '2022-07-31T14:13:25+08:00'
    >>> parse_date("1637573630").isoformat()
    '2021-11-22T17:33:50+08:00'
    >>> parse_date("yesterday") is None
    True
    """
    return parse_date_and_precision(text)[0]


def parse_date_and_precision(text: str | None) -> tuple[datetime | None, bool]:
    """``parse_date`` plus whether the text named a time of day (one regex pass for both).

    >>> parse_date_and_precision("2005年03月31日")[1], parse_date_and_precision("10:10")
    (False, (None, False))
    """
    if not text:
        return None, False
    m = _UNIX.match(text)
    if m:
        return from_unix(m.group(1)), True
    m = _UNIX_MS.match(text)
    if m:
        return from_unix(int(m.group(1)) // 1000), True
    for name, pattern in DATE_PATTERNS:
        m = pattern.search(text)
        if m:
            return _build(m, name, text), m.group("H") is not None
    if any(ch.isdigit() for ch in text):
        logger.warning("no date form recognised in %r", text[:80])
    return None, False


def _build(m: re.Match[str], form: str, text: str) -> datetime | None:
    g = m.groupdict()
    try:
        tz = _tz(g.get("tz"))
        value = datetime(
            int(g["y"]),
            int(g["m"]),
            int(g["d"]),
            int(g["H"] or 0),
            int(g["M"] or 0),
            int(g["S"] or 0),
            tzinfo=tz,
        )
    except (ValueError, OverflowError):
        logger.warning("impossible %s date %r; leaving it unknown", form, text[:80])
        return None
    if not 1990 <= value.year <= 2100:
        logger.warning("date %r is outside any plausible publication year", text[:80])
        return None
    return value.astimezone(BEIJING)


def to_iso(value: datetime | None) -> str | None:
    """ISO 8601 in Beijing time, whole seconds: the item's form.

    >>> to_iso(parse_date("2021-11-22 17:33:50"))
    '2021-11-22T17:33:50+08:00'
    """
    if value is None:
        return None
    return value.astimezone(BEIJING).replace(microsecond=0).isoformat()


def utc_iso(value: datetime) -> str:
    """ISO 8601 in UTC, whole seconds (``crawled_at``).

    >>> utc_iso(datetime(2021, 11, 22, 17, 33, 50, tzinfo=BEIJING))
    '2021-11-22T09:33:50+00:00'
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).replace(microsecond=0).isoformat()


def parse_stored(value: object) -> datetime | None:
    """A date as sinacrawl stores it (an ISO 8601 string, or a datetime) as an aware datetime.

    The one rule for a time without an offset: it is Beijing time, as on Sina's pages.
    Anything else (blank, not a date, another type) is None.

    >>> parse_stored("2021-11-22T17:33:50+08:00").isoformat()
    '2021-11-22T17:33:50+08:00'
    >>> parse_stored("2021-11-22 17:33:50").isoformat(), parse_stored("2021-11-22T09:33:50Z").hour
    ('2021-11-22T17:33:50+08:00', 9)
    >>> parse_stored("yesterday"), parse_stored(""), parse_stored(1637573630)
    (None, None, None)
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value.strip():
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=BEIJING)
