"""Printful end to end: a shop connected to Printful through the admin API, signed webhooks, a real RQ worker, the fakes.

Printful keeps one order per external id and store ("Each order's External ID must be unique within the
store"), so a store order is never split over several Printful orders: there is no split-order case here;
the same reference in the account's other store stands in for it (it must be left alone).
"""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from plugin.dev.fakes import FakePrintful
from plugin.dev.fakes.shopify.id_tokens import mint_id_token
from plugin.intake.guards import fingerprint_key, updated_at_key
from plugin.store.models import Activity
from tests.conftest import API_KEY, API_SECRET, SHOP, paragraphs_in

PRINTFUL_TOKEN = "merchant-printful-account-token-e2e"
STORE = "11"  # the Printful store the shop connects
OTHER_STORE = "12"  # another store of the same Printful account (an Etsy shop, say)
CUSTOMER_NOTE = "Please gift wrap — it's a birthday present!\nLeave at the back door."


@pytest.fixture(scope="module")
def _printful_server():
    with FakePrintful() as fake:
        yield fake


@pytest.fixture
def printful(_printful_server, app, live_app, installed_shop, gelato):
    """The Printful fake, emptied, with SHOP connected to an account-level token and its store via the admin API."""
    fake = _printful_server
    fake.reset()
    fake.add_account(PRINTFUL_TOKEN, store_ids=[STORE, OTHER_STORE])
    app.config["PRINTFUL_API_URL"] = fake.url
    response = requests.put(
        live_app.url + "/app/api/provider",
        json={"provider": "printful", "api_key": PRINTFUL_TOKEN, "store_id": STORE},
        headers={"Authorization": "Bearer " + mint_id_token(SHOP, API_KEY, API_SECRET)},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["provider"]["name"] == "printful"
    yield fake
    # The connected token, for the connected store, is all Printful ever saw; Gelato (the default) saw nothing.
    assert fake.calls and {c.headers.get("Authorization") for c in fake.calls} == {f"Bearer {PRINTFUL_TOKEN}"}
    assert {c.headers.get("X-PF-Store-Id") for c in fake.calls} == {STORE}
    assert gelato.calls == []


def seed(shopify, printful, status="pending", reference=None, note=CUSTOMER_NOTE, store=STORE):
    """A store order and its Printful order (as Printful's integration imports it), in sync; their ids."""
    order_id = shopify.add_order(SHOP, note=note)
    order = shopify.order(SHOP, order_id)
    address = order["shipping_address"]
    recipient = {
        "name": f"{address['first_name']} {address['last_name']}",
        "company": address["company"],
        "address1": address["address1"],
        "address2": address["address2"] or "",
        "city": address["city"],
        "zip": address["zip"],
        "state_code": address["province_code"],
        "country_code": address["country_code"],
        "phone": address["phone"],
    }
    items = [{"external_id": str(li["id"]), "quantity": li["quantity"]} for li in order["line_items"]]
    print_id = printful.add_order(
        str(order_id) if reference is None else reference,
        status=status,
        items=items,
        recipient=recipient,
        api_key=PRINTFUL_TOKEN,
        store_id=store,
    )
    return order_id, print_id


def cancel(shopify, live_app, order_id, topic="orders/cancelled", webhook_id=None):
    """Cancel the order in the fake store (once) and deliver the webhook like Shopify does."""
    if shopify.order(SHOP, order_id)["cancelled_at"] is None:
        shopify.cancel_order(SHOP, order_id)
    response = shopify.send_webhook(
        live_app.url + "/webhooks", SHOP, topic, shopify.order_payload(SHOP, order_id), webhook_id=webhook_id
    )
    assert response.status_code == 200, response.text
    return response.json()["message"]


def activity_for(app, order_id):
    with app.extensions["database"].session() as session:
        return list(session.scalars(select(Activity).where(Activity.store_order_id == str(order_id)).order_by(Activity.id)))


def test_cancel_in_time(app, live_app, shopify, printful, drain):
    order_id, print_id = seed(shopify, printful, status="pending")
    cancel(shopify, live_app, order_id)
    drain()
    assert printful.status_of(print_id) == "canceled"
    assert [c.path for c in printful.calls_matching("DELETE")] == [f"/orders/{print_id}"]
    store_order = shopify.order(SHOP, order_id)
    assert "print-cancelled" in store_order["tags"]
    assert store_order["note"] == CUSTOMER_NOTE
    [row] = activity_for(app, order_id)
    assert (row.shop, row.print_order_id, row.status_seen, row.action, row.outcome) == (
        SHOP,
        print_id,
        "pending",
        "cancel",
        "cancelled",
    )
    assert row.topic == "orders/cancelled"


def test_too_late_appends_a_paragraph_naming_printful(app, live_app, shopify, printful, drain):
    order_id, print_id = seed(shopify, printful, status="inprocess")
    cancel(shopify, live_app, order_id)
    drain()
    store_order = shopify.order(SHOP, order_id)
    assert store_order["note"].startswith(CUSTOMER_NOTE + "\n\n")
    added = store_order["note"][len(CUSTOMER_NOTE) :]
    assert "Printful" in added and f"{print_id} (inprocess)" in added and "UTC" in added
    assert len(paragraphs_in(store_order["note"])) == 1
    assert "print-cancel-too-late" in store_order["tags"] and "print-cancelled" not in store_order["tags"]
    assert printful.calls_matching("DELETE") == [] and printful.status_of(print_id) == "inprocess"
    [row] = activity_for(app, order_id)
    assert (row.action, row.outcome, row.status_seen) == ("reread", "too_late", "inprocess")


def test_the_same_reference_in_another_store_is_left_alone(app, live_app, shopify, printful, drain):
    """No split orders at Printful; an order under the same external id in the account's other store is not ours."""
    order_id, print_id = seed(shopify, printful, status="pending")
    elsewhere = printful.add_order(str(order_id), status="pending", api_key=PRINTFUL_TOKEN, store_id=OTHER_STORE)
    cancel(shopify, live_app, order_id)
    drain()
    assert (printful.status_of(print_id), printful.status_of(elsewhere)) == ("canceled", "pending")
    assert [row.print_order_id for row in activity_for(app, order_id)] == [print_id]


def test_refusal_racing_production_is_noted_as_too_late(app, live_app, shopify, printful, drain):
    """Pending at the search, in process by the DELETE: Printful refuses, the re-read says too late."""
    order_id, print_id = seed(shopify, printful, status="pending")
    printful.before("DELETE", rf"^/orders/{print_id}$", lambda call: printful.set_status(print_id, "inprocess"), times=1)
    cancel(shopify, live_app, order_id)
    drain()
    assert [c.status for c in printful.calls_matching("DELETE")] == [400]
    assert len(printful.calls_matching("GET", rf"^/orders/{print_id}$")) == 1
    note = shopify.order(SHOP, order_id)["note"]
    assert f"{print_id} (inprocess)" in note and len(paragraphs_in(note)) == 1
    assert "print-cancel-too-late" in shopify.order(SHOP, order_id)["tags"]
    [row] = activity_for(app, order_id)
    assert (row.action, row.outcome, row.status_seen) == ("cancel", "too_late", "inprocess")


def test_print_order_not_found_on_cancel_is_recorded(app, live_app, shopify, printful, drain):
    order_id, print_id = seed(shopify, printful, status="draft")
    printful.fail_next("DELETE", r"^/orders/", 404, times=1)
    cancel(shopify, live_app, order_id)
    drain()
    [row] = activity_for(app, order_id)
    assert (row.print_order_id, row.outcome) == (print_id, "not_found")
    assert shopify.graphql_calls("orderUpdate") == [] and shopify.graphql_calls("tagsAdd") == []


def test_printful_500_twice_then_success(app, live_app, shopify, printful, drain, queue):
    order_id, print_id = seed(shopify, printful, status="pending")
    printful.fail_next("GET", r"^/orders/@", 500, times=2)
    cancel(shopify, live_app, order_id)
    drain()
    assert len(printful.calls_matching("GET", rf"^/orders/@{order_id}$")) == 3
    assert printful.status_of(print_id) == "canceled"
    assert "print-cancelled" in shopify.order(SHOP, order_id)["tags"]
    assert queue.failed_job_registry.count == 0


def test_rate_limited_then_success(app, live_app, shopify, printful, drain, queue):
    order_id, print_id = seed(shopify, printful, status="pending")
    printful.fail_next("DELETE", r"^/orders/", 429, headers={"Retry-After": "0"})
    cancel(shopify, live_app, order_id)
    drain()
    assert [c.status for c in printful.calls_matching("DELETE")] == [429, 200]
    assert printful.status_of(print_id) == "canceled"
    assert queue.failed_job_registry.count == 0


def test_both_topics_of_one_cancellation_cancel_once(app, live_app, shopify, printful, drain):
    order_id, print_id = seed(shopify, printful, status="pending")
    assert cancel(shopify, live_app, order_id, topic="orders/cancelled") == "enqueued"
    # e.g. the guard keys expired: orders/updated of the cancelled order reaches a job too.
    app.extensions["redis"].delete(fingerprint_key(SHOP, str(order_id)), updated_at_key(SHOP, str(order_id)))
    assert cancel(shopify, live_app, order_id, topic="orders/updated") == "enqueued"
    drain()
    assert len(printful.calls_matching("DELETE")) == 1 and printful.status_of(print_id) == "canceled"
    assert shopify.order(SHOP, order_id)["tags"] == ["print-cancelled"]
    assert len(shopify.graphql_calls("tagsAdd")) == 1
    assert [row.outcome for row in activity_for(app, order_id)] == ["cancelled", "already_canceled"]


def test_duplicate_deliveries_write_one_paragraph(app, live_app, shopify, printful, drain, queue):
    order_id, _ = seed(shopify, printful, status="fulfilled")
    for _ in range(3):
        cancel(shopify, live_app, order_id, webhook_id="delivery-1")
    assert queue.count == 1
    drain()
    for n in range(3):
        cancel(shopify, live_app, order_id, webhook_id=f"redelivery-{n}")
    drain()
    note = shopify.order(SHOP, order_id)["note"]
    assert note.startswith(CUSTOMER_NOTE) and len(paragraphs_in(note)) == 1 and "Printful" in note
    assert len(shopify.graphql_calls("orderUpdate")) == 1 and len(shopify.graphql_calls("tagsAdd")) == 1
    assert printful.calls_matching("DELETE") == []
    assert len(activity_for(app, order_id)) == 1


@pytest.mark.parametrize("written_as", ["#{number}", "{number}"])
def test_a_print_order_found_only_by_the_order_name_is_cancelled(app, live_app, shopify, printful, drain, written_as):
    """Printful's integration may file the order under its name: found after the numeric id misses, and cancelled."""
    order_id = shopify.add_order(SHOP)
    name = shopify.order(SHOP, order_id)["name"]
    reference = written_as.format(number=name.lstrip("#"))
    print_id = printful.add_order(reference, status="pending", api_key=PRINTFUL_TOKEN, store_id=STORE)
    cancel(shopify, live_app, order_id)
    drain()
    assert printful.status_of(print_id) == "canceled"
    searched = [c.path for c in printful.calls_matching("GET", r"^/orders/@")]
    assert searched == [f"/orders/@{order_id}", f"/orders/@{name}", f"/orders/@{name.lstrip('#')}"][: len(searched)]
    assert searched[-1] == f"/orders/@{reference}"
    activity = requests.get(
        live_app.url + f"/app/api/activity?order={order_id}",
        headers={"Authorization": "Bearer " + mint_id_token(SHOP, API_KEY, API_SECRET)},
        timeout=10,
    ).json()["activity"]
    [row] = activity
    assert (row["print_order_id"], row["outcome"], row["order_name"]) == (print_id, "cancelled", name)
    assert row["detail"].endswith(f" {reference}")
