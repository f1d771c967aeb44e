"""Handlers for order topics: orders/cancelled."""

from __future__ import annotations

from .delivery import Delivery
from .payload import order_id_of
from .registry import Ignored, JobRequest
from .topics import registry

MIRROR_CANCELLATION = "jobs.cancellation.mirror_cancellation"


@registry.route("orders/cancelled")
def order_cancelled(delivery: Delivery) -> JobRequest | Ignored:
    """A store order was cancelled: mirror the cancellation to its print orders."""
    order_id = order_id_of(delivery.payload)
    return JobRequest(
        func=MIRROR_CANCELLATION,
        kwargs={
            "shop": delivery.shop,
            "order_id": order_id,
            "topic": delivery.topic,
            "webhook_id": delivery.webhook_id,
        },
    )
