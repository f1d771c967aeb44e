"""A store order cancelled in the Shopify fake, its print order at the Gelato fake, and the signed webhook delivered."""

from __future__ import annotations

from tests.conftest import SHOP


def cancel_with_webhook(shopify, gelato, live_app, status: str = "passed") -> tuple[int, str]:
    """Cancel a new store order of SHOP whose print order is in `status`; (order id, print order id) once queued."""
    order_id = shopify.add_order(SHOP)
    print_id = gelato.add_order(str(order_id), status=status)
    shopify.cancel_order(SHOP, order_id)
    answer = shopify.send_webhook(live_app.url + "/webhooks", SHOP, "orders/cancelled", shopify.order_payload(SHOP, order_id))
    assert answer.json()["message"] == "enqueued", answer.text
    return order_id, print_id
