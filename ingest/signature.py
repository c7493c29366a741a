"""Mist's webhook signatures: hex HMAC of the raw body with the webhook's secret.

`X-Mist-Signature-v2` is HMAC-SHA256; `X-Mist-Signature` is HMAC-SHA1, trusted only when asked for.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping

SIGNATURE_V2 = "X-Mist-Signature-v2"
SIGNATURE_SHA1 = "X-Mist-Signature"


def sign(body: bytes, secret: str) -> dict[str, str]:
    """The signature headers Mist sends with ``body`` (for replay and tests)."""
    key = secret.encode()
    return {
        SIGNATURE_V2: hmac.new(key, body, hashlib.sha256).hexdigest(),
        SIGNATURE_SHA1: hmac.new(key, body, hashlib.sha1).hexdigest(),
    }


def _matches(given: str | None, body: bytes, secrets: Iterable[bytes], digest: str) -> bool:
    if not given:
        return False
    # Bytes, not str: compare_digest refuses non-ASCII str, and the header is outside input.
    given_bytes = given.strip().lower().encode("utf-8", "surrogateescape")
    # Every secret is tried (no early exit), so the time taken does not tell which one matched.
    found = False
    for secret in secrets:
        expected = hmac.new(secret, body, digest).hexdigest().encode()
        found |= hmac.compare_digest(expected, given_bytes)
    return found


def verify(
    body: bytes, headers: Mapping[str, str], secrets: Iterable[bytes], accept_sha1: bool = False
) -> bool:
    """Whether ``body`` carries a valid signature for one of ``secrets`` (two during a rotation)."""
    secrets = list(secrets)
    if _matches(headers.get(SIGNATURE_V2), body, secrets, "sha256"):
        return True
    return accept_sha1 and _matches(headers.get(SIGNATURE_SHA1), body, secrets, "sha1")
