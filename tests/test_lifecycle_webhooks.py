"""app/uninstalled and the privacy webhooks over real HTTP: signed delivery → job → database and Redis;
privacy topics work for shops that are no longer installed; a bad HMAC is 401 on every topic."""

import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from plugin.config import DEFAULT_API_VERSION, DEFAULT_SCOPES
from plugin.intake.topics import registry
from plugin.shopify.webhook_subscriptions import TOPICS
from plugin.store import activity
from plugin.store.activity import Outcome
from plugin.store.models import NoteEntry
from tests.conftest import SHOP
from tests.oauth_flow import install_via_oauth, shop_row
from tests.support.records import events, history

OTHER_SHOP = "other.myshopify.com"
ORDER_A, ORDER_B, ORDER_C = "820982911946154600", "820982911946154601", "820982911946154602"
PRIVACY_TOPICS = ("customers/data_request", "customers/redact", "shop/redact")


def deliver(shopify, live_app, topic, payload, shop=SHOP, **kwargs):
    return shopify.send_webhook(live_app.url + "/webhooks", shop, topic, payload, **kwargs)


def uninstalled_payload(shop=SHOP):
    """The Shop resource Shopify sends with app/uninstalled (abridged)."""
    return {"id": 548380009, "name": "Demo", "domain": "shop.example.com", "myshopify_domain": shop}


def seed_history(app, shop, order_ids):
    """Activity rows and note-ledger entries for each order, as the jobs would have written them."""
    database = app.extensions["database"]
    for order_id in order_ids:
        activity.record(
            database, shop, order_id, "orders/cancelled", [Outcome(f"print-{order_id}", "printed", "reread", "too_late")]
        )
        with database.session() as session:
            session.add(
                NoteEntry(
                    shop=shop,
                    store_order_id=order_id,
                    print_order_id=f"print-{order_id}",
                    entry_key="cancel-too-late",
                    ref="pm-0123456789",
                )
            )


def test_uninstall_deletes_tokens_and_stops_jobs_then_reinstall_restores(app, live_app, shopify, gelato, drain, queue):
    assert install_via_oauth(live_app, shopify).status_code == 200
    response = deliver(shopify, live_app, "app/uninstalled", uninstalled_payload())
    assert response.status_code == 200 and response.json()["message"] == "enqueued"
    shopify.uninstall(SHOP)
    drain()

    row = shop_row(app)
    assert row.status == "uninstalled" and row.uninstalled_at is not None
    assert (row.access_token, row.refresh_token, row.access_token_expires_at) == (None, None, None)

    order_id = shopify.add_order(SHOP)
    shopify.cancel_order(SHOP, order_id)
    print_id = gelato.add_order(str(order_id), status="passed")
    cancelled = deliver(shopify, live_app, "orders/cancelled", shopify.order_payload(SHOP, order_id))
    assert cancelled.status_code == 200 and cancelled.json()["message"] == "shop not installed"
    assert queue.count == 0
    again = deliver(shopify, live_app, "app/uninstalled", uninstalled_payload())
    assert again.json()["message"] == "shop not installed"

    assert install_via_oauth(live_app, shopify).status_code == 200
    assert shop_row(app).status == "installed" and shop_row(app).uninstalled_at is None
    restored = deliver(shopify, live_app, "orders/cancelled", shopify.order_payload(SHOP, order_id))
    assert restored.json()["message"] == "enqueued"
    drain()
    assert gelato.order(print_id)["fulfillmentStatus"] == "canceled"
    assert "print-cancelled" in shopify.order(SHOP, order_id)["tags"]


def test_the_uninstall_job_is_not_given_the_unsigned_triggered_at(app, live_app, installed_shop, shopify, queue):
    """X-Shopify-Triggered-At is not signed: whether a shop's tokens go must not hang on it."""
    before_install = datetime.now(UTC) - timedelta(minutes=10)
    response = deliver(
        shopify, live_app, "app/uninstalled", uninstalled_payload(), triggered_at=before_install, webhook_id="uninstall-1"
    )
    assert response.json()["message"] == "enqueued"
    [job] = queue.jobs
    assert job.kwargs == {"shop": SHOP, "webhook_id": "uninstall-1"}


@pytest.mark.parametrize(
    "body",
    [
        uninstalled_payload(shop=OTHER_SHOP),
        {key: value for key, value in uninstalled_payload().items() if key != "myshopify_domain"},
        {**uninstalled_payload(), "myshopify_domain": ""},
        {**uninstalled_payload(), "myshopify_domain": [SHOP]},
    ],
)
def test_uninstall_payload_must_name_the_signed_for_shop(app, live_app, installed_shop, shopify, queue, drain, body):
    response = deliver(shopify, live_app, "app/uninstalled", body)
    assert response.status_code == 400
    assert "myshopify_domain" in response.json()["message"]
    assert queue.count == 0
    drain()
    row = shop_row(app)
    assert row.status == "installed" and row.access_token is not None


def test_uninstall_payload_names_the_shop_in_any_case(app, live_app, installed_shop, shopify, queue):
    response = deliver(shopify, live_app, "app/uninstalled", uninstalled_payload(shop=SHOP.upper()))
    assert response.status_code == 200 and response.json()["message"] == "enqueued"


def test_data_request_logs_the_customers_records_for_a_shop_no_longer_installed(app, live_app, shopify, drain, caplog):
    seed_history(app, SHOP, [ORDER_A, ORDER_B, ORDER_C])
    seed_history(app, OTHER_SHOP, [ORDER_A])
    payload = {
        "shop_id": 954889,
        "shop_domain": SHOP,
        "orders_requested": [int(ORDER_A), int(ORDER_B)],
        "customer": {"id": 191167, "email": "john@example.com", "phone": "555-625-1199"},
        "data_request": {"id": 9999},
    }
    response = deliver(shopify, live_app, "customers/data_request", payload)
    assert response.status_code == 200 and response.json()["message"] == "enqueued"
    drain()

    [report] = events(caplog, "privacy_data_request")
    assert report["shop"] == SHOP and report["data_request_id"] == "9999" and report["customer_id"] == "191167"
    assert sorted(r["order_id"] for r in report["activity_records"]) == [ORDER_A, ORDER_B]
    assert report["note_entries"] == 2
    assert "john@example.com" not in caplog.text  # the report names records, not the customer
    assert len(history(app)) == 8  # reporting deletes nothing


def test_customer_redact_deletes_that_customers_records_only(app, live_app, shopify, drain, redis_client):
    seed_history(app, SHOP, [ORDER_A, ORDER_B, ORDER_C])
    seed_history(app, OTHER_SHOP, [ORDER_A])
    redis_client.set(f"print-mirror:fingerprint:{SHOP}:{ORDER_A}", "x")
    redis_client.set(f"print-mirror:fingerprint:{SHOP}:{ORDER_C}", "x")
    redis_client.set(f"print-mirror:fingerprint:{OTHER_SHOP}:{ORDER_A}", "x")
    payload = {"shop_id": 954889, "shop_domain": SHOP, "customer": {"id": 191167}, "orders_to_redact": [int(ORDER_A), ORDER_B]}
    response = deliver(shopify, live_app, "customers/redact", payload)
    assert response.status_code == 200 and response.json()["message"] == "enqueued"
    drain()

    assert history(app) == {
        ("activity", SHOP, ORDER_C),
        ("note", SHOP, ORDER_C),
        ("activity", OTHER_SHOP, ORDER_A),
        ("note", OTHER_SHOP, ORDER_A),
    }
    assert not redis_client.exists(f"print-mirror:fingerprint:{SHOP}:{ORDER_A}")
    assert redis_client.exists(f"print-mirror:fingerprint:{SHOP}:{ORDER_C}")
    assert redis_client.exists(f"print-mirror:fingerprint:{OTHER_SHOP}:{ORDER_A}")


def test_shop_redact_erases_everything_about_an_uninstalled_shop(app, live_app, shopify, drain, redis_client):
    assert install_via_oauth(live_app, shopify).status_code == 200
    deliver(shopify, live_app, "app/uninstalled", uninstalled_payload())
    shopify.uninstall(SHOP)
    drain()
    seed_history(app, SHOP, [ORDER_A, ORDER_B])
    seed_history(app, OTHER_SHOP, [ORDER_A])
    redis_client.set(f"print-mirror:updated-at:{SHOP}:{ORDER_A}", "x")
    redis_client.set(f"print-mirror:lock:token:{SHOP}", "x")
    redis_client.set(f"print-mirror:updated-at:{OTHER_SHOP}:{ORDER_A}", "x")

    response = deliver(shopify, live_app, "shop/redact", {"shop_id": 954889, "shop_domain": SHOP})
    assert response.status_code == 200 and response.json()["message"] == "enqueued"
    drain()

    assert shop_row(app) is None
    assert history(app) == {("activity", OTHER_SHOP, ORDER_A), ("note", OTHER_SHOP, ORDER_A)}
    assert list(redis_client.scan_iter(match=f"*{SHOP}*")) == []
    assert redis_client.exists(f"print-mirror:updated-at:{OTHER_SHOP}:{ORDER_A}")


def test_shop_redact_keeps_a_shop_that_is_installed_again(app, live_app, installed_shop, shopify, drain):
    seed_history(app, SHOP, [ORDER_A])
    deliver(shopify, live_app, "shop/redact", {"shop_id": 954889, "shop_domain": SHOP})
    drain()
    assert shop_row(app).status == "installed"
    assert history(app) == {("activity", SHOP, ORDER_A), ("note", SHOP, ORDER_A)}


@pytest.mark.parametrize("topic", PRIVACY_TOPICS)
@pytest.mark.parametrize("shop_domain", [OTHER_SHOP, None, "", 954889])
def test_privacy_payload_must_name_the_signed_for_shop(app, live_app, shopify, queue, topic, shop_domain):
    payload = {"shop_id": 954889, "orders_requested": [], "orders_to_redact": []}
    if shop_domain is not None:
        payload["shop_domain"] = shop_domain
    response = deliver(shopify, live_app, topic, payload)
    assert response.status_code == 400
    assert "shop_domain" in response.json()["message"]
    assert queue.count == 0


@pytest.mark.parametrize(
    "field,value",
    [("orders_to_redact", "1,2"), ("orders_to_redact", [1.5]), ("orders_to_redact", [True]), ("orders_to_redact", [-3])],
)
def test_malformed_order_lists_are_400(app, live_app, shopify, queue, field, value):
    response = deliver(shopify, live_app, "customers/redact", {"shop_domain": SHOP, field: value})
    assert response.status_code == 400
    assert queue.count == 0


@pytest.mark.parametrize("topic", ("app/uninstalled", *PRIVACY_TOPICS))
def test_bad_hmac_is_401_on_every_lifecycle_topic(app, live_app, installed_shop, shopify, queue, topic):
    payload = {
        "shop_id": 954889,
        "shop_domain": SHOP,
        "myshopify_domain": SHOP,
        "orders_requested": [int(ORDER_A)],
        "orders_to_redact": [int(ORDER_A)],
    }
    forged = deliver(shopify, live_app, topic, payload, secret="guessed-secret")
    missing = deliver(shopify, live_app, topic, payload, headers={"X-Shopify-Hmac-Sha256": None})
    assert (forged.status_code, missing.status_code) == (401, 401)
    assert queue.count == 0
    # The same delivery correctly signed is accepted: the 401 was the signature's doing.
    assert deliver(shopify, live_app, topic, payload).status_code == 200
    assert queue.count == 1


def test_shopify_app_toml_declares_what_the_app_handles():
    declared = tomllib.loads((Path(__file__).resolve().parent.parent / "shopify.app.toml").read_text())
    assert declared["access_scopes"]["scopes"] == DEFAULT_SCOPES
    assert declared["webhooks"]["api_version"] == DEFAULT_API_VERSION
    assert declared["auth"]["redirect_urls"][0].endswith("/auth/callback")
    assert declared["application_url"].endswith("/app") and declared["embedded"] is True
    assert declared["access_scopes"]["use_legacy_install_flow"] is False  # Shopify-managed install
    subscriptions = declared["webhooks"]["subscriptions"]
    topics = [t for s in subscriptions for t in s.get("topics", ())]
    compliance = [t for s in subscriptions for t in s.get("compliance_topics", ())]
    # Declared once: the topics the app registers per shop (WEBHOOK_SUBSCRIPTIONS=app) are not in the toml,
    # or every event would be delivered twice.
    assert not set(topics) & {t.lower().replace("_", "/", 1) for t in TOPICS}
    assert sorted(compliance) == sorted(PRIVACY_TOPICS)
    assert set(topics + compliance) <= set(registry.topics())
    assert all(s["uri"].endswith("/webhooks") for s in subscriptions)
