"""The admin JSON API end to end: ID tokens, managed install, per-shop provider accounts, settings and activity.

Everything goes over real HTTP: the app served locally, the Shopify and Gelato fakes, a real RQ worker.
"""

from __future__ import annotations

import io
import time

import pytest
import requests
from sqlalchemy import select

from plugin.dev.fakes.shopify.id_tokens import mint_id_token
from plugin.store.models import ProviderAccount, Shop
from tests.conftest import API_KEY, API_SECRET, GELATO_KEY, SHOP, paragraphs_in

OTHER_SHOP = "second-store.myshopify.com"
RETRY_HEADER = "X-Shopify-Retry-Invalid-Session-Request"


def bearer(shop: str, **claims) -> dict:
    """The Authorization header App Bridge would send for shop."""
    return {"Authorization": "Bearer " + mint_id_token(shop, API_KEY, API_SECRET, **claims)}


def api(live_app, method: str, path: str, shop: str = SHOP, headers: dict | None = None, **kwargs) -> requests.Response:
    """One admin API request as the embedded page makes it."""
    return requests.request(
        method, live_app.url + "/app/api" + path, headers=bearer(shop) if headers is None else headers, timeout=10, **kwargs
    )


def install_with_token(app, shopify, shop: str) -> None:
    """Install shop through the real CLI with a custom-app token (webhooks registered)."""
    token = shopify.add_shop(shop)
    result = app.test_cli_runner().invoke(args=["shops", "add", shop, "--token", token])
    assert result.exit_code == 0, result.output


def cancel(shopify, live_app, shop: str, order_id: int) -> None:
    """Cancel the order in the fake store and deliver orders/cancelled."""
    shopify.cancel_order(shop, order_id)
    response = shopify.send_webhook(live_app.url + "/webhooks", shop, "orders/cancelled", shopify.order_payload(shop, order_id))
    assert response.status_code == 200, response.text


def token_exchanges(shopify) -> list:
    """The token-exchange grants the Shopify fake received."""
    calls = shopify.calls_matching("POST", r"/admin/oauth/access_token$")
    return [c for c in calls if "token-exchange" in str((c.json or {}).get("grant_type") or c.form.get("grant_type"))]


def keys_used(gelato) -> set[str]:
    """Every X-API-KEY the app sent to the Gelato fake."""
    return {call.headers.get("X-API-KEY") for call in gelato.calls}


# -- ID tokens -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, headers",
    [
        ("missing", {}),
        ("not bearer", {"Authorization": "Basic dXNlcjpwYXNz"}),
        ("garbage", {"Authorization": "Bearer not-a-jwt"}),
        ("forged", {"Authorization": "Bearer " + mint_id_token(SHOP, API_KEY, "another-secret")}),
        ("expired", {"Authorization": "Bearer " + mint_id_token(SHOP, API_KEY, API_SECRET, now=time.time() - 3600)}),
        ("wrong audience", {"Authorization": "Bearer " + mint_id_token(SHOP, API_KEY, API_SECRET, audience="other-app")}),
        (
            "other shop",
            {"Authorization": "Bearer " + mint_id_token(SHOP, API_KEY, API_SECRET, issuer=f"https://{OTHER_SHOP}/admin")},
        ),
        ("not a shop", {"Authorization": "Bearer " + mint_id_token("evil.example.com", API_KEY, API_SECRET)}),
    ],
)
def test_a_bad_id_token_gets_401_with_the_retry_header(live_app, installed_shop, name, headers):
    for method, path in (("GET", "/status"), ("PUT", "/settings"), ("GET", "/activity")):
        response = api(live_app, method, path, headers=headers, json={"cancel_and_replace": True})
        assert response.status_code == 401, (name, path, response.text)
        assert response.headers.get(RETRY_HEADER) == "1"
        assert "error" in response.json()
        assert "Bearer" not in response.text


def test_the_old_secret_still_signs_during_a_rotation(app, live_app, installed_shop):
    app.config["SHOPIFY_API_SECRET_OLD"] = "the-previous-secret"
    headers = {"Authorization": "Bearer " + mint_id_token(SHOP, API_KEY, "the-previous-secret")}
    assert api(live_app, "GET", "/settings", headers=headers).status_code == 200


def test_a_token_only_reaches_its_own_shop(app, live_app, installed_shop, shopify):
    install_with_token(app, shopify, OTHER_SHOP)
    assert api(live_app, "PUT", "/settings", shop=OTHER_SHOP, json={"cancel_and_replace": True}).status_code == 200
    assert api(live_app, "GET", "/settings").json() == {"cancel_and_replace": False}
    assert api(live_app, "GET", "/settings", shop=OTHER_SHOP).json() == {"cancel_and_replace": True}
    # No parameter names a shop: a shop in the query or the body is not an input.
    assert api(live_app, "GET", f"/status?shop={OTHER_SHOP}").json()["shop"] == SHOP


# -- managed install -----------------------------------------------------------------------------


def test_first_open_of_a_new_shop_exchanges_the_token_and_registers_webhooks(app, live_app, shopify):
    shop = "fresh-install.myshopify.com"
    shopify.add_shop(shop)  # Shopify installed the app (managed install); we have no token yet
    response = api(live_app, "GET", "/status", shop=shop)
    assert response.status_code == 200, response.text
    assert response.json()["webhooks"]["registered"] is True
    assert len(token_exchanges(shopify)) == 1
    with app.extensions["database"].session() as session:
        row = session.scalar(select(Shop).where(Shop.domain == shop))
        assert (row.status, row.token_kind) == ("installed", "oauth")
        assert row.access_token_expires_at is not None and row.refresh_token is not None
    topics = {sub["topic"] for sub in shopify.subscriptions(shop)}
    assert topics >= {"ORDERS_CANCELLED", "ORDERS_UPDATED", "APP_UNINSTALLED"}
    # The second open uses the stored token: no second exchange.
    assert api(live_app, "GET", "/settings", shop=shop).status_code == 200
    assert len(token_exchanges(shopify)) == 1


# -- provider accounts ---------------------------------------------------------------------------


def test_connecting_a_refused_key_answers_422_and_stores_nothing(app, live_app, installed_shop, gelato):
    response = api(live_app, "PUT", "/provider", json={"provider": "gelato", "api_key": "wrong-key-1234"})
    assert response.status_code == 422
    assert "Gelato refused the API key" in response.json()["error"]
    assert "wrong-key-1234" not in response.text
    with app.extensions["database"].session() as session:
        assert session.scalars(select(ProviderAccount)).all() == []
    assert api(live_app, "GET", "/status").json()["provider"]["source"] == "default"


@pytest.mark.parametrize(
    "body, word",
    [
        ({"provider": "gelato"}, "api_key"),
        ({"provider": "gelato", "api_key": "has space"}, "api_key"),
        ({"provider": "acme", "api_key": "k" * 20}, "provider"),
        ({"provider": "gelato", "api_key": "k" * 20, "extra": 1}, "unknown"),
        ({"provider": "gelato", "api_key": "k" * 20, "store_id": 5}, "store_id"),
        (["gelato"], "JSON object"),
        ({"provider": "printify", "api_key": "k" * 20}, "Printify shop id"),
    ],
)
def test_connect_refuses_bad_input_with_a_clear_error(live_app, installed_shop, gelato, body, word):
    response = api(live_app, "PUT", "/provider", json=body)
    assert response.status_code == 400 and word in response.json()["error"]
    assert gelato.calls == []


def test_a_body_over_the_limit_is_refused(live_app, installed_shop):
    response = api(live_app, "PUT", "/settings", data=b'{"cancel_and_replace": true' + b" " * 20000 + b"}")
    assert response.status_code == 413


def test_two_shops_two_accounts_each_cancellation_goes_to_its_own_account(app, live_app, installed_shop, shopify, gelato, drain):
    app.config["GELATO_API_KEY"] = ""  # a public app: no deployment-wide account
    key_a, key_b = "gelato-key-of-shop-a-0001", "gelato-key-of-shop-b-0002"
    gelato.add_account(key_a)
    gelato.add_account(key_b)
    install_with_token(app, shopify, OTHER_SHOP)
    for shop, key in ((SHOP, key_a), (OTHER_SHOP, key_b)):
        response = api(live_app, "PUT", "/provider", shop=shop, json={"provider": "gelato", "api_key": key})
        assert response.status_code == 200, response.text
        assert response.json()["provider"] | {"connected_at": None, "last_checked_at": None} == {
            "name": "gelato",
            "connected": True,
            "source": "shop",
            "key_hint": "…" + key[-4:],
            "store_id": None,
            "connected_at": None,
            "last_checked_at": None,
        }
        assert key not in response.text
    order_a = shopify.add_order(SHOP)
    order_b = shopify.add_order(OTHER_SHOP)
    print_a = gelato.add_order(str(order_a), status="passed", api_key=key_a)
    print_b = gelato.add_order(str(order_b), status="passed", api_key=key_b)
    gelato.calls.clear()
    cancel(shopify, live_app, SHOP, order_a)
    drain()
    assert gelato.order(print_a)["fulfillmentStatus"] == "canceled"
    assert gelato.order(print_b)["fulfillmentStatus"] == "passed"
    assert keys_used(gelato) == {key_a}
    gelato.calls.clear()
    cancel(shopify, live_app, OTHER_SHOP, order_b)
    drain()
    assert gelato.order(print_b)["fulfillmentStatus"] == "canceled"
    assert keys_used(gelato) == {key_b}
    # The key is stored encrypted, never as typed.
    with app.extensions["database"].session() as session:
        stored = {row.shop: row.api_key for row in session.scalars(select(ProviderAccount))}
    assert set(stored) == {SHOP, OTHER_SHOP} and key_a not in stored[SHOP] and key_b not in stored[OTHER_SHOP]


def test_disconnect_falls_back_to_the_default_account(app, live_app, installed_shop, gelato):
    gelato.add_account("shop-own-key-abcd-0001")
    assert api(live_app, "PUT", "/provider", json={"provider": "gelato", "api_key": "shop-own-key-abcd-0001"}).ok
    response = api(live_app, "DELETE", "/provider")
    assert response.status_code == 200
    assert response.json()["provider"]["source"] == "default"
    assert app.extensions["services"].provider_account(SHOP)[1].api_key == GELATO_KEY


def test_a_shop_with_no_account_is_tagged_and_noted_once_and_gelato_is_not_called(
    app, live_app, installed_shop, shopify, gelato, drain
):
    app.config["GELATO_API_KEY"] = ""
    status = api(live_app, "GET", "/status").json()
    assert status["provider"] == {
        "name": None,
        "connected": False,
        "source": None,
        "key_hint": None,
        "store_id": None,
        "connected_at": None,
        "last_checked_at": None,
    }
    order_id = shopify.add_order(SHOP)
    cancel(shopify, live_app, SHOP, order_id)
    drain()
    # A second delivery (orders/updated of the same cancellation) must not write a second paragraph.
    response = shopify.send_webhook(live_app.url + "/webhooks", SHOP, "orders/updated", shopify.order_payload(SHOP, order_id))
    assert response.status_code == 200
    drain()
    assert gelato.calls == []
    order = shopify.order(SHOP, order_id)
    assert "print-mirror-failed" in order["tags"]
    assert len(paragraphs_in(order["note"])) == 1
    assert "connect" in order["note"].lower() and "print-provider account" in order["note"]
    outcomes = [row["outcome"] for row in api(live_app, "GET", f"/activity?order={order_id}").json()["activity"]]
    assert set(outcomes) == {"no_provider_account"}
    needs_action = api(live_app, "GET", "/status").json()["needs_action"]["orders"]
    assert [(o["id"], o["tags"]) for o in needs_action] == [(str(order_id), ["print-mirror-failed"])]
    assert needs_action[0]["url"] == f"https://admin.shopify.com/store/demo/orders/{order_id}"


# -- the order reference ------------------------------------------------------------------------


@pytest.mark.parametrize("written_as", ["#{number}", "{number}"])
def test_a_print_order_found_only_by_the_order_name_is_cancelled(
    app, live_app, installed_shop, shopify, gelato, drain, written_as
):
    order_id = shopify.add_order(SHOP)
    name = shopify.order(SHOP, order_id)["name"]
    reference = written_as.format(number=name.lstrip("#"))
    print_id = gelato.add_order(reference, status="passed")
    cancel(shopify, live_app, SHOP, order_id)
    drain()
    assert gelato.order(print_id)["fulfillmentStatus"] == "canceled"
    [row] = api(live_app, "GET", f"/activity?order={order_id}").json()["activity"]
    assert (row["print_order_id"], row["outcome"], row["order_name"]) == (print_id, "cancelled", name)
    assert row["detail"] == f"found by reference {reference}"


def test_no_print_orders_by_either_reference_names_both_in_the_activity(app, live_app, installed_shop, shopify, gelato, drain):
    order_id = shopify.add_order(SHOP)
    name = shopify.order(SHOP, order_id)["name"]
    cancel(shopify, live_app, SHOP, order_id)
    drain()
    [row] = api(live_app, "GET", f"/activity?order={order_id}&outcome=no_print_orders").json()["activity"]
    assert row["detail"] == f"searched reference {order_id}, {name}, {name.lstrip('#')}"


# -- settings and activity -----------------------------------------------------------------------


def test_settings_round_trip_and_refuse_anything_but_a_boolean(app, live_app, installed_shop):
    assert api(live_app, "GET", "/settings").json() == {"cancel_and_replace": False}
    assert api(live_app, "PUT", "/settings", json={"cancel_and_replace": True}).json() == {"cancel_and_replace": True}
    assert api(live_app, "GET", "/status").json()["settings"] == {"cancel_and_replace": True}
    for bad in ({"cancel_and_replace": "yes"}, {"cancel_and_replace": 1}, {"other": True}, {}):
        response = api(live_app, "PUT", "/settings", json=bad)
        assert response.status_code == 400 and response.json()["error"], bad
    assert api(live_app, "GET", "/settings").json() == {"cancel_and_replace": True}


def test_activity_is_newest_first_and_filters_by_order_and_outcome(app, live_app, installed_shop, shopify, gelato, drain):
    first, second = shopify.add_order(SHOP), shopify.add_order(SHOP)
    gelato.add_order(str(first), status="passed")
    gelato.add_order(str(second), status="in_production")
    cancel(shopify, live_app, SHOP, first)
    drain()
    cancel(shopify, live_app, SHOP, second)
    drain()
    rows = api(live_app, "GET", "/activity?limit=10").json()
    assert [r["order_id"] for r in rows["activity"]] == [str(second), str(first)]
    assert "too_late" in rows["outcomes"]
    assert [r["order_id"] for r in api(live_app, "GET", "/activity?outcome=cancelled").json()["activity"]] == [str(first)]
    assert [r["order_id"] for r in api(live_app, "GET", f"/activity?order={second}").json()["activity"]] == [str(second)]
    for bad in ("limit=0", "limit=abc", "limit=1000", "order=12a", "outcome=exploded"):
        response = api(live_app, "GET", f"/activity?{bad}")
        assert response.status_code == 400 and response.json()["error"], bad


def test_a_body_without_a_declared_length_is_cut_at_the_limit_too(app, installed_shop):
    # gunicorn hands a chunked body over with no length and wsgi.input_terminated set: reading stops at
    # the limit (Werkzeug cuts the stream there), so the body is refused, never read whole or acted on.
    body = b'{"cancel_and_replace": true' + b" " * 40_000 + b"}"
    headers = {**bearer(SHOP), "Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    response = app.test_client().put(
        "/app/api/settings",
        input_stream=io.BytesIO(body),
        headers=headers,
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code in (400, 413) and response.get_json()["error"]
    assert app.test_client().get("/app/api/settings", headers=bearer(SHOP)).get_json() == {"cancel_and_replace": False}


def test_status_shows_the_shops_own_backlog(app, live_app, installed_shop, shopify, gelato, drain):
    install_with_token(app, shopify, OTHER_SHOP)
    for shop in (SHOP, SHOP, OTHER_SHOP):
        order_id = shopify.add_order(shop)
        gelato.add_order(str(order_id), status="passed")
        cancel(shopify, live_app, shop, order_id)
    backlog = api(live_app, "GET", "/status").json()["backlog"]
    assert (backlog["queued"], backlog["retrying"], backlog["running"], backlog["complete"]) == (2, 0, 0, True)
    assert backlog["oldest_queued_at"] is not None
    assert api(live_app, "GET", "/status", shop=OTHER_SHOP).json()["backlog"]["queued"] == 1
    drain()
    assert api(live_app, "GET", "/status").json()["backlog"] == {
        "queued": 0,
        "retrying": 0,
        "running": 0,
        "oldest_queued_at": None,
        "complete": True,
    }
