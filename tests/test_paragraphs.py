"""The wording and identity of note paragraphs."""

from datetime import UTC, datetime

from jobs import paragraphs

WHEN = datetime(2026, 11, 27, 10, 2, tzinfo=UTC)


def test_ref_is_stable_and_order_independent():
    a = paragraphs.paragraph_ref("demo.myshopify.com", "1", [("p1", "cancel-too-late"), ("p2", "cancel-too-late")])
    b = paragraphs.paragraph_ref("demo.myshopify.com", "1", [("p2", "cancel-too-late"), ("p1", "cancel-too-late")])
    assert a == b and a.startswith("pm-")


def test_ref_differs_per_order_and_entry():
    base = paragraphs.paragraph_ref("demo.myshopify.com", "1", [("p1", "cancel-too-late")])
    assert base != paragraphs.paragraph_ref("demo.myshopify.com", "2", [("p1", "cancel-too-late")])
    assert base != paragraphs.paragraph_ref("demo.myshopify.com", "1", [("p1", "change-too-late:abc")])


def test_cancel_too_late_names_print_orders_status_time_and_next_step():
    text = paragraphs.cancel_too_late("gelato", [("po-1", "in_production"), ("po-2", "shipped")], ["po-3"], "pm-x", WHEN)
    assert "2026-11-27 10:02 UTC" in text
    assert "po-1 (in_production)" in text and "printed and shipped to the customer as placed" in text
    assert "po-2 (shipped)" in text and "on its way to the customer" in text
    assert "po-3 was cancelled in time" in text
    assert text.endswith("[pm-x]")


def test_unknown_status_is_still_explained():
    assert "can no longer be cancelled" in paragraphs.what_happens_now("gelato", "mystery")
