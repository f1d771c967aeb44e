"""The decision table of jobs.updates, row by row: an in-memory provider, a real ledger, no HTTP."""

from __future__ import annotations

from dataclasses import replace
from itertools import count

import pytest

from jobs.ledger import OrderLedger
from jobs.print_changes import StoreState, store_state_of
from jobs.replacement import DONE, INTENT, REFUSED, REPORT_REPLACE_FAILED, REPORT_REPLACED, REPORT_TOO_LATE
from jobs.updates import REPORT_CANCELLED, REPORT_NEEDS_ACTION, mirror_changes
from plugin.providers import NewPrintOrder, PrintOrder
from plugin.providers.gelato import phase_of
from plugin.store.db import Database
from plugin.store.migrate import upgrade
from tests.support.addresses import PLACED, SHOPIFY_ADDRESS
from tests.support.memory_provider import MemoryProvider, print_item

SHOP = "decisions.myshopify.com"
ORDER_ID = "1001"
MOVED = {**SHOPIFY_ADDRESS, "address1": "9 New Road", "city": "Newtown", "zip": "40004"}


# -- helpers -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('decisions')}/t.db"
    upgrade(url)
    database = Database(url)
    yield database
    database.dispose()


ORDER_NUMBERS = count(int(ORDER_ID))


@pytest.fixture
def ledger(database):
    # A store order of its own per test, so that ledger entries never leak from one test into another.
    return OrderLedger(database, SHOP, str(next(ORDER_NUMBERS)))


@pytest.fixture
def provider():
    return MemoryProvider()


def store(address: dict | None = SHOPIFY_ADDRESS, items=(("11", 2), ("12", 1))) -> StoreState:
    """The store order as the Admin API answers it (webhook-shaped)."""
    line_items = [{"id": int(i), "quantity": q, "current_quantity": q, "name": f"item {i}"} for i, q in items]
    payload = {
        "id": int(ORDER_ID),
        "updated_at": "2026-11-27T10:00:00-05:00",
        "cancelled_at": None,
        "shipping_address": address,
        "line_items": line_items,
    }
    return store_state_of(payload)


def place(provider, ledger, status="passed", items=(("11", 2), ("12", 1)), order_type="order", order_id="po-1") -> PrintOrder:
    """A print order of the ledger's store order, placed as the integration places it (in sync with store())."""
    return provider.add(
        PrintOrder(
            id=order_id,
            reference_id=ledger.order_id,
            status=status,
            phase=phase_of(status),
            order_type=order_type,
            items=tuple(print_item(f"{order_id}-{ref}-{n}", ref, q) for n, (ref, q) in enumerate(items)),
            address=PLACED,
            customer_reference_id="cust-1",
            currency="USD",
        )
    )


def words(decisions) -> list[tuple[str | None, str, str, str | None]]:
    """(print order, action, outcome, report) of each decision."""
    return [(d.outcome.print_order_id, d.outcome.action, str(d.outcome.outcome), d.report) for d in decisions]


def write_names(provider) -> list[tuple]:
    """The provider writes as (call, print order id), with the create's reference id."""
    return [(call[0], call[1].reference_id if call[0] == "create_order" else call[1]) for call in provider.writes()]


# -- nothing to do -------------------------------------------------------------------------------


def test_no_print_orders(ledger, provider):
    decisions = mirror_changes(ledger, provider, store(), replace_on=True)
    assert words(decisions) == [(None, "search", "no_print_orders", None)]
    assert provider.calls == [("find_orders", ledger.order_id)]


def test_an_already_canceled_print_order_is_not_even_read(ledger, provider):
    place(provider, ledger, status="canceled")
    decisions = mirror_changes(ledger, provider, store(items=(("11", 1), ("12", 1))), replace_on=True)
    assert words(decisions) == [("po-1", "none", "already_canceled", None)]
    assert provider.calls == [("find_orders", ledger.order_id)]


def test_in_sync(ledger, provider):
    place(provider, ledger)
    # Formatting of the phone and upper/lower case are no change.
    decisions = mirror_changes(ledger, provider, store({**SHOPIFY_ADDRESS, "phone": "555 555 ship"}), replace_on=True)
    assert words(decisions) == [("po-1", "compare", "in_sync", None)]
    assert provider.calls == [("find_orders", ledger.order_id), ("get_order", "po-1")]


# -- too late ------------------------------------------------------------------------------------


def test_an_address_change_on_an_order_in_production_is_too_late(ledger, provider):
    place(provider, ledger, status="in_production")
    [decision] = mirror_changes(ledger, provider, store(MOVED), replace_on=True)
    assert words([decision]) == [("po-1", "compare", "change_too_late", REPORT_TOO_LATE)]
    assert decision.outcome.status_seen == "in_production"
    assert decision.outcome.detail == "address: address1,city,zip"
    assert decision.change.address_fields == ("address1", "city", "zip") and decision.change.new_address.city == "Newtown"
    assert provider.writes() == []


# -- every item removed: a cancellation ----------------------------------------------------------


def test_every_item_removed_cancels_the_print_order(ledger, provider):
    place(provider, ledger)
    [decision] = mirror_changes(ledger, provider, store(items=(("11", 0), ("12", 0))), replace_on=False)
    assert words([decision]) == [("po-1", "cancel", "cancelled", REPORT_CANCELLED)]
    assert decision.outcome.detail == "item 11: 2->0; item 12: 1->0"
    assert write_names(provider) == [("cancel_order", "po-1")]
    assert provider.orders["po-1"].status == "canceled"


def test_every_item_removed_but_the_provider_refuses_the_cancel_is_too_late(ledger, provider):
    place(provider, ledger)
    provider.meanwhile("po-1", status="in_production")  # production started between read and cancel
    [decision] = mirror_changes(ledger, provider, store(items=(("11", 0), ("12", 0))), replace_on=True)
    assert words([decision]) == [("po-1", "cancel", "change_too_late", REPORT_TOO_LATE)]
    assert decision.outcome.status_seen == "in_production"
    assert write_names(provider) == [("cancel_order", "po-1")]  # tried once, nothing placed
    assert provider.orders["po-1"].status == "in_production"


# -- not automatic -------------------------------------------------------------------------------


def test_a_line_item_spread_over_several_print_items_needs_action(ledger, provider):
    place(provider, ledger, items=(("11", 1), ("11", 1), ("12", 1)), order_type="draft", status="draft")
    [decision] = mirror_changes(ledger, provider, store(items=(("11", 1), ("12", 1))), replace_on=True)
    assert words([decision]) == [("po-1", "compare", "needs_action", REPORT_NEEDS_ACTION)]
    assert decision.outcome.detail == "item 11: 2->1 (one line item is spread over several print items)"
    assert provider.writes() == []


# -- drafts --------------------------------------------------------------------------------------


def test_a_draft_is_patched_with_quantities_and_address(ledger, provider):
    place(provider, ledger, status="draft", order_type="draft")
    [decision] = mirror_changes(ledger, provider, store(MOVED, items=(("11", 3), ("12", 1))), replace_on=False)
    assert words([decision]) == [("po-1", "patch", "patched", None)]
    assert decision.outcome.detail == "address: address1,city,zip; item 11: 2->3"
    [(call, order_id, quantities, address)] = provider.writes()
    assert (call, order_id, quantities) == ("patch_order", "po-1", {"po-1-11-0": 3})
    assert (address.address1, address.city, address.zip) == ("9 New Road", "Newtown", "40004")
    assert address.email == "jon@example.com"  # the store order has no email for the provider: kept
    patched = provider.orders["po-1"]
    assert [(i.reference_id, i.quantity) for i in patched.items] == [("11", 3), ("12", 1)] and patched.address == address


def test_a_draft_item_removal_needs_action(ledger, provider):
    place(provider, ledger, status="draft", order_type="draft")
    [decision] = mirror_changes(ledger, provider, store(items=(("11", 2), ("12", 0))), replace_on=True)
    assert words([decision]) == [("po-1", "compare", "needs_action", REPORT_NEEDS_ACTION)]
    assert decision.outcome.detail == "item 12: 1->0 (a draft item cannot be removed through the API)"
    assert provider.writes() == []


def test_a_draft_is_patched_and_its_removal_left_to_the_merchant(ledger, provider):
    place(provider, ledger, status="draft", order_type="draft")
    [decision] = mirror_changes(ledger, provider, store(items=(("11", 1), ("12", 0))), replace_on=True)
    assert words([decision]) == [("po-1", "patch", "patched", REPORT_NEEDS_ACTION)]
    assert decision.outcome.detail == "item 11: 2->1; removal left to the merchant"
    assert [i.reference_id for i in decision.change.items] == ["12"]  # the merchant is told of the removal only
    assert provider.writes() == [("patch_order", "po-1", {"po-1-11-0": 1}, None)]


def test_a_draft_placed_meanwhile_is_decided_again_as_a_placed_order(ledger, provider):
    place(provider, ledger, status="draft", order_type="draft")
    provider.meanwhile("po-1", order_type="order", status="passed")
    [decision] = mirror_changes(ledger, provider, store(items=(("11", 1), ("12", 1))), replace_on=False)
    assert words([decision]) == [("po-1", "compare", "needs_action", REPORT_NEEDS_ACTION)]
    assert decision.outcome.status_seen == "passed"
    assert write_names(provider) == [("patch_order", "po-1")]  # refused; nothing else written


# -- placed orders: needs action, or cancel and replace ------------------------------------------


def test_a_placed_order_needs_action_when_cancel_and_replace_is_off(ledger, provider):
    place(provider, ledger)
    [decision] = mirror_changes(ledger, provider, store(MOVED, items=(("11", 1), ("12", 1))), replace_on=False)
    assert words([decision]) == [("po-1", "compare", "needs_action", REPORT_NEEDS_ACTION)]
    assert decision.outcome.detail == "address: address1,city,zip; item 11: 2->1"
    assert provider.writes() == []
    assert ledger.pending([("po-1", INTENT)]) == [("po-1", INTENT)]


def test_a_placed_order_is_cancelled_and_replaced_once(ledger, provider):
    place(provider, ledger)
    wanted_store = store(MOVED, items=(("11", 1), ("12", 0)))
    [decision] = mirror_changes(ledger, provider, wanted_store, replace_on=True)
    assert words([decision]) == [("po-1", "replace", "replaced", REPORT_REPLACED)]
    new = decision.new_print_order
    assert decision.outcome.detail == f"replaced by {new.id}"
    assert write_names(provider) == [("cancel_order", "po-1"), ("create_order", ledger.order_id)]
    [created] = [call[1] for call in provider.writes() if call[0] == "create_order"]
    assert isinstance(created, NewPrintOrder)
    assert [(i.reference_id, i.quantity, i.product_uid) for i in created.items] == [("11", 1, "poster_a4")]
    assert (created.address.city, created.address.email, created.currency, created.customer_reference_id) == (
        "Newtown",
        "jon@example.com",
        "USD",
        "cust-1",
    )
    assert provider.orders["po-1"].status == "canceled" and provider.orders[new.id].status == "created"
    assert ledger.pending([("po-1", INTENT)]) == []  # the intent was written before the cancel
    # The same update again (the report not written yet, e.g. a crash): the placed order is found, not placed twice.
    again = mirror_changes(ledger, provider, wanted_store, replace_on=True)
    assert words(again) == [("po-1", "replace", "replaced", REPORT_REPLACED), (new.id, "compare", "in_sync", None)]
    assert again[0].new_print_order.id == new.id
    assert [call[0] for call in provider.writes()] == ["cancel_order", "create_order"]
    # Once the replacement is told, the old order is simply cancelled.
    ledger.remember([("po-1", DONE)], "pm-1")
    assert words(mirror_changes(ledger, provider, wanted_store, replace_on=True)) == [
        ("po-1", "none", "already_canceled", None),
        (new.id, "compare", "in_sync", None),
    ]
    assert len(provider.writes()) == 2


def test_a_replacement_owed_by_an_interrupted_run_is_placed(ledger, provider):
    # An earlier run wrote its intent and cancelled, then crashed before placing the new order.
    place(provider, ledger, status="canceled")
    ledger.remember([("po-1", INTENT)], "intent")
    [decision] = mirror_changes(ledger, provider, store(items=(("11", 1), ("12", 1))), replace_on=True)
    assert words([decision]) == [("po-1", "replace", "replaced", REPORT_REPLACED)]
    assert write_names(provider) == [("create_order", ledger.order_id)]  # no second cancel


def test_a_replacement_whose_cancel_is_refused_is_too_late_and_places_nothing(ledger, provider):
    place(provider, ledger)
    provider.meanwhile("po-1", status="printed")
    [decision] = mirror_changes(ledger, provider, store(MOVED), replace_on=True)
    assert words([decision]) == [("po-1", "replace", "change_too_late", REPORT_TOO_LATE)]
    assert decision.outcome.detail == "cancel refused" and decision.outcome.status_seen == "printed"
    assert write_names(provider) == [("cancel_order", "po-1")]


def test_a_replacement_refused_by_the_provider_fails(ledger, provider):
    place(provider, ledger)
    provider.refuse_create = "Gelato create order: HTTP 400 product not available"
    [decision] = mirror_changes(ledger, provider, store(items=(("11", 3), ("12", 1))), replace_on=True)
    assert words([decision]) == [("po-1", "replace", "replace_failed", REPORT_REPLACE_FAILED)]
    assert decision.outcome.status_seen == "canceled" and "product not available" in decision.outcome.error
    assert decision.refusal_reason == "Gelato create order: HTTP 400 product not available"
    assert [(i.reference_id, i.quantity) for i in decision.wanted.items] == [("11", 3), ("12", 1)]
    assert write_names(provider) == [("cancel_order", "po-1"), ("create_order", ledger.order_id)]
    assert provider.orders["po-1"].status == "canceled" and list(provider.orders) == ["po-1"]
    # Until the refusal is recorded (by the report), a later run still owes the replacement; after, never again.
    ledger.remember([("po-1", REFUSED)], "pm-2")
    provider.refuse_create = None
    assert words(mirror_changes(ledger, provider, store(items=(("11", 3), ("12", 1))), replace_on=True)) == [
        ("po-1", "none", "already_canceled", None)
    ]
    assert len(provider.writes()) == 2


def test_a_replacement_that_cannot_be_placed_needs_action_and_cancels_nothing(ledger, provider):
    place(provider, ledger)
    [decision] = mirror_changes(ledger, provider, store({**MOVED, "address1": ""}), replace_on=True)
    assert words([decision]) == [("po-1", "compare", "needs_action", REPORT_NEEDS_ACTION)]
    assert decision.outcome.detail == "address: address1,city,zip (cannot replace: the shipping address lacks address1)"
    assert provider.writes() == []
    assert ledger.pending([("po-1", INTENT)]) == [("po-1", INTENT)]


# -- several print orders ------------------------------------------------------------------------


def test_each_print_order_of_a_split_store_order_is_decided_on_its_own(ledger, provider):
    place(provider, ledger, items=(("11", 2),), order_id="po-1")
    place(provider, ledger, items=(("12", 1),), order_id="po-2", status="shipped")
    place(provider, ledger, items=(("12", 1),), order_id="po-3", status="canceled")
    provider.add(replace(provider.orders["po-3"], id="po-4", reference_id="other-order"))
    decisions = mirror_changes(ledger, provider, store(items=(("11", 0), ("12", 3))), replace_on=False)
    assert words(decisions) == [
        ("po-3", "none", "already_canceled", None),
        ("po-1", "cancel", "cancelled", REPORT_CANCELLED),
        ("po-2", "compare", "change_too_late", REPORT_TOO_LATE),
    ]
    assert write_names(provider) == [("cancel_order", "po-1")]
