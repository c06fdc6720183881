"""Passwords in storage URLs never reach output, logs, reports or stored records: every message that may
carry a URL passes through `redact` (the URL) or `scrub` (a driver's message that may echo it)."""

from __future__ import annotations

import re

from liftlab.errors import BadInputError


def redact(url: str) -> str:
    """A storage URL with its password replaced, for messages and records."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def scrub(text: str, url: str | None) -> str:
    """`text` with the password of `url` (if any) removed, wherever a driver may have echoed it."""
    if not url:
        return text
    text = text.replace(url, redact(url))
    password = _password(url)
    return text.replace(password, "***") if password else text


def cannot_open(url: str, error: Exception) -> BadInputError:
    """The error for a storage that failed to open: the URL redacted, the driver's message scrubbed."""
    return BadInputError(f"--storage {redact(url)}: cannot be opened ({scrub(str(error), url)})")


def _password(url: str) -> str | None:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).password
    except Exception:  # an unparsable URL has no password to find; redact() still applies
        return None
