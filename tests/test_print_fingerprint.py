"""The print-relevant state of an orders/updated payload: what changes its fingerprint, what is refused."""

import copy
import json
import uuid

import pytest

from jobs.queueing import make_queue
from plugin.dev.fakes.shopify import SAMPLE_ORDER_PATH
from plugin.errors import InvalidOrder
from plugin.intake.delivery import Delivery
from plugin.intake.enqueue import EnqueueOutcome, enqueue_once
from plugin.intake.guards import FingerprintGuard, StaleUpdateGuard, newest_updated_at
from plugin.intake.registry import JobRequest
from plugin.orders.state import fold, parse_timestamp, print_state_of

SAMPLE = json.loads(SAMPLE_ORDER_PATH.read_text())
SHOP = "demo.myshopify.com"


def payload(**changes):
    data = copy.deepcopy(SAMPLE)
    data["cancelled_at"] = None
    data.update(changes)
    return data


def fingerprint(data):
    return print_state_of(data).fingerprint()


BASE = fingerprint(payload())


@pytest.mark.parametrize(
    "field,value",
    [
        ("note", "Please gift wrap"),
        ("tags", "vip, print-change-too-late"),
        ("financial_status", "paid"),
        ("fulfillment_status", "fulfilled"),
        ("note_attributes", [{"name": "gift", "value": "yes"}]),
        ("updated_at", "2030-01-01T00:00:00-05:00"),
        ("total_price", "1.00"),
    ],
)
def test_fields_that_are_not_print_changes_keep_the_fingerprint(field, value):
    assert fingerprint(payload(**{field: value})) == BASE


def test_address_differences_of_case_and_spacing_keep_the_fingerprint():
    data = payload()
    address = data["shipping_address"]
    address["city"] = "  SHIPPINGTON "
    address["address1"] = "123   shipping street"
    address["name"] = "steve  SHIPPER"
    address["phone"] = "555 555 (ship)"
    address["latitude"] = 45.1  # not print-relevant
    assert fingerprint(data) == BASE


@pytest.mark.parametrize(
    "field,value",
    [
        ("name", "Jane Doe"),
        ("company", "Acme"),
        ("address1", "1 New Street"),
        ("address2", "Apt 4"),
        ("city", "Newtown"),
        ("zip", "40004"),
        ("province_code", "OH"),
        ("country_code", "CA"),
        ("phone", "555-000"),
    ],
)
def test_each_address_field_changes_the_fingerprint(field, value):
    data = payload()
    data["shipping_address"][field] = value
    assert fingerprint(data) != BASE


def test_missing_shipping_address_differs_from_one():
    assert fingerprint(payload(shipping_address=None)) != BASE


def test_quantity_removal_and_cancellation_change_the_fingerprint():
    reduced = payload()
    reduced["line_items"][0]["current_quantity"] = 0
    assert fingerprint(reduced) != BASE
    assert fingerprint(payload(cancelled_at="2026-11-27T10:00:00-05:00")) != BASE


def test_current_quantity_wins_and_quantity_is_the_fallback():
    data = payload()
    item = data["line_items"][0]
    item["quantity"], item["current_quantity"] = 3, 1
    assert print_state_of(data).line_items[0].quantity == 1
    del item["current_quantity"]
    assert print_state_of(data).line_items[0].quantity == 3


def test_without_current_quantity_refunded_items_count_as_removed():
    data = payload()
    item = data["line_items"][0]
    del item["current_quantity"]
    item["quantity"] = 2
    data["refunds"] = [{"refund_line_items": [{"line_item_id": item["id"], "quantity": 2}]}]
    assert print_state_of(data).line_items[0].quantity == 0


def test_line_item_order_does_not_matter_and_big_ids_stay_exact():
    data = payload()
    second = copy.deepcopy(data["line_items"][0])
    second["id"] = 2**63 + 1
    data["line_items"].append(second)
    swapped = copy.deepcopy(data)
    swapped["line_items"].reverse()
    assert fingerprint(data) == fingerprint(swapped)
    assert str(2**63 + 1) in {item.id for item in print_state_of(data).line_items}


def test_address_in_job_keeps_its_case_but_loses_extra_spaces():
    data = payload()
    data["shipping_address"]["city"] = "  New   York "
    assert print_state_of(data).address["city"] == "New York"
    assert fold("city", "  New   York ") == "new york"
    assert fold("phone", "+1 (555) 555-0101") == "+15555550101"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(line_items={"0": {}}),
        lambda d: d.pop("line_items"),
        lambda d: d.update(line_items=[1]),
        lambda d: d["line_items"][0].update(id=4.878176722762986e17),
        lambda d: d["line_items"][0].update(id=True),
        lambda d: d["line_items"][0].update(id="12a"),
        lambda d: d["line_items"][0].update(current_quantity=1.0),
        lambda d: d["line_items"][0].update(current_quantity=-1),
        lambda d: d["line_items"][0].update(quantity=None, current_quantity=None),
        lambda d: d["line_items"].append(copy.deepcopy(d["line_items"][0])),
        lambda d: d.update(shipping_address="1 Main St"),
        lambda d: d["shipping_address"].update(zip=40003),
        lambda d: d.update(updated_at=None),
        lambda d: d.update(updated_at="yesterday"),
        lambda d: d.update(updated_at="2026-11-27T10:00:00"),
        lambda d: d.update(cancelled_at=True),
        lambda d: d.update(id=8.2e17),
    ],
)
def test_wrong_types_are_invalid_orders(mutate):
    """The domain refuses them with InvalidOrder; the door answers that with 400 (tests/test_updates_e2e.py)."""
    data = payload()
    mutate(data)
    with pytest.raises(InvalidOrder):
        print_state_of(data)


def test_timestamps_compare_as_instants_not_text():
    # 10:00 at UTC-5 is 15:00 UTC: later than 14:30 UTC although "10" < "14" as text.
    assert parse_timestamp("2026-11-27T10:00:00-05:00") > parse_timestamp("2026-11-27T14:30:00Z")


# -- the guards, on a real Redis ---------------------------------------------------------------


def _check(redis_client, guards):
    """Run the guards through the real enqueue script; the blocking guard's reason, or None when enqueued."""
    request = JobRequest("jobs.updates.mirror_update", {"shop": SHOP}, guards=tuple(guards))
    delivery = Delivery("orders/updated", SHOP, str(uuid.uuid4()), None, None, None, {})
    outcome, detail = enqueue_once(redis_client, make_queue(redis_client), delivery, request, dedupe_ttl=60, job_options={})
    return detail if outcome is EnqueueOutcome.GUARDED else None


def test_stale_guard_compares_offsets_as_instants(redis_client):
    newer = StaleUpdateGuard(SHOP, "1", parse_timestamp("2026-11-27T10:00:00-05:00"))
    older = StaleUpdateGuard(SHOP, "1", parse_timestamp("2026-11-27T14:30:00+00:00"))
    assert _check(redis_client, [newer]) is None
    assert "stale" in _check(redis_client, [older])
    assert newest_updated_at(redis_client, SHOP, "1") == parse_timestamp("2026-11-27T15:00:00Z")
    same = StaleUpdateGuard(SHOP, "1", parse_timestamp("2026-11-27T15:00:00Z"))
    assert _check(redis_client, [same]) is None
    assert redis_client.ttl(newer.key) > 30 * 24 * 3600


def test_fingerprint_guard_blocks_only_an_equal_fingerprint(redis_client):
    assert _check(redis_client, [FingerprintGuard(SHOP, "1", "aaa")]) is None
    assert _check(redis_client, [FingerprintGuard(SHOP, "1", "aaa")]) == "no print-relevant change"
    assert _check(redis_client, [FingerprintGuard(SHOP, "2", "aaa")]) is None  # another order
    assert _check(redis_client, [FingerprintGuard(SHOP, "1", "bbb")]) is None


def test_unreadable_stored_timestamp_does_not_block(redis_client):
    guard = StaleUpdateGuard(SHOP, "1", parse_timestamp("2026-11-27T10:00:00Z"))
    redis_client.set(guard.key, "garbage")
    assert _check(redis_client, [guard]) is None
