"""Only the body is signed: replayed or re-labelled deliveries change nothing Shopify does not confirm.

End to end: signed webhooks over HTTP → the real door → Redis → a real RQ worker → the Gelato and
Shopify fakes. Every destructive job reads the order from the Admin API first.
"""

import zlib

import requests
from sqlalchemy import select

from plugin.store.models import Activity
from tests.conftest import SHOP
from tests.test_updates_e2e import seed

GELATO_WRITES = (("POST", r":cancel$"), ("PATCH", r"^/v4/orders/"), ("POST", r"^/v4/orders$"))


def deliver(shopify, live_app, topic, payload, webhook_id=None):
    """Send a signed delivery; the door's (status, one-line answer)."""
    response = shopify.send_webhook(live_app.url + "/webhooks", SHOP, topic, payload, webhook_id=webhook_id)
    return response.status_code, response.json()["message"]


def activity_for(app, order_id):
    with app.extensions["database"].session() as session:
        rows = session.scalars(select(Activity).where(Activity.store_order_id == str(order_id)).order_by(Activity.id))
        return [(row.topic, row.action, row.outcome, row.detail) for row in rows]


def gelato_writes(gelato):
    return [c for method, path in GELATO_WRITES for c in gelato.calls_matching(method, path)]


def order_reads(shopify):
    return [c for c in shopify.graphql_calls("order") if c.operation_name == "OrderPrintState"]


def test_update_body_replayed_as_orders_cancelled_is_ignored_at_the_door(
    app, live_app, installed_shop, shopify, gelato, queue, drain
):
    order_id = shopify.add_order(SHOP)
    print_id = gelato.add_order(str(order_id), status="passed")
    leaked = shopify.order_payload(SHOP, order_id)  # a genuine orders/updated body: not cancelled
    status, message = deliver(shopify, live_app, "orders/cancelled", leaked)
    assert (status, message) == (200, "not cancelled: the signed order has no cancelled_at")
    assert queue.count == 0
    drain()
    assert gelato.order(print_id)["fulfillmentStatus"] == "passed"
    assert shopify.order(SHOP, order_id)["tags"] == []
    metrics = requests.get(live_app.url + "/metrics", timeout=5).text
    assert 'print_mirror_webhooks_total{topic="orders/cancelled",result="ignored"} 1' in metrics


def test_cancelled_body_for_an_order_shopify_says_is_live_touches_nothing(app, live_app, installed_shop, shopify, gelato, drain):
    order_id = shopify.add_order(SHOP, note="Gift")
    print_id = gelato.add_order(str(order_id), status="passed")
    forged = shopify.order_payload(SHOP, order_id)
    forged["cancelled_at"] = forged["updated_at"]  # signed, but Shopify never cancelled the order
    for topic in ("orders/cancelled", "orders/updated"):
        status, message = deliver(shopify, live_app, topic, dict(forged, updated_at=forged["updated_at"]))
        assert status == 200 and message in ("enqueued", "no print-relevant change"), message
    drain()
    assert gelato.order(print_id)["fulfillmentStatus"] == "passed"
    assert gelato_writes(gelato) == []
    assert shopify.graphql_calls("orderUpdate") == [] and shopify.graphql_calls("tagsAdd") == []
    assert shopify.order(SHOP, order_id)["note"] == "Gift"
    rows = activity_for(app, order_id)
    assert rows and all(row[1:] == ("confirm", "not_confirmed", "Shopify says the order is not cancelled") for row in rows)


def test_cancellation_of_an_order_shopify_does_not_know_touches_nothing(app, live_app, installed_shop, shopify, gelato, drain):
    order_id = shopify.add_order(SHOP)
    payload = shopify.order_payload(SHOP, order_id)
    payload["cancelled_at"] = payload["updated_at"]
    payload["id"] = order_id + 1  # an order id this store does not have, with a print order of that reference
    print_id = gelato.add_order(str(order_id + 1), status="passed")
    assert deliver(shopify, live_app, "orders/cancelled", payload) == (200, "enqueued")
    drain()
    assert gelato.order(print_id)["fulfillmentStatus"] == "passed" and gelato_writes(gelato) == []
    assert activity_for(app, order_id + 1) == [("orders/cancelled", "confirm", "not_confirmed", "Shopify has no such order")]


def test_confirmed_cancellation_reads_the_order_once_then_cancels(app, live_app, installed_shop, shopify, gelato, drain):
    order_id = shopify.add_order(SHOP)
    print_id = gelato.add_order(str(order_id), status="passed")
    shopify.cancel_order(SHOP, order_id)
    assert deliver(shopify, live_app, "orders/cancelled", shopify.order_payload(SHOP, order_id)) == (200, "enqueued")
    drain()
    assert gelato.order(print_id)["fulfillmentStatus"] == "canceled"
    [read] = order_reads(shopify)
    [cancel] = gelato.calls_matching("POST", r":cancel$")
    assert read.time < cancel.time  # Shopify confirmed before the provider was asked
    assert read.variables["id"] == f"gid://shopify/Order/{order_id}"


def test_update_body_claiming_removed_items_acts_on_shopifys_state(app, live_app, installed_shop, shopify, gelato, drain):
    order_id, print_id, _ = seed(shopify, gelato, status="passed", quantities=(1,))
    forged = shopify.order_payload(SHOP, order_id)
    for item in forged["line_items"]:
        item["current_quantity"] = 0  # "every item removed" would cancel the print order
    assert deliver(shopify, live_app, "orders/updated", forged) == (200, "enqueued")
    drain()
    assert gelato.order(print_id)["fulfillmentStatus"] == "passed" and gelato_writes(gelato) == []
    assert [row[2] for row in activity_for(app, order_id)] == ["in_sync"]


def test_update_job_carries_no_personal_data(app, live_app, installed_shop, shopify, gelato, redis_client, drain):
    order_id = shopify.add_order(SHOP)
    shopify.set_order(
        SHOP, order_id, shipping_address={"first_name": "Zelda", "address1": "77 Hidden Lane", "phone": "+1 555 0199"}
    )
    assert deliver(shopify, live_app, "orders/updated", shopify.order_payload(SHOP, order_id)) == (200, "enqueued")
    everything = b""
    for key in redis_client.scan_iter(count=1000):
        kind = redis_client.type(key)
        if kind == b"string":
            everything += redis_client.get(key) or b""
        elif kind == b"hash":
            everything += b"".join(k + v for k, v in redis_client.hgetall(key).items())
        elif kind == b"list":
            everything += b"".join(redis_client.lrange(key, 0, -1))
    # RQ stores job data zlib-compressed; look inside too.
    for key in redis_client.scan_iter(match="rq:job:*"):
        data = redis_client.hget(key, "data")
        if data:
            everything += zlib.decompress(data)
    assert str(order_id).encode() in everything  # the job is there, by id
    for personal in (b"Zelda", b"Hidden Lane", b"555 0199"):
        assert personal not in everything
    drain()
