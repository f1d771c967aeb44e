"""Before anything destructive, ask the Admin API what the store order is now; record why a job stands down.

A webhook is a trigger, not evidence: Shopify signs only its body, so a leaked body can be sent
again under another topic or long after the fact. Jobs therefore act on the order as Shopify
answers it when they run, and a job whose order Shopify does not confirm touches nothing.
"""

from __future__ import annotations

from plugin.logs import log_event
from plugin.orders.ids import order_gid
from plugin.orders.outcomes import PrintOutcome
from plugin.shopify.admin_api import AdminClient
from plugin.shopify.order_state_api import read_order_payload
from plugin.store import activity
from plugin.store.activity import Outcome

from .print_changes import StoreState, store_state_of

NOT_CONFIRMED = PrintOutcome.NOT_CONFIRMED
ORDER_NOT_FOUND = "Shopify has no such order"
NOT_CANCELLED = "Shopify says the order is not cancelled"


def read_store_state(client: AdminClient, order_id: str) -> StoreState | None:
    """The order's print-relevant state as the Admin API answers it now; None when Shopify has no such order."""
    payload = read_order_payload(client, order_gid(order_id))
    return None if payload is None else store_state_of(payload)


def stand_down(svc, shop: str, order_id: str, topic: str, webhook_id: str | None, job: str, reason: str) -> dict:
    """Record in the activity why the job did nothing (Shopify did not confirm), log it, and return the job's result."""
    activity.record(svc.database, shop, order_id, topic, [Outcome(None, None, "confirm", NOT_CONFIRMED, detail=reason)])
    log_event(
        "job", job=job, shop=shop, topic=topic, webhook_id=webhook_id, order_id=order_id, outcome=NOT_CONFIRMED, detail=reason
    )
    return {"order_id": order_id, "print_orders": {}, "store_order": "untouched", "not_confirmed": reason}
