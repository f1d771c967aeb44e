"""Comparing the store order with a print order, and the words used for what changed."""

import dataclasses
from datetime import UTC, datetime

import pytest

from jobs import paragraphs
from jobs.print_changes import (
    compare,
    matches,
    replacement_for,
    replacement_problem,
    store_state_of,
    updated_at_arg,
)
from jobs.updates import Step, plan
from plugin.errors import AdminAPIError, InvalidPayload
from plugin.providers import Address, PrintItem, PrintOrder
from plugin.providers.gelato import phase_of
from tests.support.addresses import PLACED, SHOPIFY_ADDRESS


def store(address=SHOPIFY_ADDRESS, items=(("11", 2), ("12", 1))):
    line_items = [{"id": int(i), "quantity": q, "current_quantity": q, "name": f"item {i}"} for i, q in items]
    payload = {
        "id": 1,
        "updated_at": "2026-11-27T10:00:00-05:00",
        "cancelled_at": None,
        "shipping_address": address,
        "line_items": line_items,
    }
    return store_state_of(payload)


def print_order(items=(("11", 2), ("12", 1)), status="passed", address=PLACED):
    return PrintOrder(
        id="po-1",
        reference_id="1",
        status=status,
        phase=phase_of(status),
        address=address,
        customer_reference_id="c-1",
        currency="USD",
        items=tuple(
            PrintItem(
                id=f"gi-{ref}-{n}", reference_id=ref, quantity=q, product_uid="poster", files=({"type": "default", "url": "u"},)
            )
            for n, (ref, q) in enumerate(items)
        ),
    )


def test_same_state_is_in_sync_despite_formatting():
    assert not compare(store(), print_order()).any


def test_address_fields_and_quantities_are_named():
    change = compare(store({**SHOPIFY_ADDRESS, "city": "Newtown", "zip": "40004"}, items=(("11", 1), ("12", 1))), print_order())
    assert change.address_fields == ("city", "zip")
    assert [(i.reference_id, i.old, i.new, i.item_ids) for i in change.items] == [("11", 2, 1, ("gi-11-0",))]
    assert change.new_address.email == "jon@example.com" and not change.every_item_removed


def test_items_unknown_to_the_store_order_are_never_touched():
    # An empty or partial line item list must not read as "everything removed".
    change = compare(store(items=()), print_order())
    assert not change.any and not change.every_item_removed
    assert not compare(store(address=None), print_order(address=Address())).any


def test_every_item_removed_only_when_all_are_known_and_zero():
    assert compare(store(items=(("11", 0), ("12", 0))), print_order()).every_item_removed
    assert not compare(store(items=(("11", 0), ("12", 1))), print_order()).every_item_removed
    assert not compare(store(items=(("11", 0),)), print_order()).every_item_removed


def test_one_line_item_over_two_print_items_is_compared_as_a_sum_and_not_automatic():
    order = print_order(items=(("11", 1), ("11", 1), ("12", 1)))
    assert not compare(store(), order).any
    change = compare(store(items=(("11", 1), ("12", 1))), order)
    assert change.items[0].old == 2 and not change.automatic


def test_fact_keys_are_stable_and_distinct():
    moved = store({**SHOPIFY_ADDRESS, "city": "Newtown"}, items=(("11", 1), ("12", 1)))
    first, again = compare(moved, print_order()), compare(moved, print_order())
    assert [f.key for f in first.facts()] == [f.key for f in again.facts()]
    keys = [f.key for f in first.facts()]
    assert len(keys) == 2 and len(set(keys)) == 2
    elsewhere = compare(store({**SHOPIFY_ADDRESS, "city": "Othertown"}), print_order())
    assert elsewhere.facts()[0].key not in keys


def test_replacement_copies_products_files_and_customer_and_drops_removed_items():
    wanted = replacement_for(store({**SHOPIFY_ADDRESS, "city": "Newtown"}, items=(("11", 3), ("12", 0))), print_order())
    assert [(i.reference_id, i.quantity, i.product_uid, i.files) for i in wanted.items] == [
        ("11", 3, "poster", ({"type": "default", "url": "u"},))
    ]
    assert (wanted.reference_id, wanted.customer_reference_id, wanted.currency) == ("1", "c-1", "USD")
    assert wanted.address.city == "Newtown" and wanted.address.email == "jon@example.com"
    assert replacement_problem(wanted) is None
    placed = PrintOrder(
        id="po-2",
        reference_id="1",
        status="created",
        address=wanted.address,
        items=(PrintItem(id="x", reference_id="11", quantity=3),),
    )
    assert matches(placed, wanted)
    assert replacement_problem(replacement_for(store(address={**SHOPIFY_ADDRESS, "address1": ""}), print_order()))


@pytest.mark.parametrize("value", ["yesterday", "2026-11-27T10:00:00", None, 1764255600])
def test_wrong_updated_at_argument_is_a_permanent_error(value):
    with pytest.raises(InvalidPayload):
        updated_at_arg(value)


@pytest.mark.parametrize(
    "change",
    [
        {"shipping_address": {"city": 1}},
        {"line_items": {"id": "1"}},
        {"line_items": [{"id": 1.5, "quantity": 1}]},
        {"line_items": [{"id": 1, "quantity": True}]},
        {"updated_at": "2026-11-27T10:00:00"},
    ],
)
def test_unreadable_admin_answer_is_a_permanent_error(change):
    payload = {
        "id": 1,
        "updated_at": "2026-11-27T10:00:00Z",
        "cancelled_at": None,
        "shipping_address": None,
        "line_items": [],
        **change,
    }
    with pytest.raises(AdminAPIError):
        store_state_of(payload)


def test_words_for_too_late_and_in_time_changes():
    change = compare(store({**SHOPIFY_ADDRESS, "city": "Newtown"}, items=(("11", 1), ("12", 0))), print_order())
    late = paragraphs.change_lines(change, too_late=True)
    assert late[0] == (
        "shipping address changed to Newtown, US; the print order will ship to the address it was placed with: Shippington, US"
    )
    assert late[1] == 'item "item 11" quantity 2 → 1; the print order will be produced as placed'
    in_time = paragraphs.change_lines(change, too_late=False)
    assert in_time[0].startswith("ship to Steve Shipper, Shipping Company, 123 Shipping Street, Newtown KY 40003, US")
    assert in_time[2] == 'remove item "item 12" (quantity 1 → 0)'
    when = datetime(2026, 11, 27, 10, 2, tzinfo=UTC)
    text = paragraphs.change_too_late("gelato", [("po-1", "printed", late)], "pm-x", when)
    assert "2026-11-27 10:02 UTC" in text and "Gelato print order po-1 (printed)" in text and text.endswith("[pm-x]")
    text = paragraphs.change_needs_action("gelato", [("po-1", "passed", in_time)], "pm-y", when)
    assert "po-1 is still 'passed'" in text and "Gelato dashboard" in text and text.endswith("[pm-y]")


@pytest.mark.parametrize(
    "store_kwargs, order_kwargs, replace_on, step, why",
    [
        ({}, {}, False, Step.IN_SYNC, None),
        ({"items": (("11", 1), ("12", 1))}, {"status": "in_production"}, False, Step.TOO_LATE, None),
        ({"items": (("11", 0), ("12", 0))}, {}, False, Step.CANCEL, None),
        ({"items": (("11", 1),)}, {"items": (("11", 1), ("11", 1))}, False, Step.NEEDS_ACTION, "spread over several"),
        ({"items": (("11", 1), ("12", 1))}, {"order_type": "draft"}, False, Step.PATCH_DRAFT, None),
        ({"items": (("11", 1), ("12", 1))}, {}, False, Step.NEEDS_ACTION, None),
        ({"items": (("11", 1), ("12", 1))}, {}, True, Step.REPLACE, None),
        ({"address": {**SHOPIFY_ADDRESS, "address1": ""}}, {}, True, Step.NEEDS_ACTION, "cannot replace"),
    ],
)
def test_plan_is_decided_without_any_call(store_kwargs, order_kwargs, replace_on, step, why):
    """The pure half of the job's decision: the same inputs always give the same step, nothing is called."""
    order_kwargs = dict(order_kwargs)
    order_type = order_kwargs.pop("order_type", None)
    order = print_order(**order_kwargs)
    if order_type:
        order = dataclasses.replace(order, order_type=order_type)
    planned = plan(store(**store_kwargs), order, replace_on)
    assert planned.step is step
    assert (why is None and planned.why is None) or (why is not None and why in planned.why)
