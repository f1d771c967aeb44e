"""Shopify's OAuth query signature: hex HMAC-SHA256 over the sorted query, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping

from plugin.shopify.signatures import matches_any

HMAC_PARAM = "hmac"


def signed_message(params: Mapping[str, object]) -> str:
    """The text Shopify signs: sorted `key=value` pairs without `hmac`, delimiters escaped.

    Same rules as shopify.Session.calculate_hmac (ShopifyAPI), which keeps its secret in class
    state; this pure version can try the current and the old secret without touching globals.
    """
    pairs = []
    for key, value in params.items():
        if key == HMAC_PARAM:
            continue
        if key.endswith("[]"):
            # ids[]=1&ids[]=2 is signed as ids=["1", "2"] (JSON with ", " separators).
            key = key[:-2]
            value = json.dumps([str(item) for item in value])  # type: ignore[union-attr]
        # Escaping stops a value from forging another pair ("a=1&b=2" inside one value).
        key = str(key).replace("%", "%25").replace("=", "%3D")
        value = str(value).replace("%", "%25")
        pairs.append(f"{key}={value}".replace("&", "%26"))
    return "&".join(sorted(pairs))


def query_signature(params: Mapping[str, object], secret: str) -> str:
    """The hex HMAC-SHA256 Shopify puts in the `hmac` query parameter."""
    return hmac.new(secret.encode(), signed_message(params).encode(), hashlib.sha256).hexdigest()


def verify_query(params: Mapping[str, object], secrets: Iterable[str]) -> bool:
    """True when params["hmac"] matches under any of the secrets (current, then old)."""
    given = params.get(HMAC_PARAM)
    given = given.strip().lower() if isinstance(given, str) else None
    return matches_any(given, secrets, lambda secret: query_signature(params, secret))
