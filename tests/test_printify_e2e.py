"""A shop connected to Printify end to end: admin API connect → signed webhooks → Redis → real RQ worker → Printify and Shopify fakes."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from plugin.dev.fakes import FakePrintify
from plugin.dev.fakes.shopify.id_tokens import mint_id_token
from plugin.intake.guards import fingerprint_key, updated_at_key
from plugin.providers.printify import MAX_PAGES, PAGE_SIZE
from plugin.store.models import Activity, ProviderAccount
from tests.conftest import API_KEY, API_SECRET, SHOP, paragraphs_in

PRINTIFY_KEY = "merchant-printify-token-0001"
CUSTOMER_NOTE = "Please gift wrap — it's a birthday present!\nLeave at the back door."
CANCEL = r"/cancel\.json$"
LIST = r"/orders\.json$"


@pytest.fixture(scope="module")
def _printify_server():
    with FakePrintify(api_key=PRINTIFY_KEY) as fake:
        yield fake


@pytest.fixture
def printify(_printify_server, app, live_app, installed_shop):
    """The Printify fake, emptied, with SHOP connected to its default shop through the real admin API."""
    fake = _printify_server
    fake.reset()
    app.config["PRINTIFY_API_URL"] = fake.url
    body = {"provider": "printify", "api_key": PRINTIFY_KEY, "store_id": fake.default_shop_id}
    headers = {"Authorization": "Bearer " + mint_id_token(SHOP, API_KEY, API_SECRET)}
    response = requests.put(live_app.url + "/app/api/provider", json=body, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["provider"]["store_id"] == fake.default_shop_id
    assert PRINTIFY_KEY not in response.text
    yield fake
    # Whatever the test did, the connected token is the only one Printify ever saw.
    assert fake.tokens_seen() <= {PRINTIFY_KEY}


def cancel(shopify, live_app, order_id, topic="orders/cancelled", webhook_id=None) -> str:
    """Cancel the order in the fake store (once) and deliver the topic like Shopify; the receiver's answer."""
    if not shopify.order(SHOP, order_id).get("cancelled_at"):
        shopify.cancel_order(SHOP, order_id)
    payload = shopify.order_payload(SHOP, order_id)
    response = shopify.send_webhook(live_app.url + "/webhooks", SHOP, topic, payload, webhook_id=webhook_id)
    assert response.status_code == 200, response.text
    return response.json()["message"]


def activity_for(app, order_id) -> list[Activity]:
    with app.extensions["database"].session() as session:
        return list(session.scalars(select(Activity).where(Activity.store_order_id == str(order_id)).order_by(Activity.id)))


def test_connect_checks_the_shop_and_stores_the_token_encrypted(app, printify):
    """The connection listed the token's shops and read one order page; the token is stored encrypted."""
    assert [c.path for c in printify.calls] == ["/v1/shops.json", f"/v1/shops/{printify.default_shop_id}/orders.json"]
    with app.extensions["database"].session() as session:
        [account] = session.scalars(select(ProviderAccount)).all()
    assert (account.provider, account.store_id) == ("printify", printify.default_shop_id)
    assert PRINTIFY_KEY not in account.api_key


def test_connecting_a_shop_of_another_account_is_refused(app, live_app, printify):
    """A shop id the token's account does not have: 422 in plain words, nothing stored over the good account."""
    printify.add_account("someone-elses-token-0002", store_ids=["7654321"])
    headers = {"Authorization": "Bearer " + mint_id_token(SHOP, API_KEY, API_SECRET)}
    body = {"provider": "printify", "api_key": PRINTIFY_KEY, "store_id": "7654321"}
    response = requests.put(live_app.url + "/app/api/provider", json=body, headers=headers, timeout=10)
    assert response.status_code == 422
    assert "Printify shop 7654321 is not a shop of the account" in response.json()["error"]
    assert PRINTIFY_KEY not in response.text
    with app.extensions["database"].session() as session:
        [account] = session.scalars(select(ProviderAccount)).all()
    assert account.store_id == printify.default_shop_id


def test_cancel_in_time(app, live_app, shopify, printify, gelato, drain):
    order_id = shopify.add_order(SHOP, note=CUSTOMER_NOTE)
    print_id = printify.add_order(str(order_id))
    assert printify.status_of(print_id) == "on-hold"
    cancel(shopify, live_app, order_id)
    drain()
    assert printify.status_of(print_id) == "canceled"
    store_order = shopify.order(SHOP, order_id)
    assert "print-cancelled" in store_order["tags"] and store_order["note"] == CUSTOMER_NOTE
    [row] = activity_for(app, order_id)
    assert (row.shop, row.print_order_id, row.status_seen, row.action, row.outcome) == (
        SHOP,
        print_id,
        "on-hold",
        "cancel",
        "cancelled",
    )
    assert [c.path for c in printify.calls_with_key(PRINTIFY_KEY, "POST")] == [
        f"/v1/shops/{printify.default_shop_id}/orders/{print_id}/cancel.json"
    ]
    assert gelato.calls == []


def test_payment_not_received_is_cancelled_too(app, live_app, shopify, printify, drain):
    order_id = shopify.add_order(SHOP)
    print_id = printify.add_order(str(order_id), status="payment-not-received")
    cancel(shopify, live_app, order_id)
    drain()
    assert printify.status_of(print_id) == "canceled"
    assert activity_for(app, order_id)[0].outcome == "cancelled"


def test_too_late_appends_a_paragraph_naming_printify(app, live_app, shopify, printify, drain):
    order_id = shopify.add_order(SHOP, note=CUSTOMER_NOTE, tags=["vip"])
    print_id = printify.add_order(str(order_id), status="in-production")
    cancel(shopify, live_app, order_id)
    drain()
    store_order = shopify.order(SHOP, order_id)
    assert store_order["note"].startswith(CUSTOMER_NOTE + "\n\n")
    added = store_order["note"][len(CUSTOMER_NOTE) :]
    assert "Printify" in added and print_id in added and "in-production" in added and "UTC" in added
    assert len(paragraphs_in(store_order["note"])) == 1
    assert set(store_order["tags"]) >= {"vip", "print-cancel-too-late"} and "print-cancelled" not in store_order["tags"]
    assert printify.status_of(print_id) == "in-production"
    assert printify.calls_matching("POST", CANCEL) == []
    [row] = activity_for(app, order_id)
    assert (row.action, row.outcome, row.status_seen) == ("reread", "too_late", "in-production")


def test_split_order_one_cancelled_one_fulfilled(app, live_app, shopify, printify, drain):
    """Printify can hold several orders under one reference (its Express endpoint makes two)."""
    order_id = shopify.add_order(SHOP)
    on_hold_id, fulfilled_id = printify.add_split_order(str(order_id), statuses=["on-hold", "fulfilled"])
    cancel(shopify, live_app, order_id)
    drain()
    assert printify.status_of(on_hold_id) == "canceled" and printify.status_of(fulfilled_id) == "fulfilled"
    note = shopify.order(SHOP, order_id)["note"]
    assert f"{fulfilled_id} (fulfilled)" in note and f"{on_hold_id} was cancelled in time" in note
    assert len(paragraphs_in(note)) == 1
    assert "print-cancel-too-late" in shopify.order(SHOP, order_id)["tags"]
    assert {row.print_order_id: row.outcome for row in activity_for(app, order_id)} == {
        on_hold_id: "cancelled",
        fulfilled_id: "too_late",
    }


def test_refusal_racing_production_rereads_and_notes_too_late(app, live_app, shopify, printify, drain):
    """On hold at the search, sent to production right before the cancel: refused, re-read, noted."""
    order_id = shopify.add_order(SHOP)
    print_id = printify.add_order(str(order_id))
    printify.before("POST", CANCEL, lambda call: printify.set_status(print_id, "in-production"))
    cancel(shopify, live_app, order_id)
    drain()
    cancels = printify.calls_matching("POST", CANCEL)
    assert [c.status for c in cancels] == [400]
    assert len(printify.calls_matching("GET", rf"/orders/{print_id}\.json$")) == 1
    note = shopify.order(SHOP, order_id)["note"]
    assert f"{print_id} (in-production)" in note and "Printify" in note
    [row] = activity_for(app, order_id)
    assert (row.action, row.outcome, row.status_seen) == ("cancel", "too_late", "in-production")


def test_print_order_not_found_on_cancel_is_recorded(app, live_app, shopify, printify, drain):
    order_id = shopify.add_order(SHOP)
    print_id = printify.add_order(str(order_id))
    printify.fail_next("POST", CANCEL, 404, body={"status": "error", "code": 404, "message": "Not found"})
    cancel(shopify, live_app, order_id)
    drain()
    [row] = activity_for(app, order_id)
    assert (row.print_order_id, row.outcome) == (print_id, "not_found")
    assert shopify.graphql_calls("orderUpdate") == [] and shopify.graphql_calls("tagsAdd") == []


def test_printify_500_twice_then_success(app, live_app, shopify, printify, drain, queue):
    order_id = shopify.add_order(SHOP)
    print_id = printify.add_order(str(order_id))
    printify.fail_next("GET", LIST, 500, times=2)
    cancel(shopify, live_app, order_id)
    drain()
    assert [c.status for c in printify.calls_matching("GET", LIST)][-3:] == [500, 500, 200]
    assert printify.status_of(print_id) == "canceled"
    assert "print-cancelled" in shopify.order(SHOP, order_id)["tags"]
    assert queue.failed_job_registry.count == 0


def test_both_topics_of_one_cancellation_cancel_once(app, live_app, shopify, printify, drain):
    """orders/cancelled, then orders/updated of the cancelled order (its guards forgotten): one cancel, one tag."""
    order_id = shopify.add_order(SHOP)
    print_id = printify.add_order(str(order_id))
    assert cancel(shopify, live_app, order_id, topic="orders/cancelled") == "enqueued"
    app.extensions["redis"].delete(fingerprint_key(SHOP, str(order_id)), updated_at_key(SHOP, str(order_id)))
    assert cancel(shopify, live_app, order_id, topic="orders/updated") == "enqueued"
    drain()
    assert len(printify.calls_matching("POST", CANCEL)) == 1 and printify.status_of(print_id) == "canceled"
    assert shopify.order(SHOP, order_id)["tags"] == ["print-cancelled"]
    assert len(shopify.graphql_calls("tagsAdd")) == 1
    assert [row.outcome for row in activity_for(app, order_id)] == ["cancelled", "already_canceled"]


def test_duplicate_deliveries_write_one_paragraph(app, live_app, shopify, printify, drain, queue):
    order_id = shopify.add_order(SHOP, note=CUSTOMER_NOTE)
    printify.add_order(str(order_id), status="fulfilled")
    for _ in range(3):
        cancel(shopify, live_app, order_id, webhook_id="delivery-1")
    assert queue.count == 1
    drain()
    for n in range(2):
        cancel(shopify, live_app, order_id, webhook_id=f"redelivery-{n}")
    cancel(shopify, live_app, order_id, topic="orders/updated")
    drain()
    note = shopify.order(SHOP, order_id)["note"]
    assert len(paragraphs_in(note)) == 1 and note.startswith(CUSTOMER_NOTE)
    assert len(shopify.graphql_calls("orderUpdate")) == 1 and len(shopify.graphql_calls("tagsAdd")) == 1
    assert printify.calls_matching("POST", CANCEL) == []


@pytest.mark.parametrize("written_as", ["#{number}", "{number}"])
def test_a_print_order_found_only_by_the_order_name_is_cancelled(app, live_app, shopify, printify, drain, written_as):
    order_id = shopify.add_order(SHOP)
    name = shopify.order(SHOP, order_id)["name"]
    reference = written_as.format(number=name.lstrip("#"))
    print_id = printify.add_order(reference)
    cancel(shopify, live_app, order_id)
    drain()
    assert printify.status_of(print_id) == "canceled"
    [row] = activity_for(app, order_id)
    assert (row.print_order_id, row.outcome, row.order_name) == (print_id, "cancelled", name)
    assert reference in row.detail


def test_a_sales_channel_order_with_the_name_as_label_is_found_by_the_id(app, live_app, shopify, printify, drain):
    """The integration's likely shape: the numeric Shopify id in shop_order_id, the name in the label."""
    order_id = shopify.add_order(SHOP)
    name = shopify.order(SHOP, order_id)["name"]
    print_id = printify.add_order(str(order_id), label=name)
    assert printify.order(print_id)["metadata"]["shop_order_id"] == order_id
    cancel(shopify, live_app, order_id)
    drain()
    assert printify.status_of(print_id) == "canceled"
    assert str(order_id) in activity_for(app, order_id)[0].detail
    searches = [c.query for c in printify.calls_matching("GET", LIST) if c.query.get("limit") != "1"]  # not the connect check
    assert searches == [{"page": "1", "limit": "10"}]  # found by the first reference, on the first page


def test_no_print_order_leaves_the_store_order_untouched(app, live_app, shopify, printify, drain):
    order_id = shopify.add_order(SHOP, note=CUSTOMER_NOTE)
    printify.add_order("999")  # another store order's
    cancel(shopify, live_app, order_id)
    drain()
    [row] = activity_for(app, order_id)
    assert (row.print_order_id, row.outcome) == (None, "no_print_orders")
    assert "newest orders" not in row.detail  # every order was searched
    assert shopify.order(SHOP, order_id)["note"] == CUSTOMER_NOTE
    assert printify.calls_matching("POST", CANCEL) == []


def test_a_search_cut_at_the_newest_orders_says_so_in_the_activity(app, live_app, shopify, printify, drain):
    order_id = shopify.add_order(SHOP, note=CUSTOMER_NOTE)
    for n in range(MAX_PAGES * PAGE_SIZE + 1):
        printify.add_order(str(7000 + n))  # other store orders fill every page the search may read
    cancel(shopify, live_app, order_id)
    drain()
    [row] = activity_for(app, order_id)
    assert row.outcome == "no_print_orders"
    assert row.detail.startswith(f"searched reference {order_id}") and "newest orders" in row.detail
    assert shopify.order(SHOP, order_id)["note"] == CUSTOMER_NOTE
