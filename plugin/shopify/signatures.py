"""Constant-time comparison of a given signature against every configured secret."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable


def matches_any(given: str | None, secrets: Iterable[str], expected_for: Callable[[str], str]) -> bool:
    """True when given equals expected_for(secret) for any non-empty secret (current, then old)."""
    if not isinstance(given, str) or not given:
        return False
    try:
        given_bytes = given.encode("ascii")
    except UnicodeEncodeError:
        return False
    matched = False
    for secret in secrets:
        if not secret:
            continue
        # compare_digest on every secret, no early exit: timing tells nothing about which matched.
        matched |= hmac.compare_digest(expected_for(secret).encode("ascii"), given_bytes)
    return matched
