"""Public-app install: GET /auth (signed install request → Shopify's authorize page) and
GET /auth/callback (checks, code exchange for expiring tokens, granted scopes, webhook registration,
installed page)."""

from __future__ import annotations

import re
import time
from urllib.parse import urlencode

import redis
from flask import Blueprint, current_app, redirect, render_template, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.datastructures import MultiDict

from plugin.config import webhook_address, webhook_secrets
from plugin.errors import (
    ConfigurationError,
    MirrorError,
    TokenGrantRefused,
    TransientError,
)
from plugin.logs import log_event
from plugin.services import get_services
from plugin.shopify.oauth_signature import verify_query
from plugin.shopify.oauth_state import STATE_TTL_SECONDS, consume_state, issue_state
from plugin.shopify.shop_domain import admin_base_url, is_valid_shop_domain
from plugin.shopify.token_endpoint import TokenEndpoint
from plugin.shopify.webhook_subscriptions import TOPICS, register_webhooks, registered_by_app
from plugin.store import shops

bp = Blueprint("oauth", __name__)

CALLBACK_PATH = "/auth/callback"
# The install request is signed when the merchant clicks "install"; ShopifyAPI's validate_params
# accepts a day, and a replayed one can only start a flow the merchant still has to approve.
INSTALL_REQUEST_MAX_AGE = 24 * 3600
# Shopify signs the callback the moment the merchant approves, and its state lives
# STATE_TTL_SECONDS: an older signature cannot belong to a live flow, so it is a replay.
CALLBACK_MAX_AGE = STATE_TTL_SECONDS
# Tolerated difference between Shopify's clock and ours, in both directions.
CLOCK_SKEW = 300
# Shopify grants read access with write access and may list only the write scope: write_orders
# covers read_orders (also for the unauthenticated_ storefront scopes).
_READ_SCOPE = re.compile(r"^(unauthenticated_)?read_")


class Refusal(Exception):
    """An install request or callback refused, rendered as a clear page (nothing stored unless `stored`)."""

    def __init__(self, status: int, title: str, message: str, reason: str, *, stored: bool = False):
        super().__init__(reason)
        self.status = status
        self.title = title
        self.message = message
        self.reason = reason  # short, for the log line
        self.stored = stored  # True only when the installation itself was saved


@bp.errorhandler(Refusal)
def _render_refusal(refusal: Refusal):
    log_event("oauth", step=request.endpoint, result="refused", status=refusal.status, reason=refusal.reason)
    page = render_template("error.html", title=refusal.title, message=refusal.message, stored=refusal.stored)
    return page, refusal.status


@bp.get("/auth")
def begin_install():
    """Verify Shopify's signed install request and send the merchant to the authorize page."""
    _require_app_credentials()
    params = _query_params(request.args)
    shop = _checked_shop(params)
    _check_signature(params, max_age=INSTALL_REQUEST_MAX_AGE)
    services = get_services()
    try:
        state = issue_state(services.redis, shop)
    except redis.RedisError as exc:
        raise _unavailable("Redis", exc) from exc
    config = current_app.config
    query = urlencode(
        {
            "client_id": config["SHOPIFY_API_KEY"],
            "scope": config["SHOPIFY_SCOPES"],
            "redirect_uri": callback_url(config),
            "state": state,
        }
    )
    log_event("oauth", step="begin_install", result="redirected", shop=shop)
    return redirect(f"{admin_base_url(config['SHOPIFY_ADMIN_URL'], shop)}/admin/oauth/authorize?{query}", 302)


@bp.get(CALLBACK_PATH)
def finish_install():
    """Check the callback, exchange the code for expiring tokens, store them, register webhooks."""
    _require_app_credentials()
    params = _query_params(request.args)
    for name in ("code", "state"):
        if not params.get(name):
            raise Refusal(
                400,
                "Installation link incomplete",
                f"Shopify's answer lacks '{name}'. Start the installation again from your Shopify admin.",
                f"missing {name}",
            )
    shop = _checked_shop(params)
    _check_signature(params, max_age=CALLBACK_MAX_AGE)
    services = get_services()
    try:
        state_ok = consume_state(services.redis, params["state"], shop)
    except redis.RedisError as exc:
        raise _unavailable("Redis", exc) from exc
    if not state_ok:
        raise Refusal(
            403,
            "Installation link expired or already used",
            "This installation link was already used, has expired, or belongs to another "
            "store. Start the installation again from your Shopify admin.",
            "state invalid",
        )
    grant = _exchange_code(services, shop, params["code"])
    _check_granted_scopes(grant.scopes)
    try:
        shops.install_grant(services.database, services.cipher, shop, grant)
    except SQLAlchemyError as exc:
        raise _unavailable("the database", exc) from exc
    log_event(
        "oauth",
        step="finish_install",
        result="installed",
        shop=shop,
        scopes=grant.scopes,
        expiring=grant.access_token_expires_at is not None,
    )
    topics = _register_webhooks(services, shop)
    return render_template("installed.html", shop=shop, topics=topics, address=webhook_address(current_app.config))


def callback_url(config) -> str:
    """Where Shopify sends the merchant back: APP_URL/auth/callback (listed in the app's redirect URLs)."""
    return config["APP_URL"].rstrip("/") + CALLBACK_PATH


def _require_app_credentials() -> None:
    config = current_app.config
    if not config["SHOPIFY_API_KEY"] or not config["SHOPIFY_API_SECRET"]:
        raise Refusal(
            500,
            "The app is not configured",
            "The app's operator has not set SHOPIFY_API_KEY and SHOPIFY_API_SECRET yet.",
            "app credentials not configured",
        )


def _query_params(args: MultiDict) -> dict:
    """The query as Shopify signed it: one value per key, lists only for `key[]`."""
    params: dict = {}
    for key in args.keys():
        values = args.getlist(key)
        if key.endswith("[]"):
            params[key] = values
        elif len(values) == 1:
            params[key] = values[0]
        else:
            # Which of two values would the signature cover? Refuse rather than guess.
            raise Refusal(400, "Installation link malformed", f"The parameter '{key[:40]}' appears twice.", "duplicate parameter")
    return params


def _checked_shop(params: dict) -> str:
    """The shop parameter, validated before any URL is built from it."""
    shop = params.get("shop")
    if not is_valid_shop_domain(shop):
        raise Refusal(
            400,
            "Not a Shopify store address",
            "The 'shop' parameter must be your store's address of the form "
            "your-store.myshopify.com. Start the installation from your Shopify admin.",
            "invalid shop domain",
        )
    return shop.lower()


def _check_signature(params: dict, max_age: int) -> None:
    """The hex HMAC over the sorted query (current or old secret), then the signed timestamp's age."""
    if not verify_query(params, webhook_secrets(current_app.config)):
        raise Refusal(
            403,
            "Request not signed by Shopify",
            "This link does not carry a valid Shopify signature. Start the installation "
            "from your Shopify admin or the app listing.",
            "bad hmac",
        )
    try:
        signed_at = int(params.get("timestamp", ""))
    except ValueError:
        signed_at = None
    now = time.time()
    if signed_at is None or not (now - max_age - CLOCK_SKEW <= signed_at <= now + CLOCK_SKEW):
        raise Refusal(
            403,
            "Installation link expired",
            "This link is too old (or its time is wrong). Start the installation again from your Shopify admin.",
            "stale timestamp",
        )


def _exchange_code(services, shop: str, code: str):
    endpoint = TokenEndpoint.from_config(services.config, services.http, services.timeout)
    try:
        return endpoint.exchange_code(shop, code)
    except TokenGrantRefused as exc:
        raise Refusal(
            400,
            "Shopify refused the installation code",
            "The code Shopify sent was refused (it may have been used already). "
            "Start the installation again from your Shopify admin.",
            str(exc)[:200],
        ) from exc
    except ConfigurationError as exc:
        raise Refusal(
            500,
            "The app is misconfigured",
            "Shopify refused the app's credentials. The operator must check SHOPIFY_API_KEY and SHOPIFY_API_SECRET.",
            str(exc)[:200],
        ) from exc
    except TransientError as exc:
        # Not a refusal of the code (a timeout, 5xx, 429 or another 4xx): the merchant can simply retry.
        raise Refusal(
            502,
            "Shopify did not finish the installation",
            "Shopify could not be reached or did not answer properly. Try again in a minute from your Shopify admin.",
            str(exc)[:200],
        ) from exc


def missing_scopes(required: str, granted: str | None) -> list[str]:
    """The scopes of `required` (comma-separated) that `granted` does not cover, in required order."""
    have = set(_scope_list(granted))
    return [scope for scope in _scope_list(required) if scope not in have and _READ_SCOPE.sub(r"\1write_", scope) not in have]


def _scope_list(scopes: str | None) -> list[str]:
    return [part.strip() for part in (scopes or "").split(",") if part.strip()]


def _check_granted_scopes(granted: str | None) -> None:
    """Refuse (storing nothing) a grant that lacks a scope of SHOPIFY_SCOPES: its jobs would fail later."""
    missing = missing_scopes(current_app.config["SHOPIFY_SCOPES"], granted)
    if not missing:
        return
    names = ", ".join(missing)
    raise Refusal(
        403,
        "Permissions missing",
        f"Shopify granted the app {', '.join(_scope_list(granted)) or 'no access scopes'}, but it also "
        f"needs {names} to mirror cancellations and note what happened on your orders. Start the "
        "installation again from your Shopify admin and approve every permission the app asks for. "
        "(Operator: the scopes in shopify.app.toml must include SHOPIFY_SCOPES.)",
        f"missing scopes: {names}",
    )


def _register_webhooks(services, shop: str) -> list[str]:
    """Subscribe the shop's webhooks (idempotent); the installation stands even when this fails."""
    config = current_app.config
    try:
        by_app = registered_by_app(config)
    except ConfigurationError as exc:
        raise Refusal(500, "The app is misconfigured", str(exc), "bad WEBHOOK_SUBSCRIPTIONS") from exc
    if not by_app:
        return []
    try:
        register_webhooks(services.admin_client(shop), webhook_address(current_app.config), config["SHOPIFY_API_VERSION"])
    except MirrorError as exc:
        raise Refusal(
            502,
            "Installed, but webhooks could not be registered",
            "The app is connected to your store, but Shopify did not accept its webhook "
            "subscriptions, so it cannot react to cancellations yet. Open the app again from "
            "your Shopify admin to retry.",
            str(exc)[:200],
            stored=True,
        ) from exc
    return [topic.lower().replace("_", "/", 1) for topic in TOPICS]


def _unavailable(what: str, exc: Exception) -> Refusal:
    return Refusal(
        503,
        "Temporarily unavailable",
        "The app cannot reach its storage right now. Try again in a minute.",
        f"{what} unavailable ({type(exc).__name__})",
    )
