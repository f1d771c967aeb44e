"""Shopify's OAuth token endpoint: exchange an authorization code, an ID token or a refresh token for tokens."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests

from plugin.errors import ConfigurationError, TokenGrantRefused, TransientError
from plugin.http import error_summary, parse_retry_after, send
from plugin.shopify.shop_domain import admin_base_url
from plugin.store.models import utcnow

# OAuth error codes meaning the app's own credentials are wrong, not the shop's grant.
_CLIENT_ERRORS = frozenset({"invalid_client", "unauthorized_client"})
# RFC 6749 §5.2: the code or refresh token is invalid, expired, revoked or already used.
_DEAD_GRANT = "invalid_grant"
# Shopify has been seen answering a spent refresh token with HTTP 401 invalid_request "This request
# requires an active refresh_token" (and the test fake answers a dead one with 400 invalid_request):
# invalid_request counts as a refusal of the grant only when its description names the grant.
_GRANT_WORDS = ("refresh_token", "refresh token", "authorization code")
# Token exchange (Shopify managed install), as in "Exchange a session token for an access token"
# (https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/token-exchange) and
# the grant Shopify's own library sends (shopify-api-js lib/auth/oauth/token-exchange.ts): RFC 8693's
# grant type, the ID token as subject, an offline token requested; expiring=1 works with token exchange
# too (changelog "Offline access tokens now support expiry and refresh", 2025-12-10).
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
OFFLINE_ACCESS_TOKEN_TYPE = "urn:shopify:params:oauth:token-type:offline-access-token"
# The statuses RFC 6749 §5.2 allows for an error answer; any other 4xx (403 from a proxy or a WAF,
# 404, 408, 429) says nothing about the grant.
_REFUSAL_STATUSES = frozenset({400, 401})


@dataclass(frozen=True)
class TokenGrant:
    """What the token endpoint handed out, with absolute expiry times (None: does not expire)."""

    access_token: str
    scopes: str | None
    access_token_expires_at: datetime | None
    refresh_token: str | None
    refresh_token_expires_at: datetime | None

    def __repr__(self) -> str:
        # Tokens must never reach a log line or a traceback through repr().
        return f"TokenGrant(scopes={self.scopes!r}, access_token_expires_at={self.access_token_expires_at!r})"


class TokenEndpoint:
    """POST {admin}/admin/oauth/access_token for one app (client id and secret)."""

    def __init__(
        self, admin_url_template: str, api_key: str, api_secret: str, session: requests.Session, timeout: tuple[float, float]
    ):
        self._admin_url_template = admin_url_template
        self._api_key = api_key
        self._api_secret = api_secret
        self._session = session
        self._timeout = timeout

    @classmethod
    def from_config(cls, config: Mapping, session: requests.Session, timeout: tuple[float, float]) -> TokenEndpoint:
        """The endpoint for the app configured in config (SHOPIFY_ADMIN_URL, key, secret)."""
        return cls(config["SHOPIFY_ADMIN_URL"], config["SHOPIFY_API_KEY"], config["SHOPIFY_API_SECRET"], session, timeout)

    def exchange_code(self, shop: str, code: str) -> TokenGrant:
        """Trade an authorization code for an expiring offline token and its refresh token."""
        # expiring=1: a 60-minute access token plus a refresh token (required of public apps).
        # An authorization code works once and for minutes: whatever 400/401 Shopify gives it, only a
        # new install produces a usable one, so any of them refuses (the install stores nothing).
        return self._grant(shop, {"code": code, "expiring": 1}, "code exchange", single_use=True)

    def exchange_id_token(self, shop: str, id_token: str) -> TokenGrant:
        """Trade a verified ID token of `shop` for an expiring offline token and its refresh token (managed install)."""
        fields = {
            "grant_type": TOKEN_EXCHANGE_GRANT,
            "subject_token": id_token,
            "subject_token_type": ID_TOKEN_TYPE,
            "requested_token_type": OFFLINE_ACCESS_TOKEN_TYPE,
            "expiring": 1,
        }
        # Shopify answers an expired or otherwise invalid ID token with 400 (invalid_subject_token). An ID
        # token lives a minute and the next admin request brings a fresh one, so, as for a code, any
        # 400/401 refuses this one: the caller asks App Bridge for a new token instead of retrying this.
        return self._grant(shop, fields, "token exchange", single_use=True)

    def refresh(self, shop: str, refresh_token: str) -> TokenGrant:
        """Trade a refresh token for a new access token (and a new refresh token)."""
        return self._grant(shop, {"grant_type": "refresh_token", "refresh_token": refresh_token}, "token refresh")

    def _grant(self, shop: str, fields: dict, what: str, single_use: bool = False) -> TokenGrant:
        if not self._api_key or not self._api_secret:
            raise ConfigurationError("SHOPIFY_API_KEY and SHOPIFY_API_SECRET are required for OAuth")
        url = f"{admin_base_url(self._admin_url_template, shop)}/admin/oauth/access_token"
        # Taken before sending: expiry times computed from it err on the early side.
        issued_at = utcnow()
        response = send(
            self._session,
            "POST",
            url,
            what=f"Shopify {what} ({shop})",
            timeout=self._timeout,
            json={"client_id": self._api_key, "client_secret": self._api_secret, **fields},
            headers={"Accept": "application/json"},
            allow_redirects=False,
        )
        if response.status_code != 200:
            raise _refusal(response, shop, what, single_use)
        try:
            body = response.json()
        except ValueError as exc:
            # A 200 we cannot read may come from a proxy, or be cut short: nothing says the grant is dead.
            raise TransientError(f"Shopify {what} ({shop}): HTTP 200 answer is not JSON") from exc
        return _parse_grant(body, issued_at, shop, what)


def _refusal(response: requests.Response, shop: str, what: str, single_use: bool) -> Exception:
    """The error for a non-200 answer: the app's credentials, a dead grant, or (anything else) transient."""
    code, description = _oauth_error(response)
    status = response.status_code
    message = f"Shopify {what} ({shop}): HTTP {status} {error_summary(response)}"
    if status in _REFUSAL_STATUSES and code in _CLIENT_ERRORS:
        return ConfigurationError(f"{message} — check SHOPIFY_API_KEY and SHOPIFY_API_SECRET")
    if status in _REFUSAL_STATUSES and (single_use or is_dead_grant(code, description)):
        return TokenGrantRefused(message)
    # Only a definite refusal may cost the merchant a re-authorisation; anything else is retried
    # with the tokens kept (with Shopify's rotation, the stored refresh token stays usable).
    return TransientError(
        f"{message} (not a refusal of the grant; worth retrying)",
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )


def is_dead_grant(code: str, description: str) -> bool:
    """True for an OAuth error saying the code or refresh token itself is dead (invalid_grant-style)."""
    if code == _DEAD_GRANT:
        return True
    lowered = description.lower()
    return code == "invalid_request" and any(word in lowered for word in _GRANT_WORDS)


def _oauth_error(response: requests.Response) -> tuple[str, str]:
    """The answer's OAuth `error` and `error_description`, or empty strings when it has none."""
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    return str(body.get("error") or ""), str(body.get("error_description") or "")


def _parse_grant(body: object, issued_at: datetime, shop: str, what: str) -> TokenGrant:
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str) or not body["access_token"]:
        # Unparseable, not a refusal: a refusal carries an OAuth error and a non-200 status.
        raise TransientError(f"Shopify {what} ({shop}): answer has no access_token")
    refresh_token = body.get("refresh_token")
    return TokenGrant(
        access_token=body["access_token"],
        scopes=str(body["scope"]) if body.get("scope") is not None else None,
        access_token_expires_at=_expiry(issued_at, body.get("expires_in")),
        refresh_token=refresh_token if isinstance(refresh_token, str) and refresh_token else None,
        refresh_token_expires_at=_expiry(issued_at, body.get("refresh_token_expires_in")),
    )


def _expiry(issued_at: datetime, seconds: object) -> datetime | None:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
        return None
    return issued_at + timedelta(seconds=seconds)
