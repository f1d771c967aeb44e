"""POST /webhooks over real HTTP: verification, validation, routing, dedupe, durability."""

import json

import requests

from plugin import create_app
from plugin.dev.fakes.server import LocalServer
from plugin.shopify.webhook_signature import sign
from tests.conftest import API_SECRET, SHOP, app_config

# The least orders/cancelled body the door acts on: a cancelled order has its cancelled_at set.
CANCELLED = b'{"id": 820982911946154508, "cancelled_at": "2026-11-27T10:00:00-05:00"}'


def post(url, body: bytes, **headers):
    base = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/cancelled",
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-Webhook-Id": "wh-1",
        "X-Shopify-Hmac-Sha256": sign(body, API_SECRET),
    }
    base.update(headers)
    return requests.post(url + "/webhooks", data=body, headers={k: v for k, v in base.items() if v is not None}, timeout=5)


def test_forged_signature_is_401_and_queues_nothing(live_app, installed_shop, shopify, queue):
    order_id = shopify.add_order(SHOP)
    body = json.dumps(shopify.order_payload(SHOP, order_id)).encode()
    response = post(live_app.url, body, **{"X-Shopify-Hmac-Sha256": sign(body, "guessed-secret")})
    assert response.status_code == 401
    missing = post(live_app.url, body, **{"X-Shopify-Hmac-Sha256": None})
    assert missing.status_code == 401
    assert queue.count == 0


def test_old_secret_accepted_during_rotation(redis_client, redis_url, database_url, gelato, shopify):
    config = app_config(
        redis_url, database_url, gelato, shopify, SHOPIFY_API_SECRET="rotated-new", SHOPIFY_API_SECRET_OLD=API_SECRET
    )
    app = create_app(config)
    with LocalServer(app) as server:
        body = b'{"id": 1}'
        assert post(server.url, body, **{"X-Shopify-Topic": "shop/unknown"}).status_code == 200
        assert (
            post(
                server.url, body, **{"X-Shopify-Topic": "shop/unknown", "X-Shopify-Hmac-Sha256": sign(body, "rotated-new")}
            ).status_code
            == 200
        )
        assert (
            post(
                server.url, body, **{"X-Shopify-Topic": "shop/unknown", "X-Shopify-Hmac-Sha256": sign(body, "other")}
            ).status_code
            == 401
        )


def test_malformed_body_is_400_with_reason(live_app, installed_shop, queue):
    for body in (b"{not json", b"[1,2,3]", b'{"id": 8.209829119461545e17}', b'{"id": null}', b'{"no_id": 1}'):
        response = post(live_app.url, body)
        assert response.status_code == 400, body
        assert response.json()["message"]
    assert queue.count == 0


def test_missing_headers_and_bad_shop_are_400(live_app, installed_shop, queue):
    body = CANCELLED
    for header in ("X-Shopify-Topic", "X-Shopify-Shop-Domain", "X-Shopify-Webhook-Id"):
        response = post(live_app.url, body, **{header: None})
        assert response.status_code == 400
        assert header in response.json()["message"]
    assert post(live_app.url, body, **{"X-Shopify-Shop-Domain": "shop.myshopify.com.evil.com"}).status_code == 400
    assert queue.count == 0


def test_header_names_case_insensitive(live_app, installed_shop, queue):
    body = CANCELLED
    headers = {
        "x-shopify-topic": "orders/cancelled",
        "X-SHOPIFY-SHOP-DOMAIN": SHOP,
        "x-Shopify-webhook-ID": "wh-case",
        "x-shopify-hmac-sha256": sign(body, API_SECRET),
    }
    response = requests.post(live_app.url + "/webhooks", data=body, headers=headers, timeout=5)
    assert response.status_code == 200
    assert queue.count == 1


def test_oversized_body_is_413(live_app, installed_shop, queue):
    body = b'{"id": 1, "pad": "' + b"x" * (1024 * 1024) + b'"}'
    assert post(live_app.url, body).status_code == 413
    assert queue.count == 0


def test_unknown_topic_is_acknowledged_and_ignored(live_app, installed_shop, queue):
    response = post(live_app.url, b'{"id": 1}', **{"X-Shopify-Topic": "products/update"})
    assert response.status_code == 200
    assert "not handled" in response.json()["message"]
    assert queue.count == 0


def test_shop_not_installed_gets_200_and_no_job(live_app, queue):
    response = post(live_app.url, CANCELLED, **{"X-Shopify-Shop-Domain": "stranger.myshopify.com"})
    assert response.status_code == 200
    assert response.json()["message"] == "shop not installed"
    assert queue.count == 0


def test_same_delivery_three_times_enqueues_once(live_app, installed_shop, shopify, queue, redis_client):
    order_id = shopify.add_order(SHOP)
    shopify.cancel_order(SHOP, order_id)
    body = json.dumps(shopify.order_payload(SHOP, order_id)).encode()
    answers = [post(live_app.url, body, **{"X-Shopify-Webhook-Id": "same-id"}) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json()["message"] for a in answers] == ["enqueued", "duplicate", "duplicate"]
    assert queue.count == 1
    ttl = redis_client.ttl("print-mirror:webhook:orders/cancelled:same-id")
    assert ttl >= 24 * 3600


def test_same_webhook_id_on_another_topic_is_not_a_duplicate(live_app, installed_shop, queue):
    body = CANCELLED
    assert post(live_app.url, body, **{"X-Shopify-Webhook-Id": "shared"}).json()["message"] == "enqueued"
    other = post(live_app.url, body, **{"X-Shopify-Webhook-Id": "shared", "X-Shopify-Topic": "products/update"})
    assert other.status_code == 200 and queue.count == 1


def test_redis_down_answers_503_and_never_2xx(redis_client, database_url, gelato, shopify):
    # A port nothing listens on: every Redis call fails fast.
    config = app_config("redis://127.0.0.1:1/0", database_url, gelato, shopify)
    app = create_app(config)
    token = shopify.add_shop(SHOP)
    assert app.test_cli_runner().invoke(args=["shops", "add", SHOP, "--token", token, "--skip-webhooks"]).exit_code == 0
    with LocalServer(app) as server:
        response = post(server.url, CANCELLED)
        assert response.status_code == 503
        assert "retry" in response.json()["message"]
        health = requests.get(server.url + "/healthz", timeout=5)
        assert health.status_code == 503
        assert health.json()["checks"]["database"] == "ok"
        assert health.json()["checks"]["redis"].startswith("unavailable")


def test_healthz_ok(live_app):
    response = requests.get(live_app.url + "/healthz", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"redis": "ok", "database": "ok"}}


def test_job_carries_primitive_arguments(live_app, installed_shop, queue):
    post(live_app.url, CANCELLED, **{"X-Shopify-Webhook-Id": "prim"})
    job = queue.jobs[0]
    assert job.func_name == "jobs.cancellation.mirror_cancellation"
    assert job.kwargs == {"shop": SHOP, "order_id": "820982911946154508", "topic": "orders/cancelled", "webhook_id": "prim"}
    assert job.retries_left == 3


def test_installed_mark_spares_the_database_and_shops_remove_drops_it(app, live_app, installed_shop, queue, redis_client):
    """The first delivery reads the database and leaves a mark; after `shops remove` the door says no at once."""
    first = post(live_app.url, CANCELLED, **{"X-Shopify-Webhook-Id": "mark-1"})
    assert first.json()["message"] == "enqueued"
    assert redis_client.ttl(f"print-mirror:installed:{SHOP}") > 0
    assert app.test_cli_runner().invoke(args=["shops", "remove", SHOP]).exit_code == 0
    assert not redis_client.exists(f"print-mirror:installed:{SHOP}")
    after = post(live_app.url, CANCELLED.replace(b"508", b"509"), **{"X-Shopify-Webhook-Id": "mark-2"})
    assert after.status_code == 200 and after.json()["message"] == "shop not installed"
    assert queue.count == 1


class _StalledBody:
    """A request body whose read times out, as a stalled client's does under the web process's read timeout."""

    def read(self, *args):
        raise TimeoutError("timed out")

    readline = read


def test_body_that_never_arrives_is_a_quiet_408_counted_as_unverified(app, redis_client, caplog):
    response = app.test_client().post(
        "/webhooks",
        headers={"X-Shopify-Topic": "orders/cancelled", "X-Shopify-Hmac-Sha256": "x"},
        environ_overrides={"wsgi.input": _StalledBody(), "CONTENT_LENGTH": "1000"},
    )
    assert response.status_code == 408
    assert response.get_json()["message"] == "request body not received in time"
    assert redis_client.hget("print-mirror:metrics", "webhooks|unverified|rejected") == b"1"
    assert not [r for r in caplog.records if r.exc_info]  # no traceback for a dropped client
