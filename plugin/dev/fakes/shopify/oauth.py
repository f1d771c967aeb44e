"""FakeShopify's OAuth: the authorize redirect, the code, refresh-token and ID-token exchanges, token issuing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from urllib.parse import urlencode, urlsplit, urlunsplit

import jwt
from werkzeug.wrappers import Request, Response

from .._common import Call, json_response
from .id_tokens import ID_TOKEN_ALGORITHM, mint_id_token
from .store import _Shop

ACCESS_TOKEN_TTL = 3600  # expiring offline access tokens live 60 minutes
REFRESH_TOKEN_TTL = 7776000  # refresh tokens live 90 days
AUTHORIZATION_CODE_TTL = 600
# Token exchange (Shopify managed install): RFC 8693 grant and token types as Shopify names them.
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
OFFLINE_TOKEN_TYPE = "urn:shopify:params:oauth:token-type:offline-access-token"
# With managed install the scopes come from the app's configuration (shopify.app.toml), not the request.
MANAGED_INSTALL_SCOPE = "read_orders,write_orders"


def oauth_hmac(params: dict, secret: str) -> str:
    """Shopify's OAuth query signature: hex HMAC-SHA256 over the sorted `k=v` pairs minus hmac."""
    pairs = []
    for key, value in params.items():
        if key in ("hmac", "signature"):
            continue
        if isinstance(value, (list, tuple)):  # foo[]=1&foo[]=2 is signed as foo=["1", "2"]
            key, value = key[:-2] if key.endswith("[]") else key, json.dumps([str(v) for v in value])
        # Escape the delimiters so a value cannot forge another pair (Shopify's rule).
        key = str(key).replace("%", "%25").replace("=", "%3D")
        value = str(value).replace("%", "%25")
        pairs.append(f"{key}={value}".replace("&", "%26"))
    message = "&".join(sorted(pairs))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


class OAuthMixin:
    """OAuth endpoints of FakeShopify (mixed into FakeShopify)."""

    def signed_query(self, params: dict, secret: str | None = None) -> dict:
        """A copy of `params` with Shopify's hex `hmac` added (to build install/callback requests)."""
        signed = {k: v for k, v in params.items() if k != "hmac"}
        signed["hmac"] = oauth_hmac(signed, secret or self.api_secret)
        return signed

    def id_token(self, shop: str, **overrides) -> str:
        """An ID token for `shop` signed with this fake's app credentials on its clock (see mint_id_token)."""
        overrides.setdefault("now", self.now())
        return mint_id_token(shop, self.api_key, self.api_secret, **overrides)

    # -- OAuth -----------------------------------------------------------------------------

    def _authorize(self, request: Request, shop: str) -> Response:
        """Simulate the merchant approving the install: redirect to redirect_uri with a signed code."""
        params = request.args
        record = {"shop": shop, **params.to_dict(), "grant_options[]": params.getlist("grant_options[]")}
        with self._lock:
            self.authorize_requests.append(record)
        if params.get("client_id") != self.api_key:
            return Response("Oauth error invalid_request: The client_id is invalid", status=400)
        redirect_uri = params.get("redirect_uri")
        if not redirect_uri:
            return Response("Oauth error invalid_request: The redirect_uri is missing", status=400)
        code = secrets.token_hex(16)
        with self._lock:
            self._shops.setdefault(shop, _Shop(shop))
            self._codes[code] = {
                "shop": shop,
                "scope": params.get("scope", ""),
                "online": "per-user" in params.getlist("grant_options[]"),
                "issued_at": self.now(),
            }
            now = int(self.now())
        store = shop.split(".")[0]
        callback = {
            "code": code,
            "host": base64.b64encode(f"admin.shopify.com/store/{store}".encode()).decode(),
            "shop": shop,
            "timestamp": str(now),
        }
        if "state" in params:
            callback["state"] = params["state"]
        callback = self.signed_query(callback)
        parts = urlsplit(redirect_uri)
        query = "&".join(q for q in (parts.query, urlencode(callback)) if q)
        location = urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
        return Response(status=302, headers={"Location": location})

    def _access_token(self, request: Request, call: Call, shop: str) -> Response:
        """Exchange an authorization code, a refresh token or an ID token (token exchange) for an access token."""
        params = dict(request.args.to_dict())
        params.update(call.form)
        if isinstance(call.json, dict):
            params.update({k: v for k, v in call.json.items() if v is not None})
        params = {k: str(v) for k, v in params.items()}
        if params.get("client_id") != self.api_key or params.get("client_secret") != self.api_secret:
            return self._oauth_error("invalid_client", "Client credentials are invalid")
        grant_type = params.get("grant_type", "authorization_code")
        with self._lock:
            state = self._shops.get(shop)
            if grant_type == "refresh_token":
                refresh = params.get("refresh_token", "")
                expires_at, scope = state.refresh_tokens.get(refresh, (0.0, "")) if state else (0.0, "")
                if expires_at <= self.now():
                    return self._oauth_error("invalid_request", "The refresh token is invalid, expired or revoked")
                return json_response(self._issue_expiring(state, scope))
            if grant_type == TOKEN_EXCHANGE_GRANT:
                return self._exchange_id_token(params, shop)
            if grant_type != "authorization_code":
                return self._oauth_error("unsupported_grant_type", f"Unsupported grant_type {grant_type!r}")
            grant = self._codes.pop(params.get("code", ""), None)  # a code works once
            if grant is None or grant["shop"] != shop or grant["issued_at"] + AUTHORIZATION_CODE_TTL < self.now():
                return self._oauth_error("invalid_request", "The authorization code was not found or was already used")
            if self.granted_scopes_override is not None:
                grant = {**grant, "scope": self.granted_scopes_override}
            if params.get("expiring") in ("1", "true", "True"):
                return json_response(self._issue_expiring(state, grant["scope"]))
            token = f"shpua_{secrets.token_hex(16)}"
            if grant["online"]:
                # Online (per-user) tokens live a day and are not offline tokens: no revocation by refresh.
                state.tokens[token] = {"expires_at": self.now() + 86400, "expiring": False, "scope": grant["scope"]}
                return json_response(
                    {
                        "access_token": token,
                        "scope": grant["scope"],
                        "expires_in": 86400,
                        "associated_user_scope": grant["scope"],
                        "associated_user": {
                            "id": 902541635,
                            "first_name": "John",
                            "last_name": "Smith",
                            "email": "john@example.com",
                            "account_owner": True,
                        },
                    }
                )
            state.tokens[token] = {"expires_at": None, "expiring": False, "scope": grant["scope"]}
            return json_response({"access_token": token, "scope": grant["scope"]})

    def _exchange_id_token(self, params: dict, shop: str) -> Response:
        """Token exchange: an ID token of this app for `shop` buys an offline token (expiring=1: plus a refresh token)."""
        if not params.get("subject_token"):
            return self._oauth_error("missing_subject_token", "The subject_token parameter is missing")
        if params.get("subject_token_type") != ID_TOKEN_TYPE:
            return self._oauth_error("invalid_request", "Unsupported subject_token_type")
        if params.get("requested_token_type") != OFFLINE_TOKEN_TYPE:
            # Online (per-user) tokens are not something this app asks for: not simulated.
            return self._oauth_error("invalid_request", "Unsupported requested_token_type")
        if not self._subject_token_valid(params["subject_token"], shop):
            # Shopify's docs say only "400 Bad Request" for an expired or invalid session token; the error
            # name is the one Shopify's own library (shopify-api-js token-exchange tests) expects.
            return self._oauth_error("invalid_subject_token", "Subject token is invalid")
        with self._lock:
            # Managed install: the shop becomes known to the Admin API by this exchange alone.
            state = self._shops.setdefault(shop, _Shop(shop))
            scope = self.granted_scopes_override if self.granted_scopes_override is not None else MANAGED_INSTALL_SCOPE
            if params.get("expiring") in ("1", "true", "True"):
                return json_response(self._issue_expiring(state, scope))
            token = f"shpua_{secrets.token_hex(16)}"
            state.tokens[token] = {"expires_at": None, "expiring": False, "scope": scope}
            return json_response({"access_token": token, "scope": scope})

    def _subject_token_valid(self, subject_token: str, shop: str) -> bool:
        """True for an ID token signed by this app's secret, for this app and shop, valid on the fake's clock."""
        try:
            # Times are checked below against the fake's own clock (advance_clock), which PyJWT cannot use.
            claims = jwt.decode(
                subject_token,
                self.api_secret,
                algorithms=[ID_TOKEN_ALGORITHM],
                audience=self.api_key,
                options={
                    "require": ["exp", "nbf", "iss", "dest", "aud"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError:
            return False
        dest = f"https://{shop}"
        now = self.now()
        return (
            claims.get("dest") == dest
            and claims.get("iss") == f"{dest}/admin"
            and isinstance(claims["exp"], (int, float))
            and isinstance(claims["nbf"], (int, float))
            and claims["nbf"] <= now < claims["exp"]
        )

    def _issue_expiring(self, state: _Shop, scope: str) -> dict:
        """Issue an expiring access token + refresh token, revoking the shop's previous expiring ones."""
        # Only one expiring offline token is active per app and shop (Shopify docs), and the
        # refresh token used is spent.
        for token in [t for t, info in state.tokens.items() if info["expiring"]]:
            del state.tokens[token]
        state.refresh_tokens.clear()
        token = f"shpua_{secrets.token_hex(16)}"
        refresh = f"shprt_{secrets.token_hex(16)}"
        state.tokens[token] = {"expires_at": self.now() + ACCESS_TOKEN_TTL, "expiring": True, "scope": scope}
        state.refresh_tokens[refresh] = (self.now() + REFRESH_TOKEN_TTL, scope)
        return {
            "access_token": token,
            "scope": scope,
            "expires_in": ACCESS_TOKEN_TTL,
            "refresh_token": refresh,
            "refresh_token_expires_in": REFRESH_TOKEN_TTL,
        }

    @staticmethod
    def _oauth_error(error: str, description: str) -> Response:
        """An OAuth error answer (HTTP 400)."""
        return json_response({"error": error, "error_description": description}, 400)
