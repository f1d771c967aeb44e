"""Handlers for order topics: orders/cancelled, and orders/updated (print-relevant changes only)."""

from __future__ import annotations

from datetime import datetime

from plugin.errors import InvalidOrder
from plugin.intake.delivery import Delivery
from plugin.intake.guards import FingerprintGuard, StaleUpdateGuard, SweepGuard
from plugin.intake.registry import Ignored, JobRequest, Route
from plugin.orders.state import order_id_of, print_state_of
from plugin.orders.timestamps import parse_timestamp

MIRROR_CANCELLATION = "jobs.cancellation.mirror_cancellation"
MIRROR_UPDATE = "jobs.updates.mirror_update"
# The topic of the reconciliation sweep's jobs, in the activity log and in their dedupe keys.
SWEEP_TOPIC = "reconcile"


def order_cancelled(delivery: Delivery) -> JobRequest | Ignored:
    """A store order was cancelled: mirror the cancellation to its print orders.

    Only the body is signed, so the topic header is not evidence: a body whose own `cancelled_at`
    is empty is no cancellation (e.g. an orders/updated body replayed under this topic), and is
    ignored here; the job confirms with the Admin API before cancelling anything. The payload is
    the whole order, so it also passes the orders/updated guards: the orders/updated Shopify sends
    for the same cancellation (or a reconciliation sweep) then finds the state already queued and
    costs no second job, and vice versa.
    """
    order_id = order_id_of(delivery.payload)
    if delivery.payload.get("cancelled_at") in (None, ""):
        return Ignored("not cancelled: the signed order has no cancelled_at")
    try:
        state = print_state_of(delivery.payload)
    except InvalidOrder:
        state = None  # a payload too odd to fingerprint still gets its cancellation mirrored
    return JobRequest(
        func=MIRROR_CANCELLATION,
        kwargs={
            "shop": delivery.shop,
            "order_id": order_id,
            "topic": delivery.topic,
            "webhook_id": delivery.webhook_id,
        },
        guards=() if state is None or not state.cancelled else _guards(delivery.shop, state),
    )


def order_updated(delivery: Delivery) -> JobRequest | Ignored:
    """A store order changed: queue a job only for a newer update whose print-relevant fields changed.

    Both checks run inside the enqueue script, so a note or tag edit (the app's own writes
    included) costs one Redis round trip and never a job. The job gets ids and the update's time
    only: it reads the order's address and items from the Admin API when it runs, so no personal
    data waits in Redis.
    """
    state = print_state_of(delivery.payload)
    return _mirror_update(delivery, state.order_id, state.updated_at, state.cancelled, _guards(delivery.shop, state))


def _guards(shop: str, state) -> tuple:
    """Staleness first (an old delivery is reported stale even when its fingerprint differs), then change."""
    return (
        StaleUpdateGuard(shop, state.order_id, state.updated_at),
        FingerprintGuard(shop, state.order_id, state.fingerprint()),
    )


def order_found_by_sweep(delivery: Delivery) -> JobRequest:
    """The reconciliation sweep found an order updated (ids, update time, cancelled: nothing else).

    Queued only when this update is newer than any already queued for the order: an order whose
    webhook was handled costs nothing. The job reads the rest of the order from the Admin API.
    """
    payload = delivery.payload
    order_id = order_id_of(payload)
    updated_at = parse_timestamp(payload.get("updated_at"), "sweep 'updated_at'")
    cancelled = payload.get("cancelled") is True
    return _mirror_update(delivery, order_id, updated_at, cancelled, (SweepGuard(delivery.shop, order_id, updated_at),))


def _mirror_update(delivery: Delivery, order_id: str, updated_at: datetime, cancelled: bool, guards: tuple) -> JobRequest:
    """The mirror_update job for an order: ids, the update's time and whether it is cancelled, nothing more."""
    return JobRequest(
        func=MIRROR_UPDATE,
        kwargs={
            "shop": delivery.shop,
            "order_id": order_id,
            "topic": delivery.topic,
            "webhook_id": delivery.webhook_id,
            "updated_at": updated_at.isoformat(),
            "cancelled": cancelled,
        },
        guards=guards,
    )


ROUTES = (
    Route("orders/cancelled", order_cancelled),
    Route("orders/updated", order_updated),
)
