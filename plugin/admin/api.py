"""The admin page's JSON API under /app/api/: status, the print-provider account, settings and activity.

Every view runs behind plugin.admin.auth.authenticated and reads or changes only g.shop, the shop
the request's ID token was issued for: no request names a shop of its own.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, g, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from jobs.backlog import shop_backlog
from jobs.failed_jobs import SCAN_LIMIT, failed_jobs
from plugin.admin.auth import MAX_BODY_BYTES, authenticated, error
from plugin.config import webhook_address
from plugin.errors import ConfigurationError, MirrorError, ProviderRefused, TransientError
from plugin.logs import log_event
from plugin.orders.outcomes import PrintOutcome
from plugin.providers.catalog import (
    DISPLAY_NAMES,
    PROVIDERS,
    STORE_ID_NAMES,
    STORE_ID_REQUIRED,
    UnknownProvider,
    check_key,
    require_provider,
)
from plugin.services import DEFAULT_ACCOUNT, OWN_ACCOUNT, Services, get_services
from plugin.shopify.admin_api import AdminClient
from plugin.shopify.tagged_orders_api import orders_tagged
from plugin.shopify.webhook_subscriptions import TOPICS, existing_subscriptions, register_webhooks, registered_by_app
from plugin.store import activity, provider_accounts, shops

bp = Blueprint("admin_api", __name__, url_prefix="/app/api")

# The tags that ask the merchant to act (jobs/updates.py and jobs/failure_notes.py write them).
NEEDS_ACTION_TAGS = ("print-change-needs-action", "print-mirror-failed")
MAX_ACTIVITY = 200
DEFAULT_ACTIVITY = 50
# A provider key or store id longer than this is not one; refuse before any call.
MAX_KEY_LENGTH = 512
MAX_STORE_ID_LENGTH = 64
SETTINGS = ("cancel_and_replace",)


class BadInput(Exception):
    """The request cannot be acted on as sent: answered 400 with the message."""


@bp.errorhandler(BadInput)
def _bad_input(exc: BadInput):
    return error(400, str(exc))


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_exc: RequestEntityTooLarge):
    return error(413, f"request body over {MAX_BODY_BYTES} bytes")


@bp.after_request
def _no_store(response):
    # Answers carry one shop's data for one ID token: never cached by a browser or a proxy.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/status")
@authenticated
def status():
    """What the app knows and does for this shop, for the status view."""
    services = get_services()
    shop = g.shop
    row = _shop_row(services, shop)
    admin = services.admin_client(shop)  # one client: its Admin calls share one credentials read
    return jsonify(
        shop=shop,
        provider=provider_status(services, shop),
        providers=list(PROVIDERS),
        webhooks=_webhooks_status(services, admin),
        reconciliation={
            "interval_seconds": services.config["RECONCILE_INTERVAL"],
            "last_sweep_at": _iso(shops.as_utc(row.last_reconciled_at) if row else None),
        },
        failed_jobs=_failed_jobs(services, shop),
        backlog=_backlog(services, shop),
        needs_action=_needs_action(admin),
        settings={"cancel_and_replace": bool(row and row.cancel_and_replace)},
    )


@bp.put("/provider")
@authenticated
def connect_provider():
    """Check the key with the provider live, then store it encrypted; 422 with the provider's answer when refused."""
    body = _json_object(allowed=("provider", "api_key", "store_id"))
    try:
        provider = require_provider(body.get("provider"))
    except UnknownProvider as exc:
        raise BadInput(str(exc)) from exc
    api_key = _api_key(body.get("api_key"))
    store_id = _store_id(body.get("store_id"))
    if store_id is None and provider in STORE_ID_REQUIRED:
        raise BadInput(f"store_id is required for {DISPLAY_NAMES[provider]}: the {STORE_ID_NAMES[provider]}")
    services = get_services()
    name = DISPLAY_NAMES[provider]
    try:
        check_key(provider, services.config, api_key, store_id, services.timeout)
    except ProviderRefused as exc:
        log_event("provider_connect", shop=g.shop, provider=provider, result="refused")
        return error(422, str(exc))
    except TransientError as exc:
        log_event("provider_connect", shop=g.shop, provider=provider, result="unreachable")
        return error(503, f"{name} could not be reached to check the key ({exc}); nothing was saved, try again")
    except MirrorError as exc:
        return error(422, f"{name} did not accept the check with this key: {exc}")
    provider_accounts.connect(services.database, services.cipher, g.shop, provider, api_key, store_id)
    log_event("provider_connect", shop=g.shop, provider=provider, result="connected", store_id=store_id)
    return jsonify(provider=provider_status(services, g.shop), message=f"Connected: {name} accepted the key.")


@bp.delete("/provider")
@authenticated
def disconnect_provider():
    """Forget this shop's own provider account (and its key)."""
    services = get_services()
    removed = provider_accounts.disconnect(services.database, g.shop)
    log_event("provider_disconnect", shop=g.shop, result="removed" if removed else "none")
    return jsonify(provider=provider_status(services, g.shop))


@bp.get("/settings")
@authenticated
def read_settings():
    """This shop's settings."""
    row = _shop_row(get_services(), g.shop)
    return jsonify(cancel_and_replace=bool(row and row.cancel_and_replace))


@bp.put("/settings")
@authenticated
def write_settings():
    """Change this shop's settings: {"cancel_and_replace": true|false}."""
    body = _json_object(allowed=SETTINGS)
    value = body.get("cancel_and_replace")
    if not isinstance(value, bool):
        raise BadInput("cancel_and_replace must be true or false")
    services = get_services()
    if not shops.set_cancel_and_replace(services.database, g.shop, value):
        return error(404, "this store is not installed")
    log_event("settings_changed", shop=g.shop, cancel_and_replace=value)
    return jsonify(cancel_and_replace=value)


@bp.get("/activity")
@authenticated
def list_activity():
    """The shop's decisions, newest first, filtered by order (numeric id) and outcome."""
    raw_limit = request.args.get("limit", str(DEFAULT_ACTIVITY)).strip()
    if not (raw_limit.isascii() and raw_limit.isdigit() and 1 <= int(raw_limit) <= MAX_ACTIVITY):
        raise BadInput(f"limit must be a whole number from 1 to {MAX_ACTIVITY}")
    limit = int(raw_limit)
    order_id = request.args.get("order", "").strip() or None
    if order_id is not None and not (order_id.isascii() and order_id.isdigit() and len(order_id) <= 20):
        raise BadInput("order must be a numeric Shopify order id (the number at the end of the order's admin address)")
    outcome = request.args.get("outcome", "").strip() or None
    outcomes = [str(o) for o in PrintOutcome]
    if outcome is not None and outcome not in outcomes:
        raise BadInput(f"outcome must be one of: {', '.join(outcomes)}")
    rows = activity.latest(get_services().database, shop=g.shop, order_id=order_id, outcome=outcome, limit=limit)
    return jsonify(activity=[_activity_row(g.shop, row) for row in reversed(rows)], outcomes=outcomes)


def provider_status(services: Services, shop: str) -> dict:
    """The provider part of the status: which account the shop's jobs use, never its key."""
    own = provider_accounts.summary(services.database, shop)
    if own is not None:
        return {
            "name": own.provider,
            "connected": True,
            "source": OWN_ACCOUNT,
            "key_hint": own.key_hint,
            "store_id": own.store_id,
            "connected_at": _iso(own.connected_at),
            "last_checked_at": _iso(own.last_checked_at),
        }
    default = bool(services.config["GELATO_API_KEY"])
    return {
        "name": "gelato" if default else None,
        "connected": default,
        "source": DEFAULT_ACCOUNT if default else None,
        "key_hint": None,
        "store_id": None,
        "connected_at": None,
        "last_checked_at": None,
    }


def order_url(shop: str, order_id: str) -> str:
    """The order's page in the Shopify admin (the shop domain was validated with its ID token)."""
    return f"https://admin.shopify.com/store/{shop.removesuffix('.myshopify.com')}/orders/{order_id}"


def _activity_row(shop: str, row) -> dict:
    return {
        "created_at": _iso(shops.as_utc(row.created_at)),
        "order_id": row.store_order_id,
        "order_name": row.order_name,
        "order_url": order_url(shop, row.store_order_id),
        "print_order_id": row.print_order_id,
        "topic": row.topic,
        "action": row.action,
        "outcome": row.outcome,
        "status_seen": row.status_seen,
        "detail": row.detail,
        "error": row.error,
    }


def _webhooks_status(services: Services, client: AdminClient) -> dict:
    """The shop's subscriptions to this app's address; missing ones are registered again (app mode)."""
    try:
        by_app = registered_by_app(services.config)
    except ConfigurationError as exc:
        return {"error": str(exc), "topics": [], "missing": []}
    if not by_app:
        # Declared in shopify.app.toml: Shopify does not list app-wide subscriptions per shop.
        return {"registered": True, "managed_by": "shopify.app.toml", "topics": [], "missing": []}
    address = webhook_address(services.config)
    version = services.config["SHOPIFY_API_VERSION"]
    try:
        present = {topic for topic, uri in existing_subscriptions(client, version) if uri == address}
        missing = [topic for topic in TOPICS if topic not in present]
        if missing:
            register_webhooks(client, address, version)
            log_event("webhooks_reregistered", shop=client.shop, topics=",".join(missing))
            present |= set(missing)
            missing = []
    except MirrorError as exc:
        return {"error": f"Shopify could not be asked about webhooks: {exc}", "topics": [], "missing": []}
    return {"registered": not missing, "topics": [_topic_name(t) for t in TOPICS if t in present], "missing": missing}


def _needs_action(client: AdminClient) -> dict:
    """The shop's orders tagged for the merchant's attention, newest first, with their admin links."""
    try:
        by_id: dict[str, dict] = {}
        for tag in NEEDS_ACTION_TAGS:
            for order in orders_tagged(client, tag):
                by_id.setdefault(
                    order.id,
                    {"id": order.id, "name": order.name, "tags": [], "url": order_url(client.shop, order.id)},
                )["tags"].append(tag)
    except MirrorError as exc:
        return {"error": f"Shopify could not be asked for tagged orders: {exc}", "orders": []}
    return {"orders": list(by_id.values())}


def _failed_jobs(services: Services, shop: str) -> dict:
    found = failed_jobs(services.redis, shop=shop, scan_limit=SCAN_LIMIT)
    return {
        "count": len(found),
        "jobs": [
            {"id": job.id, "job": job.job, "order_id": job.order_id, "error": job.error, "ended_at": _iso(job.ended_at)}
            for job in reversed(found)
        ],
    }


def _backlog(services: Services, shop: str) -> dict:
    """This shop's jobs not done yet: waiting, waiting to retry, running; and since when the oldest waits."""
    backlog = shop_backlog(services.redis, shop)
    return {
        "queued": backlog.queued,
        "retrying": backlog.retrying,
        "running": backlog.running,
        "oldest_queued_at": _iso(backlog.oldest_queued_at),
        "complete": backlog.complete,
    }


def _shop_row(services: Services, shop: str):
    with services.database.session() as session:
        row = shops.find_shop(session, shop)
        if row is not None:
            session.expunge(row)
        return row


def _json_object(allowed: tuple[str, ...]) -> dict:
    """The request's JSON object with only the allowed fields; BadInput for anything else."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadInput("send a JSON object (Content-Type: application/json)")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise BadInput(f"unknown field(s): {', '.join(unknown)}; expected {', '.join(allowed)}")
    return body


def _api_key(value: object) -> str:
    """The pasted key, trimmed; BadInput unless it looks like one (printable, no spaces, not huge)."""
    if not isinstance(value, str) or not value.strip():
        raise BadInput("api_key is required: paste the API key from your provider's dashboard")
    key = value.strip()
    if len(key) > MAX_KEY_LENGTH or not key.isprintable() or any(c.isspace() for c in key):
        raise BadInput(f"api_key does not look like an API key (no spaces, at most {MAX_KEY_LENGTH} characters)")
    return key


def _store_id(value: object) -> str | None:
    """The optional provider store id, trimmed; None when absent or empty."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadInput("store_id must be text")
    store_id = value.strip()
    if len(store_id) > MAX_STORE_ID_LENGTH or not store_id.isprintable():
        raise BadInput(f"store_id must be at most {MAX_STORE_ID_LENGTH} printable characters")
    return store_id or None


def _topic_name(topic: str) -> str:
    return topic.lower().replace("_", "/", 1)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
