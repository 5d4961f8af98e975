"""Dates: every form Sina prints, to an aware Beijing-time datetime."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")


def from_unix(value: str | int | float | None) -> datetime | None:
    """Unix seconds (the roll API's strings) to Beijing time; None when not a number.

    >>> from_unix("1637573630").isoformat()
    '2021-11-22T17:33:50+08:00'
    """
    try:
        seconds = int(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if seconds <= 0:
        return None
    return datetime.fromtimestamp(seconds, BEIJING)
