"""Spider arguments (``-a name=value``): yes/no, bounded numbers, Beijing-time windows.

Every spider reads its arguments through these, so a bad value is one clear usage error
before anything is fetched, never a silently ignored or misread argument.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scrapy.exceptions import UsageError

from sinacrawl.parsing.dates import BEIJING
from sinacrawl.yesno import yes_no


def parse_bool(name: str, value: Any) -> bool:
    """``-a refresh=1`` → True; anything not clearly yes/no is a usage error.

    >>> parse_bool("refresh", "yes"), parse_bool("refresh", None)
    (True, False)
    """
    answer = yes_no(value)
    if answer is not None:
        return answer
    raise UsageError(f"-a {name}={value!r}: expected 1/0, true/false, yes/no")


def parse_int(name: str, value: Any, *, default: int, low: int, high: int) -> int:
    """An integer argument within [low, high]; a clear usage error otherwise."""
    if value is None or str(value).strip() == "":
        return default
    try:
        number = int(str(value).strip())
    except ValueError:
        raise UsageError(f"-a {name}={value!r}: expected a whole number") from None
    if not low <= number <= high:
        raise UsageError(f"-a {name}={number}: expected {low} to {high}")
    return number


def parse_when(name: str, value: Any) -> datetime | None:
    """A date or datetime in Beijing time (an explicit offset is honoured).

    >>> parse_when("since", "2026-11-01").isoformat()
    '2026-11-01T00:00:00+08:00'
    >>> parse_when("until", "2026-11-01 08:30").isoformat()
    '2026-11-01T08:30:00+08:00'
    >>> parse_when("since", "2026-11-01T00:00:00Z").isoformat()
    '2026-11-01T08:00:00+08:00'
    """
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip().replace("/", "-")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"-a {name}={value!r}: expected a date or datetime such as 2026-11-01 or "
            "2026-11-01T08:00 (Beijing time)"
        ) from None
    if when.tzinfo is None:
        return when.replace(tzinfo=BEIJING)
    return when.astimezone(BEIJING)


@dataclass(frozen=True)
class Window:
    """``[since, until)`` in Beijing time; either end may be open."""

    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def from_args(cls, since: Any, until: Any) -> Window:
        window = cls(parse_when("since", since), parse_when("until", until))
        if window.since and window.until and window.since >= window.until:
            raise UsageError(
                f"-a since={since} is not before -a until={until}: the window is empty"
            )
        return window

    def position(self, when: datetime | None) -> int:
        """-1 before the window, 0 inside (or unknown), 1 at or after its end."""
        if when is None:
            return 0
        if self.since is not None and when < self.since:
            return -1
        if self.until is not None and when >= self.until:
            return 1
        return 0

    def __str__(self) -> str:
        since = self.since.isoformat() if self.since else "…"
        until = self.until.isoformat() if self.until else "…"
        return f"[{since}, {until})"


def check_no_unknown_args(spider: str, kwargs: dict[str, Any], valid: Iterable[str]) -> None:
    """A misspelled ``-a`` argument (``chanels=``) must not be silently ignored.

    Names starting with ``_`` (scrapyd's ``_job``) and ``name`` are Scrapy's own.
    """
    unknown = sorted(k for k in kwargs if not k.startswith("_") and k != "name")
    if unknown:
        raise UsageError(
            f"{spider} spider: unknown argument{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(f'-a {k}=' for k in unknown)}; valid: "
            f"{', '.join(f'-a {k}=' for k in valid)}"
        )
