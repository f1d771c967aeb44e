"""Job: app/uninstalled — the shop is forgotten (marked uninstalled, tokens deleted) only once Shopify
refuses its token; nothing in the delivery's unsigned headers decides it."""

from __future__ import annotations

import redis

from plugin.errors import ShopNotInstalled
from plugin.intake.enqueue import BODY_DEDUPE_KEY_PREFIX
from plugin.logs import log_event
from plugin.services import Services
from plugin.shopify.shop_probe import token_refused
from plugin.store import shops
from plugin.store.installed_marks import forget_installed
from plugin.store.models import utcnow

from .arguments import check_shop
from .runtime import services

# What a confirmation found (the job's "result").
UNINSTALLED = "uninstalled"  # Shopify refused the token: the shop is marked uninstalled, its tokens deleted
KEPT = "kept"  # Shopify accepts the token: the delivery is not genuine, or a reinstall superseded it
NO_TOKEN = "no_token"  # installed, but no token to ask Shopify with: nothing can be confirmed, nothing is changed
NOT_INSTALLED = "not_installed"  # already uninstalled: nothing left to forget
UNKNOWN = "unknown"  # never installed here


def forget_uninstalled_shop(shop: str, triggered_at: str | None = None, webhook_id: str | None = None) -> dict:
    """app/uninstalled: mark the shop uninstalled and delete its tokens once Shopify refuses its token."""
    check_shop(shop)
    # triggered_at is still accepted (jobs queued before this change carry it) and never read:
    # X-Shopify-Triggered-At is not signed, so it must not decide whether a shop loses its tokens.
    result = confirm_uninstalled(services(), shop, topic="app/uninstalled", webhook_id=webhook_id)
    return {"shop": shop, "result": result}


def confirm_uninstalled(svc: Services, shop: str, *, topic: str, webhook_id: str | None = None) -> str:
    """Ask Shopify, and forget the shop when it refuses the shop's token; returns one of the results above.

    TransientError when Shopify gives no answer (timeout, 5xx, throttling): the job is retried.
    """
    status = _status(svc, shop)
    if status is None or status not in shops.ACTIVE_STATUSES:
        result = UNKNOWN if status is None else NOT_INSTALLED
        log_event("shop_uninstalled", shop=shop, result=result, topic=topic, webhook_id=webhook_id)
        return result
    asked_at = utcnow()
    try:
        refused = token_refused(svc, shop)
    except ShopNotInstalled:
        # Uninstalled by another job while we asked, or installed without a token.
        if _status(svc, shop) in shops.ACTIVE_STATUSES:
            _log_refused(shop, topic, webhook_id, "no stored token to ask Shopify with")
            return NO_TOKEN
        log_event("shop_uninstalled", shop=shop, result=NOT_INSTALLED, topic=topic, webhook_id=webhook_id)
        return NOT_INSTALLED
    if not refused:
        _log_refused(shop, topic, webhook_id, "Shopify still accepts the shop's token")
        return KEPT
    # event_time: an installation stored after Shopify refused the old token (a reinstall racing
    # this job) is a new, live one and is kept.
    if not shops.uninstall_shop(svc.database, shop, event_time=asked_at):
        _log_refused(shop, topic, webhook_id, "reinstalled while Shopify was being asked")
        return KEPT
    # After the commit: a delivery that still sees the mark queues a job that finds the shop gone.
    forget_installed(svc.redis, shop)
    forget_uninstall_deliveries(svc.redis, shop)
    log_event("shop_uninstalled", shop=shop, result=UNINSTALLED, topic=topic, webhook_id=webhook_id)
    return UNINSTALLED


def forget_uninstall_deliveries(connection: redis.Redis, shop: str) -> None:
    """Drop the body markers of this shop's app/uninstalled deliveries once it is uninstalled.

    Shopify's app/uninstalled body is the Shop resource, which may be byte for byte the same after a
    reinstall; without this, a second uninstall within the dedupe window would be taken for a replay.
    """
    keys = list(connection.scan_iter(match=f"{BODY_DEDUPE_KEY_PREFIX}{shop}:app/uninstalled:*", count=1000))
    if keys:
        connection.delete(*keys)


def _status(svc: Services, shop: str) -> str | None:
    with svc.database.session() as session:
        row = shops.find_shop(session, shop)
        return None if row is None else row.status


def _log_refused(shop: str, topic: str, webhook_id: str | None, reason: str) -> None:
    log_event("shop_uninstall_refused", shop=shop, topic=topic, reason=reason, webhook_id=webhook_id)
