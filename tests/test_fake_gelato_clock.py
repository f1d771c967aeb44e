"""The Gelato fake's outage switch and production clock, driven over real HTTP (the benchmarks' bad days)."""

from __future__ import annotations

import time

import requests

SEARCH = "/v4/orders:search"


def cancel(g, order_id: str) -> requests.Response:
    """POST /v4/orders/{id}:cancel."""
    return g.post(g.url(f"/v4/orders/{order_id}:cancel"), timeout=5)


def search(g, reference: str) -> requests.Response:
    """POST /v4/orders:search by one orderReferenceId."""
    return g.post(g.url(SEARCH), json={"orderReferenceIds": [reference]}, timeout=5)


# -- the outage switch ------------------------------------------------------------------------


def test_set_down_answers_503_to_every_request_and_changes_nothing(gelato, g):
    """While down every request (even an unauthenticated one) gets 503, is logged as down, and touches no order."""
    order_id = gelato.add_order("1001")
    gelato.set_down(True)
    assert gelato.is_down()
    answers = [
        search(g, "1001"),
        g.get(g.url(f"/v4/orders/{order_id}"), timeout=5),
        cancel(g, order_id),
        requests.get(gelato.url + f"/v4/orders/{order_id}", timeout=5),  # no key: still 503, not 401
    ]
    assert [answer.status_code for answer in answers] == [503] * 4
    assert answers[0].json()["code"] == "internal"
    assert gelato.status_of(order_id) == "passed" and gelato.canceled_at(order_id) is None
    assert [call.down for call in gelato.calls] == [True] * 4 and [call.status for call in gelato.calls] == [503] * 4
    gelato.set_down(False)
    assert not gelato.is_down()
    assert cancel(g, order_id).status_code == 200 and gelato.status_of(order_id) == "canceled"
    assert gelato.calls[-1].down is False and gelato.canceled_at(order_id) is not None


def test_down_until_covers_its_window_only(gelato, g):
    """down_until(deadline, since) answers 503 only to requests arriving inside [since, deadline)."""
    order_id = gelato.add_order("1002")
    now = time.monotonic()
    gelato.down_until(now + 3600, since=now + 1800)  # an outage that has not begun
    assert not gelato.is_down() and gelato.is_down(now + 1800) and not gelato.is_down(now + 3600)
    assert g.get(g.url(f"/v4/orders/{order_id}"), timeout=5).status_code == 200
    gelato.down_until(now - 1, since=now - 2)  # an outage that is over
    assert search(g, "1002").status_code == 200
    gelato.down_until(time.monotonic() + 3600)  # down from now on
    assert search(g, "1002").status_code == 503


def test_faults_queued_before_an_outage_wait_until_it_ends(gelato, g):
    """fail_next keeps its meaning: the outage answers first, the queued fault answers the first request after."""
    order_id = gelato.add_order("1003")
    gelato.fail_next("POST", r":cancel$", 429)
    gelato.set_down(True)
    assert cancel(g, order_id).status_code == 503
    gelato.set_down(False)
    assert cancel(g, order_id).status_code == 429
    assert cancel(g, order_id).status_code == 200


def test_reset_ends_an_outage(gelato, g):
    """reset() forgets the outage with everything else."""
    gelato.set_down(True)
    gelato.reset()
    assert not gelato.is_down() and search(g, "1").status_code == 200


# -- the production clock ---------------------------------------------------------------------


def test_an_order_past_its_production_time_is_in_production_and_refuses_cancel(gelato, g):
    """Once its production time has passed, a read shows "in_production" and a cancel is refused (409)."""
    at = time.monotonic() - 0.001
    order_id = gelato.add_order("2001", production_at=at)
    found = search(g, "2001").json()["orders"]
    assert [summary["fulfillmentStatus"] for summary in found] == ["in_production"]
    refused = cancel(g, order_id)
    assert refused.status_code == 409 and "in_production" in refused.json()["message"]
    full = g.get(g.url(f"/v4/orders/{order_id}"), timeout=5).json()
    assert full["fulfillmentStatus"] == "in_production"
    assert {item["fulfillmentStatus"] for item in full["items"]} == {"in_production"}
    assert gelato.went_to_production_at(order_id) == at and gelato.canceled_at(order_id) is None


def test_an_order_before_its_production_time_can_be_canceled_and_then_never_goes_to_production(gelato, g):
    """A cancel before the production time wins; the clock passing later leaves the order canceled."""
    order_id = gelato.add_order("2002", production_at=time.monotonic() + 3600)
    assert search(g, "2002").json()["orders"][0]["fulfillmentStatus"] == "passed"
    assert cancel(g, order_id).status_code == 200
    canceled_at = gelato.canceled_at(order_id)
    assert canceled_at is not None
    gelato.set_production_clock(order_id, time.monotonic() - 0.001)  # its production time comes after all
    assert g.get(g.url(f"/v4/orders/{order_id}"), timeout=5).json()["fulfillmentStatus"] == "canceled"
    assert gelato.went_to_production_at(order_id) is None and gelato.canceled_at(order_id) == canceled_at


def test_production_clock_moves_any_order_due_on_any_request(gelato, g):
    """A request about one order moves every order whose time has come; orders without a clock stay put."""
    due = gelato.add_order("2003")
    gelato.set_production_clock(due, time.monotonic() - 0.001)
    later = gelato.add_order("2004", production_at=time.monotonic() + 3600)
    unclocked = gelato.add_order("2005")
    assert search(g, "2005").status_code == 200
    statuses = {order["id"]: order["fulfillmentStatus"] for order in gelato.all_orders()}
    assert statuses == {due: "in_production", later: "passed", unclocked: "passed"}
    assert gelato.went_to_production_at(later) is None


def test_reset_forgets_production_clocks_and_records(gelato, g):
    """reset() drops pending clocks and what the clocks and cancels recorded."""
    order_id = gelato.add_order("2006", production_at=time.monotonic() - 0.001)
    assert gelato.status_of(order_id) == "in_production"
    gelato.reset()
    fresh = gelato.add_order("2006", order_id=order_id)
    assert gelato.status_of(fresh) == "passed" and gelato.went_to_production_at(fresh) is None
