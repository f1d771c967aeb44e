"""OAuth `state` nonces: issued by /auth, kept in Redis, usable once, expiring, bound to one shop."""

from __future__ import annotations

import hmac
import re
import secrets

import redis

from plugin.store import keys

STATE_KEY_PREFIX = keys.OAUTH_STATE.prefix
# Long enough for a merchant to read the permission screen; a stale flow simply starts again.
STATE_TTL_SECONDS = 600
_NONCE_BYTES = 32
# token_urlsafe(32) gives 43 characters of [A-Za-z0-9_-]; refuse anything else before touching Redis.
_NONCE = re.compile(r"[A-Za-z0-9_-]{43}")


def issue_state(connection: redis.Redis, shop: str) -> str:
    """A fresh nonce remembered for STATE_TTL_SECONDS as belonging to shop."""
    nonce = secrets.token_urlsafe(_NONCE_BYTES)
    connection.set(STATE_KEY_PREFIX + nonce, shop, ex=STATE_TTL_SECONDS, nx=True)
    return nonce


def consume_state(connection: redis.Redis, nonce: object, shop: str) -> bool:
    """True once for a live nonce issued for shop; it is deleted whatever the answer."""
    if not isinstance(nonce, str) or _NONCE.fullmatch(nonce) is None:
        return False
    # GETDEL: reading and deleting in one command makes the nonce single-use under concurrency.
    stored = connection.getdel(STATE_KEY_PREFIX + nonce)
    if stored is None:
        return False
    return hmac.compare_digest(stored, shop.encode())
