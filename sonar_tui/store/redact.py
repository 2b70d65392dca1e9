"""Keep secrets out of every JSON value the store writes.

Nothing upstream should hand the store an API key, but a settings dict that grew a key
field, or an error that echoed a header, must not end up on disk: keys named like a secret
are dropped, and values that look like a Perplexity key or a bearer token are replaced.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[redacted]"

_SECRET_NAMES = frozenset({
    "authorization", "proxyauthorization", "password", "passwd", "secret", "clientsecret",
    "token", "accesstoken", "refreshtoken", "authtoken", "idtoken", "sessiontoken",
    "bearer", "bearertoken", "cookie", "setcookie", "credentials",
})
# Perplexity keys are "pplx-" + 48 alphanumerics; bearer tokens are long opaque strings.
# Short matches are left alone so that prose such as "bearer bonds" survives.
_SECRET_VALUE = re.compile(r"pplx-[A-Za-z0-9]{12,}|Bearer\s+[A-Za-z0-9._~+/=-]{16,}")


def is_secret_name(name: str) -> bool:
    normalised = re.sub(r"[^a-z0-9]", "", name.lower())
    return (
        normalised in _SECRET_NAMES
        or normalised.endswith("apikey")
        or normalised.endswith("secret")
        or normalised.endswith("password")
    )


def redact(value: Any, *, scrub_strings: bool = True) -> Any:
    """A copy of ``value`` without secret-named keys (at any depth) and, by default,
    with key-shaped strings replaced by ``[redacted]``."""
    if isinstance(value, dict):
        return {
            key: redact(item, scrub_strings=scrub_strings)
            for key, item in value.items()
            if not (isinstance(key, str) and is_secret_name(key))
        }
    if isinstance(value, (list, tuple)):
        return [redact(item, scrub_strings=scrub_strings) for item in value]
    if scrub_strings and isinstance(value, str):
        return _SECRET_VALUE.sub(REDACTED, value)
    return value
