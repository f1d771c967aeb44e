"""Verification of Shopify ID tokens (App Bridge session tokens), the JWT on every admin JSON API request.

Shopify documents them in "About session tokens"
(https://shopify.dev/docs/apps/build/authentication-authorization/session-tokens): App Bridge puts a
one-minute JWT, signed HS256 with the app's client secret, in the `Authorization: Bearer` header. Its
claims, as Shopify's own libraries read them (shopify-api-js `getJwt`, shopify_api's `JwtPayload`):
`iss` = `https://{shop}/admin`, `dest` = `https://{shop}`, `aud` = the app's API key, `sub` (the user),
`exp`, `nbf`, `iat`, `jti`, `sid`.

ShopifyAPI's `shopify.session_token.decode_from_header` checks the Bearer prefix, the HS256 signature,
`aud`, exp/nbf/iat with a 10-second leeway, the presence of iss, dest, sub, jti and sid, and that iss and
dest share a host that looks like a shop. What it leaves out is added here: exp must be present (PyJWT
only checks it when it is there), `dest` must be exactly `https://{valid shop domain}`, `iss` exactly
`{dest}/admin`, and the previous secret is tried during a rotation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import jwt
from shopify import session_token

from plugin.errors import ConfigurationError, InvalidIdToken
from plugin.shopify.shop_domain import is_valid_shop_domain

# Clock skew tolerated on exp and nbf. Shopify's libraries all use 10 s (ShopifyAPI LEEWAY_SECONDS,
# shopify-api-js JWT_PERMITTED_CLOCK_TOLERANCE, shopify_api JWT_LEEWAY): App Bridge is known to send an
# nbf slightly in the future. The library applies its own leeway first; ours is re-applied below so a
# library that grew more lenient could not widen the window unnoticed.
LEEWAY_SECONDS = 10
_DEST_PREFIX = "https://"

# Short, fixed reasons per PyJWT failure (a subclass before its base): the library's own messages are not
# ours to vouch for, and a reason must never carry any part of the token.
_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.ImmatureSignatureError, "not yet valid"),
    (jwt.InvalidAudienceError, "issued for another app (aud)"),
    (jwt.InvalidSignatureError, "bad signature"),
    (jwt.InvalidAlgorithmError, "unsupported signing algorithm"),
    (jwt.MissingRequiredClaimError, "missing a required claim"),
    (jwt.exceptions.InvalidSubjectError, "has malformed claims"),
    (jwt.exceptions.InvalidJTIError, "has malformed claims"),
    (jwt.exceptions.InvalidIssuedAtError, "has malformed claims"),
    (jwt.DecodeError, "not a well-formed JWT"),
    (session_token.MismatchedHostsError, "issuer and destination differ"),
    (session_token.InvalidIssuerError, "issuer is not a shop"),
)


@dataclass(frozen=True)
class IdToken:
    """A verified ID token: the shop it was issued for, the user and session, and when it expires."""

    shop: str
    user: str | None
    session: str | None
    token: str = field(repr=False)  # the raw JWT, for token exchange; never in a repr or a log line
    expires_at: datetime


def verify_id_token(authorization: str | None, api_key: str, secrets: list[str]) -> IdToken:
    """Verify an `Authorization: Bearer <ID token>` header value; raise InvalidIdToken for anything wrong."""
    usable = [secret for secret in secrets if secret]
    if not api_key or not usable:
        # Not the token's fault: every request would fail, so say what to fix instead of a 401 loop.
        raise ConfigurationError("SHOPIFY_API_KEY and SHOPIFY_API_SECRET are required to verify ID tokens")
    if not isinstance(authorization, str) or not authorization:
        raise InvalidIdToken("missing Authorization header")
    if not authorization.startswith(session_token.PREFIX):
        raise InvalidIdToken("Authorization header is not a Bearer token")
    payload = _decode(authorization, api_key, usable)
    return _checked(payload, authorization[len(session_token.PREFIX) :], api_key)


def _decode(authorization: str, api_key: str, secrets: list[str]) -> dict:
    """The payload verified by ShopifyAPI with the first secret whose signature matches."""
    last: Exception | None = None
    for secret in secrets:
        try:
            return session_token.decode_from_header(authorization, api_key, secret)
        except session_token.SessionTokenError as exc:
            # The library wraps PyJWT's error; only a signature mismatch is worth the next (old) secret.
            cause = exc.__cause__ if isinstance(exc.__cause__, jwt.PyJWTError) else exc
            if isinstance(cause, jwt.InvalidSignatureError):
                last = exc
                continue
            raise InvalidIdToken(f"ID token {_reason(cause)}") from exc
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            # Correctly signed but with claims of the wrong type (e.g. a numeric iss) the library trips over.
            raise InvalidIdToken("ID token has malformed claims") from exc
    raise InvalidIdToken("ID token bad signature") from last


def _reason(error: Exception) -> str:
    for kind, reason in _REASONS:
        if isinstance(error, kind):
            return reason
    return "invalid"


def _checked(payload: dict, token: str, api_key: str) -> IdToken:
    """Apply what the library leaves out and build the IdToken."""
    dest = payload.get("dest")
    shop = dest[len(_DEST_PREFIX) :] if isinstance(dest, str) and dest.startswith(_DEST_PREFIX) else None
    if not is_valid_shop_domain(shop):
        raise InvalidIdToken("ID token dest is not https://{shop}.myshopify.com")
    if payload.get("iss") != f"{dest}/admin":
        raise InvalidIdToken("ID token iss is not {dest}/admin")
    if payload.get("aud") != api_key:
        # PyJWT also accepts a list of audiences that merely contains ours; Shopify sends the key alone.
        raise InvalidIdToken("ID token issued for another app (aud)")
    now = time.time()
    expires = _timestamp(payload, "exp")
    if expires is None:
        raise InvalidIdToken("ID token has no exp")
    if expires <= now - LEEWAY_SECONDS:
        raise InvalidIdToken("ID token expired")
    not_before = _timestamp(payload, "nbf")
    if not_before is not None and not_before > now + LEEWAY_SECONDS:
        raise InvalidIdToken("ID token not yet valid")
    return IdToken(
        shop=shop.lower(),  # type: ignore[union-attr]
        user=_text(payload.get("sub")),
        session=_text(payload.get("sid")),
        token=token,
        expires_at=datetime.fromtimestamp(expires, UTC),
    )


def _timestamp(payload: dict, claim: str) -> float | None:
    value = payload.get(claim)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        # PyJWT already refuses non-integer exp/nbf; this keeps the comparison above well-typed regardless.
        raise InvalidIdToken(f"ID token {claim} is not a number")
    return float(value)


def _text(value: object) -> str | None:
    return str(value) if value not in (None, "") else None
