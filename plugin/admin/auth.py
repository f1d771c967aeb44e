"""Who is asking: every admin API request proves its shop with an ID token, and a shop's first request installs it.

The ID token is the session token App Bridge hands the embedded page (plugin/admin/id_tokens.py checks it).
A shop Shopify installed for us (managed install) has no offline token yet when the merchant first opens the
app: that request exchanges its ID token for an expiring offline token and registers the webhooks
(https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/token-exchange).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import current_app, g, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from plugin.admin.id_tokens import IdToken, verify_id_token
from plugin.config import webhook_address, webhook_secrets
from plugin.errors import ConfigurationError, InvalidIdToken, MirrorError, TokenGrantRefused, TransientError
from plugin.logs import log_event
from plugin.services import Services, get_services
from plugin.shopify.oauth import missing_scopes
from plugin.shopify.token_endpoint import TokenEndpoint
from plugin.shopify.webhook_subscriptions import register_webhooks, registered_by_app
from plugin.store import shops

# App Bridge retries a request answered 401 with this header once, with a fresh ID token.
RETRY_HEADER = "X-Shopify-Retry-Invalid-Session-Request"
# Settings and a provider key are a few hundred bytes; nothing the page sends comes near this.
MAX_BODY_BYTES = 16 * 1024


def error(status: int, message: str, **headers: str):
    """A JSON error answer: {"error": message}."""
    response = jsonify(error=message)
    response.status_code = status
    response.headers.update(headers)
    return response


def authenticated(view: Callable) -> Callable:
    """Run view only for a request with a valid ID token, with g.shop set to the token's (installed) shop."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return error(413, f"request body over {MAX_BODY_BYTES} bytes")
        # A chunked body declares no length: the stream is cut at the limit, so it is refused, never read whole.
        request.max_content_length = MAX_BODY_BYTES
        config = current_app.config
        try:
            token = verify_id_token(request.headers.get("Authorization"), config["SHOPIFY_API_KEY"], webhook_secrets(config))
        except InvalidIdToken as exc:
            log_event("admin_auth", result="refused", reason=str(exc))
            return error(401, "the session is not valid; reload the app from the Shopify admin", **{RETRY_HEADER: "1"})
        except ConfigurationError as exc:
            # SHOPIFY_API_KEY or the secret is unset: no token can be checked, and a retry cannot help.
            return error(500, f"the app is not configured: {exc}")
        services = get_services()
        try:
            installed = shops.has_usable_token(services.database, token.shop)
        except SQLAlchemyError:
            return error(503, "the app's database is unavailable; try again in a minute")
        if not installed:
            refusal = install_by_token_exchange(services, token)
            if refusal is not None:
                return refusal
        g.shop = token.shop
        return view(*args, **kwargs)

    return wrapper


def install_by_token_exchange(services: Services, token: IdToken):
    """Exchange the ID token for an expiring offline token, store it, register webhooks; None when done, else the answer."""
    endpoint = TokenEndpoint.from_config(services.config, services.http, services.timeout)
    try:
        grant = endpoint.exchange_id_token(token.shop, token.token)
    except TokenGrantRefused as exc:
        # An ID token lives a minute: one that expired on its way is refused, and App Bridge retries with a fresh one.
        log_event("managed_install", shop=token.shop, result="refused", reason=str(exc)[:200])
        return error(
            401,
            "Shopify refused to authorise the app for this store; reload the app from the Shopify admin",
            **{RETRY_HEADER: "1"},
        )
    except TransientError:
        return error(503, "Shopify could not be reached to authorise the app; try again in a minute")
    missing = missing_scopes(services.config["SHOPIFY_SCOPES"], grant.scopes)
    if missing:
        log_event("managed_install", shop=token.shop, result="missing_scopes", scopes=grant.scopes)
        return error(403, f"the app was not granted {', '.join(missing)}; update the app's access scopes and reinstall")
    shops.install_grant(services.database, services.cipher, token.shop, grant)
    log_event("managed_install", shop=token.shop, result="installed", scopes=grant.scopes)
    try:
        if registered_by_app(services.config):
            register_webhooks(
                services.admin_client(token.shop), webhook_address(services.config), services.config["SHOPIFY_API_VERSION"]
            )
    except MirrorError as exc:
        # Installed all the same; the status view says what is missing (and re-registers it) on the next open.
        log_event("managed_install", shop=token.shop, result="webhooks_failed", reason=str(exc)[:200])
    return None
