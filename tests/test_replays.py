"""Replayed signed bodies over real HTTP: Shopify signs only the body, so a body re-sent under fresh
headers is recognised by the body itself and answered "duplicate" without a second job."""

import uuid

from tests.conftest import SHOP

PRIVACY_BODY = {
    "shop_id": 954889,
    "shop_domain": SHOP,
    "customer": {"id": 191167},
    "orders_requested": [820982911946154600],
    "orders_to_redact": [820982911946154600],
    "data_request": {"id": 9999},
}


def deliver(shopify, live_app, topic, payload, **kwargs):
    return shopify.send_webhook(live_app.url + "/webhooks", SHOP, topic, payload, **kwargs)


def body_markers(redis_client):
    return sorted(key.decode() for key in redis_client.scan_iter(match="print-mirror:webhook-body:*"))


def test_a_signed_body_resent_under_a_fresh_webhook_id_is_a_duplicate(
    live_app, installed_shop, shopify, gelato, queue, drain, redis_client
):
    order_id = shopify.add_order(SHOP)
    shopify.cancel_order(SHOP, order_id)
    gelato.add_order(str(order_id), status="passed")
    payload = shopify.order_payload(SHOP, order_id)
    first = deliver(shopify, live_app, "orders/cancelled", payload, webhook_id="original")
    assert first.status_code == 200 and first.json()["message"] == "enqueued"
    # The captured body again, with every unsigned header fresh: new ids, a later Triggered-At.
    replayed = deliver(
        shopify,
        live_app,
        "orders/cancelled",
        payload,
        webhook_id=str(uuid.uuid4()),
        event_id=str(uuid.uuid4()),
        triggered_at="2030-01-01T00:00:00.000000000Z",
    )
    assert replayed.status_code == 200 and replayed.json()["message"] == "duplicate"
    assert queue.count == 1
    drain()
    assert len(gelato.calls_matching("POST", r":cancel$")) == 1
    # The marker names the shop as its own segment and lives as long as the webhook-id marker.
    [marker] = body_markers(redis_client)
    assert marker.split(":")[2:4] == [SHOP, "orders/cancelled"]
    webhook_ttl = redis_client.ttl("print-mirror:webhook:orders/cancelled:original")
    assert abs(redis_client.ttl(marker) - webhook_ttl) <= 1 and webhook_ttl >= 24 * 3600


def test_the_same_body_under_another_topic_is_not_its_duplicate(live_app, installed_shop, shopify, queue):
    # Two topics with byte-identical bodies, as Shopify can send them for one merchant action.
    assert deliver(shopify, live_app, "customers/data_request", PRIVACY_BODY).json()["message"] == "enqueued"
    assert deliver(shopify, live_app, "customers/redact", PRIVACY_BODY).json()["message"] == "enqueued"
    assert queue.count == 2
    # Each topic's own replay is still caught.
    assert deliver(shopify, live_app, "customers/redact", PRIVACY_BODY).json()["message"] == "duplicate"
    assert queue.count == 2


def test_an_orders_updated_with_the_cancellations_body_meets_the_guards_not_the_dedupe(live_app, installed_shop, shopify, queue):
    """Shopify fires orders/updated with the same order for a cancellation: it is judged on its own topic."""
    order_id = shopify.add_order(SHOP)
    shopify.cancel_order(SHOP, order_id)
    payload = shopify.order_payload(SHOP, order_id)
    assert deliver(shopify, live_app, "orders/cancelled", payload).json()["message"] == "enqueued"
    updated = deliver(shopify, live_app, "orders/updated", payload)
    assert updated.status_code == 200 and updated.json()["message"] != "duplicate"
    assert queue.count == 1  # the fingerprint guard, not the body marker, spared the second job


def test_a_body_that_was_refused_can_be_delivered_again(live_app, installed_shop, shopify, queue):
    """Nothing is remembered for a refused or unacknowledged delivery: only enqueued bodies are markers."""
    order_id = shopify.add_order(SHOP)
    shopify.cancel_order(SHOP, order_id)
    payload = shopify.order_payload(SHOP, order_id)
    refused = deliver(shopify, live_app, "orders/cancelled", payload, headers={"X-Shopify-Webhook-Id": None})
    assert refused.status_code == 400
    assert deliver(shopify, live_app, "orders/cancelled", payload).json()["message"] == "enqueued"
    assert queue.count == 1


def test_shop_redact_erases_the_shops_body_markers(app, live_app, shopify, drain, redis_client):
    deliver(shopify, live_app, "customers/redact", PRIVACY_BODY)
    other = shopify.send_webhook(
        live_app.url + "/webhooks",
        "other.myshopify.com",
        "customers/redact",
        {**PRIVACY_BODY, "shop_domain": "other.myshopify.com"},
    )
    assert other.json()["message"] == "enqueued"
    assert deliver(shopify, live_app, "shop/redact", {"shop_id": 954889, "shop_domain": SHOP}).json()["message"] == ("enqueued")
    assert len(body_markers(redis_client)) == 3
    drain()
    [left] = body_markers(redis_client)
    assert left.split(":")[2] == "other.myshopify.com"
