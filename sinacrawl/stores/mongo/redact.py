"""The MongoDB password kept out of everything sinacrawl logs, raises, counts or spools."""

from __future__ import annotations

import logging
import re
from urllib.parse import quote, quote_plus, unquote, unquote_plus

# Loggers of pymongo that may print connection details; they get the redacting filter.
PYMONGO_LOGGERS = (
    "pymongo",
    "pymongo.client",
    "pymongo.command",
    "pymongo.connection",
    "pymongo.serverSelection",
    "pymongo.topology",
)
# Server error codes that mean "try again later" rather than "this document is refused"

_USERINFO = re.compile(r"(?i)(mongodb(?:\+srv)?://[^:@/\s]*):[^@\s]*@")


class Redactor:
    """Removes the MongoDB password (raw and URL-escaped) from any text.

    >>> redact = Redactor("mongodb://bob:p%40ss@db.example:27017/sina")
    >>> redact("auth failed for mongodb://bob:p%40ss@db.example:27017/sina (p@ss)")
    'auth failed for mongodb://bob:***@db.example:27017/sina (***)'
    """

    def __init__(self, uri: str) -> None:
        secrets: set[str] = set()
        password = _password_of(uri)
        if password:
            plain = unquote_plus(password)
            secrets |= {password, plain, unquote(password), quote_plus(plain), quote(plain, "")}
        # Longest first, so a secret that contains another is removed whole.
        self._secrets = sorted((s for s in secrets if s), key=len, reverse=True)

    def __call__(self, text: object) -> str:
        text = _USERINFO.sub(r"\1:***@", str(text))
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def _password_of(uri: str) -> str | None:
    """The raw password part of a MongoDB URI, also for malformed (unescaped) ones.

    >>> _password_of("mongodb://u:a@b/c@host/db"), _password_of("mongodb://host/db")
    ('a@b/c', None)
    """
    _, sep, rest = uri.partition("://")
    at = rest.rfind("@")
    if not sep or at < 0:
        return None
    userinfo = rest[:at]
    return userinfo.split(":", 1)[1] if ":" in userinfo else None


class RedactingFilter(logging.Filter):
    """Rewrites a pymongo log record without the password before any handler sees it."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True
