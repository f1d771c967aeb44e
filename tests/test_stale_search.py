"""A stale search result: the search says in production, the re-read says not yet, so the print order is cancelled."""

from sqlalchemy import select

from plugin.store.models import Activity
from tests.conftest import SHOP, paragraphs_in

CUSTOMER_NOTE = "Ring twice."


def test_search_says_in_production_but_the_order_is_still_passed_so_it_is_cancelled(
    app, live_app, installed_shop, shopify, gelato, drain, queue
):
    order_id = shopify.add_order(SHOP, note=CUSTOMER_NOTE)
    print_id = gelato.add_order(str(order_id), status="in_production")
    # Gelato's search index lags: it still shows in_production, while the order itself (read by
    # id) is back before production, e.g. put on hold for a file check and passed again.
    gelato.before("GET", rf"/v4/orders/{print_id}$", lambda call: gelato.set_status(print_id, "passed"), times=1)
    shopify.cancel_order(SHOP, order_id)
    response = shopify.send_webhook(live_app.url + "/webhooks", SHOP, "orders/cancelled", shopify.order_payload(SHOP, order_id))
    assert response.status_code == 200, response.text
    drain()

    assert len(gelato.calls_matching("GET", rf"/v4/orders/{print_id}$")) >= 1
    assert len(gelato.calls_matching("POST", rf"/v4/orders/{print_id}:cancel$")) == 1
    assert gelato.order(print_id)["fulfillmentStatus"] == "canceled"
    store_order = shopify.order(SHOP, order_id)
    assert "print-cancelled" in store_order["tags"]
    assert "print-cancel-too-late" not in store_order["tags"]
    assert store_order["note"] == CUSTOMER_NOTE and paragraphs_in(store_order["note"]) == []
    with app.extensions["database"].session() as session:
        [row] = session.scalars(select(Activity).where(Activity.store_order_id == str(order_id)))
        assert (row.print_order_id, row.status_seen, row.outcome) == (print_id, "passed", "cancelled")
    assert queue.failed_job_registry.count == 0
