"""ID tokens (App Bridge session tokens) minted the way Shopify mints them, with overrides to forge bad ones."""

from __future__ import annotations

import secrets
import time
import uuid

import jwt

# Shopify's session tokens live one minute ("About session tokens", shopify.dev).
ID_TOKEN_LIFETIME = 60
ID_TOKEN_ALGORITHM = "HS256"


def mint_id_token(
    shop: str,
    api_key: str,
    secret: str,
    *,
    now: float | None = None,
    lifetime: float = ID_TOKEN_LIFETIME,
    audience: str | None = None,
    issuer: str | None = None,
    dest: str | None = None,
    user: str | None = "42",
    not_before: float | None = None,
) -> str:
    """A signed ID token for `shop` and the app `api_key`; the keywords override single claims (user=None drops sub)."""
    issued = int(time.time() if now is None else now)
    dest = dest if dest is not None else f"https://{shop}"
    claims = {
        "iss": issuer if issuer is not None else f"{dest}/admin",
        "dest": dest,
        "aud": audience if audience is not None else api_key,
        "exp": int(issued + lifetime),
        "nbf": int(issued if not_before is None else not_before),
        "iat": issued,
        "jti": str(uuid.uuid4()),
        "sid": secrets.token_hex(16),
    }
    if user is not None:
        claims["sub"] = user
    return jwt.encode(claims, secret, algorithm=ID_TOKEN_ALGORITHM)
