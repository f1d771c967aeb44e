"""Job: app/uninstalled — the shop is marked uninstalled and its tokens are deleted."""

from __future__ import annotations

from datetime import datetime

from plugin import shops
from plugin.errors import InvalidPayload
from plugin.installed_marks import forget_installed
from plugin.logs import log_event
from plugin.shop_domain import is_valid_shop_domain

from .runtime import services


def forget_uninstalled_shop(shop: str, triggered_at: str | None = None, webhook_id: str | None = None) -> dict:
    """Mark the shop uninstalled unless it was (re)installed after Shopify saw the uninstall."""
    if not is_valid_shop_domain(shop):
        raise InvalidPayload(f"job argument shop={str(shop)[:80]!r} is not a *.myshopify.com domain")
    event_time = parse_triggered_at(triggered_at)
    svc = services()
    uninstalled = shops.uninstall_shop(svc.database, shop, event_time=event_time)
    if uninstalled:
        # After the commit: a delivery that still sees the mark queues a job that finds the shop gone.
        forget_installed(svc.redis, shop)
    # False: unknown shop, or a late retry of an uninstall that a reinstall has already superseded.
    result = "uninstalled" if uninstalled else "kept"
    log_event("shop_uninstalled", shop=shop, result=result, webhook_id=webhook_id, triggered_at=triggered_at)
    return {"shop": shop, "result": result}


def parse_triggered_at(value: str | None) -> datetime | None:
    """X-Shopify-Triggered-At as an aware datetime; None when absent or unreadable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
