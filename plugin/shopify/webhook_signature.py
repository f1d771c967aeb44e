"""Shopify webhook signature verification: a pure function over the raw body."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable

from plugin.shopify.signatures import matches_any


def sign(body: bytes, secret: str) -> str:
    """base64(HMAC-SHA256(body, secret)), as Shopify puts in X-Shopify-Hmac-Sha256."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify_signature(body: bytes, signature: str | None, secrets: Iterable[str]) -> bool:
    """True when signature matches body under any of the secrets (current, then old)."""
    given = signature.strip() if isinstance(signature, str) else None
    return matches_any(given, secrets, lambda secret: sign(body, secret))
