"""Three shops on three print providers in one run: each cancellation reaches its own shop's provider and account only."""

from __future__ import annotations

import pytest
import requests

from plugin.dev.fakes import FakePrintful, FakePrintify
from plugin.dev.fakes.shopify.id_tokens import mint_id_token
from tests.conftest import API_KEY, API_SECRET, SHOP

PRINTFUL_SHOP = "printful-store.myshopify.com"
PRINTIFY_SHOP = "printify-store.myshopify.com"
GELATO_KEY = "gelato-key-of-the-first-shop"
PRINTFUL_TOKEN = "printful-token-of-the-second-shop"
PRINTIFY_TOKEN = "printify-token-of-the-third-shop"
PRINTIFY_SHOP_ID = "8801"


@pytest.fixture(scope="module")
def _printful_server():
    with FakePrintful() as fake:
        yield fake


@pytest.fixture(scope="module")
def _printify_server():
    with FakePrintify() as fake:
        yield fake


@pytest.fixture
def printful(_printful_server, app):
    _printful_server.reset()
    app.config["PRINTFUL_API_URL"] = _printful_server.url
    return _printful_server


@pytest.fixture
def printify(_printify_server, app):
    _printify_server.reset()
    app.config["PRINTIFY_API_URL"] = _printify_server.url
    return _printify_server


def connect(live_app, shop: str, body: dict) -> None:
    """Connect shop's provider account through the admin API, as its owner would in the embedded page."""
    headers = {"Authorization": "Bearer " + mint_id_token(shop, API_KEY, API_SECRET)}
    response = requests.put(live_app.url + "/app/api/provider", json=body, headers=headers, timeout=10)
    assert response.status_code == 200, response.text


def install(app, shopify, shop: str) -> None:
    token = shopify.add_shop(shop)
    assert app.test_cli_runner().invoke(args=["shops", "add", shop, "--token", token]).exit_code == 0


def cancel(shopify, live_app, shop: str, order_id: int) -> None:
    shopify.cancel_order(shop, order_id)
    response = shopify.send_webhook(live_app.url + "/webhooks", shop, "orders/cancelled", shopify.order_payload(shop, order_id))
    assert response.status_code == 200, response.text


def test_three_shops_on_three_providers_are_mirrored_side_by_side(
    app, live_app, installed_shop, shopify, gelato, printful, printify, drain
):
    app.config["GELATO_API_KEY"] = ""  # a public app: every shop brings its own account
    gelato.add_account(GELATO_KEY)
    printful.add_account(PRINTFUL_TOKEN)
    printify.add_account(PRINTIFY_TOKEN, store_ids=(PRINTIFY_SHOP_ID,))
    install(app, shopify, PRINTFUL_SHOP)
    install(app, shopify, PRINTIFY_SHOP)
    connect(live_app, SHOP, {"provider": "gelato", "api_key": GELATO_KEY})
    connect(live_app, PRINTFUL_SHOP, {"provider": "printful", "api_key": PRINTFUL_TOKEN})
    connect(live_app, PRINTIFY_SHOP, {"provider": "printify", "api_key": PRINTIFY_TOKEN, "store_id": PRINTIFY_SHOP_ID})

    # One store order each, all three cancelled at once: one in time, the others too late.
    gelato_order, printful_order, printify_order = (shopify.add_order(s) for s in (SHOP, PRINTFUL_SHOP, PRINTIFY_SHOP))
    gelato_print = gelato.add_order(str(gelato_order), status="passed", api_key=GELATO_KEY)
    printful_print = printful.add_order(str(printful_order), status="inprocess", api_key=PRINTFUL_TOKEN)
    printify_print = printify.add_order(str(printify_order), status="on-hold", api_key=PRINTIFY_TOKEN, store_id=PRINTIFY_SHOP_ID)
    for calls in (gelato.calls, printful.calls, printify.calls):
        calls.clear()
    cancel(shopify, live_app, SHOP, gelato_order)
    cancel(shopify, live_app, PRINTFUL_SHOP, printful_order)
    cancel(shopify, live_app, PRINTIFY_SHOP, printify_order)
    drain()

    assert gelato.status_of(gelato_print) == "canceled"
    assert printful.status_of(printful_print) == "inprocess"  # too late: left alone, told on the order
    assert printify.status_of(printify_print) == "canceled"
    assert "print-cancelled" in shopify.order(SHOP, gelato_order)["tags"]
    late = shopify.order(PRINTFUL_SHOP, printful_order)
    assert "print-cancel-too-late" in late["tags"] and f"Printful print order {printful_print}" in late["note"]
    assert "print-cancelled" in shopify.order(PRINTIFY_SHOP, printify_order)["tags"]
    # Each provider saw only its own shop's account.
    assert {c.headers.get("X-API-KEY") for c in gelato.calls} == {GELATO_KEY}
    assert {c.headers.get("Authorization") for c in printful.calls} == {f"Bearer {PRINTFUL_TOKEN}"}
    assert {c.headers.get("Authorization") for c in printify.calls} == {f"Bearer {PRINTIFY_TOKEN}"}
    assert not printful.calls_matching("DELETE")
