"""The one reading of yes/no values (settings, environment variables, ``-a`` arguments)."""

from __future__ import annotations

from typing import Any

YES = frozenset({"1", "true", "yes", "on"})
NO = frozenset({"0", "false", "no", "off", "none", ""})


def yes_no(value: Any) -> bool | None:
    """True for yes, False for no (and for None), None for anything that is neither.

    >>> yes_no("Yes"), yes_no(" off "), yes_no(None), yes_no(True), yes_no("maybe")
    (True, False, False, True, None)
    """
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in YES:
        return True
    if text in NO:
        return False
    return None
