"""Keeping secrets out of every file and log line Hyrax writes (docs/configuration.md, "Secrets").

Every place that writes or logs configuration goes through this module.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "***"
_SECRET_NAME = re.compile(r"password|passwd|passphrase|secret|token|api_?key|credential", re.IGNORECASE)
_URL_USER_INFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<userinfo>[^/?#\s@]+)@")


def is_secret_name(name: str) -> bool:
    """True for key names that look like they hold a secret (password, token, API key, ...).

    Examples
    --------
    >>> is_secret_name("api_token"), is_secret_name("HYRAX_DOWNLOAD_PASSWORD"), is_secret_name("epochs")
    (True, True, False)
    """
    return bool(_SECRET_NAME.search(name))


def redact_text(text: str) -> str:
    """Replace the user-info part of every URL in ``text`` by ``***``.

    Examples
    --------
    >>> redact_text("server at http://ann:hunter2@db.example:8000/x")
    'server at http://***@db.example:8000/x'
    """
    return _URL_USER_INFO.sub(lambda match: f"{match.group('scheme')}{REDACTED}@", text)


def is_secret_key(table: Mapping, key: str) -> bool:
    """True when ``table[key]`` is secret: tagged ``[secret]`` in the defaults, or named like a secret."""
    spec = getattr(table, "spec", None)
    key_spec = spec.keys.get(key) if spec is not None else None
    return (key_spec is not None and key_spec.secret) or is_secret_name(str(key))


def redact_value(value: Any) -> Any:
    """``value`` with URL user-info removed from its strings, recursively through lists."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, list):
        return [redact_value(item) for item in value]
    return value


def redacted_tables(table: Mapping) -> dict:
    """A plain nested ``dict`` copy of ``table`` without its secret keys and with URLs redacted."""
    plain: dict = {}
    for key, value in table.items():
        if isinstance(value, Mapping):
            plain[key] = redacted_tables(value)
        elif not is_secret_key(table, key):
            plain[key] = redact_value(value)
    return plain


class RedactingFormatter(logging.Formatter):
    """A log formatter whose output, tracebacks included, has URL user-info removed."""

    def format(self, record: logging.LogRecord) -> str:
        """Format ``record`` as :class:`logging.Formatter` does, then redact it."""
        return redact_text(super().format(record))
