"""The note write loses no merchant edit it can avoid: a throttled orderUpdate is rebuilt from a fresh read."""

import pytest

from tests.conftest import SHOP, paragraphs_in

CUSTOMER_NOTE = "Please gift wrap — it's a birthday present!"
MERCHANT_EDIT = "Merchant: upgraded to express shipping, customer phoned 14:05."


def cancel_order(shopify, live_app, order_id):
    """Cancel the order in the fake store and deliver orders/cancelled like Shopify does."""
    shopify.cancel_order(SHOP, order_id)
    response = shopify.send_webhook(live_app.url + "/webhooks", SHOP, "orders/cancelled", shopify.order_payload(SHOP, order_id))
    assert response.status_code == 200, response.text


def calls_on(shopify, order_id):
    """The app's GraphQL calls about this order, oldest first, as (root fields, note sent)."""
    gid = f"gid://shopify/Order/{order_id}"
    out = []
    for call in shopify.graphql_calls():
        variables = call.variables or {}
        if variables.get("id") == gid or (variables.get("input") or {}).get("id") == gid:
            out.append((call.fields, (variables.get("input") or {}).get("note")))
    return out


@pytest.mark.parametrize("http_status", [200, 429])
def test_merchant_edit_during_a_throttled_note_write_survives(
    app, live_app, installed_shop, shopify, gelato, drain, queue, http_status
):
    order_id = shopify.add_order(SHOP, note=CUSTOMER_NOTE)
    gelato.add_order(str(order_id), status="in_production")
    edited = CUSTOMER_NOTE + "\n" + MERCHANT_EDIT

    def merchant_edits_while_throttled(call):
        # The app read the note and sends its orderUpdate; Shopify throttles it, and meanwhile
        # the merchant saves an edit of the note in the admin.
        shopify.throttle_next(times=1, http_status=http_status)
        shopify.set_order(SHOP, order_id, note=edited)

    shopify.before_graphql("orderUpdate", merchant_edits_while_throttled, times=1)
    cancel_order(shopify, live_app, order_id)
    drain()

    note = shopify.order(SHOP, order_id)["note"]
    assert note.startswith(edited + "\n\n")
    assert CUSTOMER_NOTE in note and MERCHANT_EDIT in note
    assert len(paragraphs_in(note)) == 1
    assert "print-cancel-too-late" in shopify.order(SHOP, order_id)["tags"]
    assert queue.failed_job_registry.count == 0
    # Every orderUpdate was sent right after a read of the note, never repeated unchanged after a wait.
    calls = calls_on(shopify, order_id)
    updates = [i for i, (fields, _) in enumerate(calls) if "orderUpdate" in fields]
    assert len(updates) == 2  # the throttled one and the one that landed
    assert all("order" in calls[i - 1][0] for i in updates)
    assert calls[updates[1]][1] == note


def test_paragraph_already_in_the_fresh_note_is_not_written_again(app, live_app, installed_shop, shopify, gelato, drain, queue):
    order_id = shopify.add_order(SHOP, note=CUSTOMER_NOTE)
    gelato.add_order(str(order_id), status="shipped")

    def another_run_writes_it_meanwhile(call):
        # The write is throttled, and meanwhile the very note it carries lands (e.g. written by a
        # run that took over the order): the fresh read already shows the paragraph's marker.
        shopify.throttle_next(times=1)
        shopify.set_order(SHOP, order_id, note=call.variables["input"]["note"])

    shopify.before_graphql("orderUpdate", another_run_writes_it_meanwhile, times=1)
    cancel_order(shopify, live_app, order_id)
    drain()

    note = shopify.order(SHOP, order_id)["note"]
    assert note.startswith(CUSTOMER_NOTE + "\n\n")
    assert len(paragraphs_in(note)) == 1
    assert len(shopify.graphql_calls("orderUpdate")) == 1  # only the throttled try: nothing was sent again
    assert "print-cancel-too-late" in shopify.order(SHOP, order_id)["tags"]
    assert queue.failed_job_registry.count == 0


def test_unthrottled_note_write_appends_to_the_note_just_read(app, live_app, installed_shop, shopify, gelato, drain):
    order_id = shopify.add_order(SHOP, note=CUSTOMER_NOTE)
    gelato.add_order(str(order_id), status="printed")
    cancel_order(shopify, live_app, order_id)
    drain()
    note = shopify.order(SHOP, order_id)["note"]
    assert note.startswith(CUSTOMER_NOTE + "\n\n") and len(paragraphs_in(note)) == 1
    calls = calls_on(shopify, order_id)
    [update] = [i for i, (fields, _) in enumerate(calls) if "orderUpdate" in fields]
    assert "order" in calls[update - 1][0]
