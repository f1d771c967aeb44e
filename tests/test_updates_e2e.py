"""orders/updated end to end: signed webhooks over HTTP → guards in Redis → real RQ worker → Gelato and Shopify fakes."""

from sqlalchemy import select

from jobs.queueing import job_options
from plugin.intake.guards import fingerprint_key, updated_at_key
from plugin.store.models import Activity
from tests.conftest import SHOP, paragraphs_in

CUSTOMER_NOTE = "Please gift wrap — it's a birthday present!"
NEW_ADDRESS = {"address1": "9 New Road", "city": "Newtown", "zip": "40004"}
GELATO_WRITES = (("POST", r":cancel$"), ("PATCH", r"^/v4/orders/"), ("POST", r"^/v4/orders$"))


# -- helpers -------------------------------------------------------------------------------------


def gelato_address(shopify_order: dict) -> dict:
    """The store order's shipping address as the Gelato integration placed it."""
    a = shopify_order["shipping_address"]
    return {
        "firstName": a["first_name"],
        "lastName": a["last_name"],
        "companyName": a["company"],
        "addressLine1": a["address1"],
        "addressLine2": a["address2"] or "",
        "city": a["city"],
        "postCode": a["zip"],
        "state": a["province_code"],
        "country": a["country_code"],
        "phone": a["phone"],
        "email": "jon@example.com",
    }


def seed(shopify, gelato, status="passed", quantities=(2, 1)):
    """A store order with line items of the given quantities and its print order, in sync."""
    order_id = shopify.add_order(SHOP, note=CUSTOMER_NOTE, line_items=[{"quantity": q} for q in quantities])
    order = shopify.order(SHOP, order_id)
    items = [{"itemReferenceId": str(li["id"]), "quantity": li["quantity"]} for li in order["line_items"]]
    print_id = gelato.add_order(str(order_id), status=status, items=items, shipping_address=gelato_address(order))
    return order_id, print_id, [li["id"] for li in order["line_items"]]


def deliver(shopify, live_app, order_id, topic="orders/updated", payload=None, webhook_id=None) -> str:
    """Send the order's current payload (or the given one) like Shopify; the receiver's one-line answer."""
    payload = payload if payload is not None else shopify.order_payload(SHOP, order_id)
    response = shopify.send_webhook(live_app.url + "/webhooks", SHOP, topic, payload, webhook_id=webhook_id)
    assert response.status_code == 200, response.text
    return response.json()["message"]


def activity_for(app, order_id):
    with app.extensions["database"].session() as session:
        rows = session.scalars(select(Activity).where(Activity.store_order_id == str(order_id)).order_by(Activity.id))
        return [(row.print_order_id, row.action, row.outcome) for row in rows]


def gelato_writes(gelato):
    return [c for method, path in GELATO_WRITES for c in gelato.calls_matching(method, path)]


def forget_guards(app, order_id):
    """What the TTL does after weeks: the next update of the order reaches the job again."""
    app.extensions["redis"].delete(fingerprint_key(SHOP, str(order_id)), updated_at_key(SHOP, str(order_id)))


# -- cheap at the door ---------------------------------------------------------------------------


def test_first_update_in_sync_touches_nothing(app, live_app, installed_shop, shopify, gelato, drain):
    order_id, print_id, _ = seed(shopify, gelato)
    shopify.set_order(SHOP, order_id, financial_status="paid")
    assert deliver(shopify, live_app, order_id) == "enqueued"
    drain()
    assert activity_for(app, order_id) == [(print_id, "compare", "in_sync")]
    assert gelato_writes(gelato) == []
    assert shopify.graphql_calls("orderUpdate") == [] and shopify.graphql_calls("tagsAdd") == []


def test_note_or_tag_only_update_queues_no_job(app, live_app, installed_shop, shopify, gelato, drain, queue):
    order_id, _, _ = seed(shopify, gelato)
    deliver(shopify, live_app, order_id)
    drain()
    for change in (
        {"note": "Call before delivery"},
        {"tags": ["vip"]},
        {"financial_status": "refunded"},
        {"custom_attributes": [{"key": "gift", "value": "yes"}]},
    ):
        shopify.set_order(SHOP, order_id, **change)
        assert deliver(shopify, live_app, order_id) == "no print-relevant change"
        assert queue.count == 0
    drain()
    assert len(activity_for(app, order_id)) == 1


def test_own_note_and_tag_writes_echo_back_without_a_job(app, live_app, installed_shop, shopify, gelato, drain, queue):
    order_id, _, _ = seed(shopify, gelato, status="in_production")
    shopify.set_order(SHOP, order_id, shipping_address=NEW_ADDRESS)
    shopify.echo_order_updates(live_app.url + "/webhooks")
    deliver(shopify, live_app, order_id)
    drain()
    note = shopify.order(SHOP, order_id)["note"]
    assert len(paragraphs_in(note)) == 1
    echoes = shopify.wait_for_deliveries(2)  # one for orderUpdate, one for tagsAdd
    assert [e["status"] for e in echoes] == [200, 200]
    assert queue.count == 0
    drain()
    assert shopify.order(SHOP, order_id)["note"] == note
    assert len(shopify.graphql_calls("orderUpdate")) == 1
    assert len(activity_for(app, order_id)) == 1


def test_wrongly_typed_payloads_are_refused_at_the_door(live_app, installed_shop, shopify, gelato, queue):
    order_id, _, _ = seed(shopify, gelato)
    url = live_app.url + "/webhooks"
    float_id = shopify.order_payload(SHOP, order_id)
    float_id["line_items"][0]["id"] = float(float_id["line_items"][0]["id"])
    not_a_list = shopify.order_payload(SHOP, order_id)
    not_a_list["line_items"] = {"0": not_a_list["line_items"][0]}
    for payload in (float_id, not_a_list):
        response = shopify.send_webhook(url, SHOP, "orders/updated", payload)
        assert response.status_code == 400 and "line_items" in response.json()["message"]
    assert queue.count == 0


# -- too late ------------------------------------------------------------------------------------


def test_address_change_when_printed_writes_one_paragraph_and_tag(app, live_app, installed_shop, shopify, gelato, drain):
    order_id, print_id, _ = seed(shopify, gelato, status="printed")
    shopify.set_order(SHOP, order_id, shipping_address=NEW_ADDRESS, tags=["vip"])
    deliver(shopify, live_app, order_id)
    drain()
    store_order = shopify.order(SHOP, order_id)
    assert store_order["note"].startswith(CUSTOMER_NOTE + "\n\n")
    added = store_order["note"][len(CUSTOMER_NOTE) :]
    assert f"print order {print_id} (printed)" in added
    assert "shipping address changed to Newtown, US" in added
    assert "will ship to the address it was placed with: Shippington, US" in added
    assert len(paragraphs_in(store_order["note"])) == 1
    assert set(store_order["tags"]) == {"vip", "print-change-too-late"}
    assert gelato_writes(gelato) == []
    assert activity_for(app, order_id) == [(print_id, "compare", "change_too_late")]


def test_same_change_delivered_twice_writes_one_paragraph(app, live_app, installed_shop, shopify, gelato, drain, queue):
    order_id, _, _ = seed(shopify, gelato, status="in_production")
    shopify.set_order(SHOP, order_id, shipping_address=NEW_ADDRESS)
    payload = shopify.order_payload(SHOP, order_id)
    assert deliver(shopify, live_app, order_id, payload=payload, webhook_id="first") == "enqueued"
    # The same body under a fresh webhook id (a replay, or a subscription made twice) is known by its body.
    assert deliver(shopify, live_app, order_id, payload=payload, webhook_id="second") == "duplicate"
    drain()
    # Weeks later the guards have expired: the same change reaches the job, and the ledger holds.
    forget_guards(app, order_id)
    shopify.set_order(SHOP, order_id, tags=["vip"])  # a new delivery: the body differs, the print state does not
    assert deliver(shopify, live_app, order_id, webhook_id="third") == "enqueued"
    drain()
    assert len(paragraphs_in(shopify.order(SHOP, order_id)["note"])) == 1
    assert len(shopify.graphql_calls("orderUpdate")) == 1 and len(shopify.graphql_calls("tagsAdd")) == 1
    assert [row[2] for row in activity_for(app, order_id)] == ["change_too_late", "change_too_late"]


def test_two_different_later_changes_write_two_paragraphs(app, live_app, installed_shop, shopify, gelato, drain):
    order_id, print_id, line_ids = seed(shopify, gelato, status="in_production")
    shopify.set_order(SHOP, order_id, shipping_address=NEW_ADDRESS)
    deliver(shopify, live_app, order_id)
    drain()
    shopify.set_line_item(SHOP, order_id, line_ids[0], current_quantity=1)
    deliver(shopify, live_app, order_id)
    drain()
    note = shopify.order(SHOP, order_id)["note"]
    assert len(paragraphs_in(note)) == 2
    first, second = note[len(CUSTOMER_NOTE) :].strip().split("\n\n")
    assert "Newtown" in first and "quantity" not in first
    # The second paragraph tells only what is new: the address was told already.
    assert "quantity 2 → 1; the print order will be produced as placed" in second and "Newtown" not in second
    assert len(shopify.graphql_calls("tagsAdd")) == 1


def test_older_update_after_newer_one_is_ignored(app, live_app, installed_shop, shopify, gelato, drain, queue):
    order_id, _, _ = seed(shopify, gelato, status="in_production")
    shopify.set_order(SHOP, order_id, shipping_address={"city": "Oldtown"})
    older = shopify.order_payload(SHOP, order_id)
    shopify.set_order(SHOP, order_id, shipping_address=NEW_ADDRESS)
    newer = shopify.order_payload(SHOP, order_id)
    assert deliver(shopify, live_app, order_id, payload=newer) == "enqueued"
    assert deliver(shopify, live_app, order_id, payload=older).startswith("stale update")
    assert queue.count == 1
    drain()
    note = shopify.order(SHOP, order_id)["note"]
    assert "Newtown" in note and "Oldtown" not in note


def test_crossed_delivery_of_a_reverted_change_is_stale(app, live_app, installed_shop, shopify, gelato, drain, queue):
    order_id, _, _ = seed(shopify, gelato, status="in_production")
    first = shopify.order_payload(SHOP, order_id)
    shopify.set_order(SHOP, order_id, shipping_address={"city": "Oldtown"})
    reverted_later = shopify.order_payload(SHOP, order_id)  # an intermediate address, changed back below
    shopify.set_order(SHOP, order_id, shipping_address={"city": first["shipping_address"]["city"]}, note="call first")
    latest = shopify.order_payload(SHOP, order_id)
    assert deliver(shopify, live_app, order_id, payload=first) == "enqueued"
    # Newest state: only the note differs from the first, so no job — but it is still the newest seen.
    assert deliver(shopify, live_app, order_id, payload=latest) == "no print-relevant change"
    # The intermediate state arrives last (Shopify does not promise order): it must not be mirrored.
    assert deliver(shopify, live_app, order_id, payload=reverted_later).startswith("stale update")
    assert queue.count == 1


def test_older_job_queued_before_a_newer_one_steps_aside(app, live_app, installed_shop, shopify, gelato, drain):
    order_id, print_id, _ = seed(shopify, gelato, status="in_production")
    shopify.set_order(SHOP, order_id, shipping_address={"city": "Oldtown"})
    older = shopify.order_payload(SHOP, order_id)
    shopify.set_order(SHOP, order_id, shipping_address=NEW_ADDRESS)
    newer = shopify.order_payload(SHOP, order_id)
    assert deliver(shopify, live_app, order_id, payload=older) == "enqueued"
    assert deliver(shopify, live_app, order_id, payload=newer) == "enqueued"
    drain()
    note = shopify.order(SHOP, order_id)["note"]
    assert len(paragraphs_in(note)) == 1 and "Newtown" in note and "Oldtown" not in note
    assert activity_for(app, order_id) == [(None, "compare", "superseded"), (print_id, "compare", "change_too_late")]


# -- cancellation through updates ----------------------------------------------------------------


def test_cancelled_via_update_and_orders_cancelled_cancel_once(app, live_app, installed_shop, shopify, gelato, drain):
    order_id, print_id, _ = seed(shopify, gelato, status="passed")
    shopify.cancel_order(SHOP, order_id)
    assert deliver(shopify, live_app, order_id, topic="orders/updated") == "enqueued"
    # Same cancelled state: the receiver already queued it, so no second job at all.
    assert deliver(shopify, live_app, order_id, topic="orders/cancelled") == "no print-relevant change"
    drain()
    assert len(gelato.calls_matching("POST", r":cancel$")) == 1
    assert gelato.order(print_id)["fulfillmentStatus"] == "canceled"
    assert shopify.order(SHOP, order_id)["tags"] == ["print-cancelled"]
    assert [row[2] for row in activity_for(app, order_id)] == ["cancelled"]


def test_both_topics_running_jobs_still_cancel_once(app, live_app, installed_shop, shopify, gelato, drain):
    order_id, print_id, _ = seed(shopify, gelato, status="passed")
    shopify.cancel_order(SHOP, order_id)
    assert deliver(shopify, live_app, order_id, topic="orders/cancelled") == "enqueued"
    forget_guards(app, order_id)  # e.g. the guard keys expired: both topics reach a job
    assert deliver(shopify, live_app, order_id, topic="orders/updated") == "enqueued"
    drain()
    assert len(gelato.calls_matching("POST", r":cancel$")) == 1
    assert shopify.order(SHOP, order_id)["tags"] == ["print-cancelled"]
    assert len(shopify.graphql_calls("tagsAdd")) == 1
    assert [row[2] for row in activity_for(app, order_id)] == ["cancelled", "already_canceled"]


def test_cancelled_too_late_via_both_topics_writes_one_paragraph(app, live_app, installed_shop, shopify, gelato, drain):
    order_id, _, _ = seed(shopify, gelato, status="in_production")
    shopify.cancel_order(SHOP, order_id)
    deliver(shopify, live_app, order_id, topic="orders/cancelled")
    deliver(shopify, live_app, order_id, topic="orders/updated")
    drain()
    note = shopify.order(SHOP, order_id)["note"]
    assert len(paragraphs_in(note)) == 1 and "cancelled in Shopify" in note
    assert gelato.calls_matching("POST", r":cancel$") == []
    assert len(shopify.graphql_calls("orderUpdate")) == 1


# -- in time -------------------------------------------------------------------------------------


def test_all_items_removed_cancels_the_print_order(app, live_app, installed_shop, shopify, gelato, drain):
    order_id, print_id, line_ids = seed(shopify, gelato, status="passed")
    for line_id in line_ids:
        shopify.set_line_item(SHOP, order_id, line_id, current_quantity=0)
    deliver(shopify, live_app, order_id)
    drain()
    assert gelato.order(print_id)["fulfillmentStatus"] == "canceled"
    assert "print-cancelled" in shopify.order(SHOP, order_id)["tags"]
    assert activity_for(app, order_id) == [(print_id, "cancel", "cancelled")]


def test_one_item_removed_from_a_placed_order_needs_action(app, live_app, installed_shop, shopify, gelato, drain):
    order_id, print_id, line_ids = seed(shopify, gelato, status="passed")
    shopify.set_line_item(SHOP, order_id, line_ids[1], current_quantity=0)
    deliver(shopify, live_app, order_id)
    drain()
    assert gelato.order(print_id)["fulfillmentStatus"] == "passed"
    store_order = shopify.order(SHOP, order_id)
    assert f"print order {print_id} is still 'passed'" in store_order["note"]
    assert '"Organic T-shirt - M / White" (quantity 1 → 0)' in store_order["note"]
    assert "print-change-needs-action" in store_order["tags"]
    assert gelato_writes(gelato) == []


def test_address_change_on_a_placed_order_needs_action_in_the_dashboard(app, live_app, installed_shop, shopify, gelato, drain):
    order_id, print_id, _ = seed(shopify, gelato, status="passed")
    shopify.set_order(SHOP, order_id, shipping_address=NEW_ADDRESS)
    deliver(shopify, live_app, order_id)
    drain()
    note = shopify.order(SHOP, order_id)["note"]
    assert f"print order {print_id} is still 'passed'" in note and "Gelato dashboard" in note
    assert "ship to Steve Shipper, Shipping Company, 9 New Road, Newtown KY 40004, US" in note
    assert "print-change-needs-action" in shopify.order(SHOP, order_id)["tags"]
    assert gelato_writes(gelato) == []
    assert activity_for(app, order_id) == [(print_id, "compare", "needs_action")]


def test_draft_is_patched(app, live_app, installed_shop, shopify, gelato, drain):
    order_id, print_id, line_ids = seed(shopify, gelato, status="draft")
    shopify.set_line_item(SHOP, order_id, line_ids[0], current_quantity=1)
    shopify.set_order(SHOP, order_id, shipping_address=NEW_ADDRESS)
    deliver(shopify, live_app, order_id)
    drain()
    [patch] = gelato.calls_matching("PATCH", rf"^/v4/orders/{print_id}$")
    draft = gelato.order(print_id)
    first_item = next(i for i in draft["items"] if i["itemReferenceId"] == str(line_ids[0]))
    assert patch.json["items"] == [{"id": first_item["id"], "quantity": 1}]
    assert first_item["quantity"] == 1
    assert (draft["shippingAddress"]["addressLine1"], draft["shippingAddress"]["city"]) == ("9 New Road", "Newtown")
    assert draft["orderType"] == "draft"
    assert activity_for(app, order_id) == [(print_id, "patch", "patched")]
    assert shopify.graphql_calls("orderUpdate") == []


# -- cancel and replace --------------------------------------------------------------------------


def turn_on_cancel_and_replace(app):
    result = app.test_cli_runner().invoke(args=["shops", "set", SHOP, "--cancel-and-replace"])
    assert result.exit_code == 0, result.output


def test_cancel_and_replace_places_a_new_order_and_cancels_the_old(app, live_app, installed_shop, shopify, gelato, drain):
    turn_on_cancel_and_replace(app)
    order_id, old_id, line_ids = seed(shopify, gelato, status="passed")
    shopify.set_order(SHOP, order_id, shipping_address=NEW_ADDRESS)
    shopify.set_line_item(SHOP, order_id, line_ids[0], current_quantity=1)
    deliver(shopify, live_app, order_id)
    drain()
    old = gelato.order(old_id)
    assert old["fulfillmentStatus"] == "canceled"
    [new] = [o for o in gelato.orders_for(str(order_id)) if o["id"] != old_id]
    assert new["fulfillmentStatus"] == "created" and new["orderType"] == "order"
    assert new["customerReferenceId"] == old["customerReferenceId"]
    assert (new["shippingAddress"]["addressLine1"], new["shippingAddress"]["city"], new["shippingAddress"]["postCode"]) == (
        "9 New Road",
        "Newtown",
        "40004",
    )
    assert new["shippingAddress"]["email"] == old["shippingAddress"]["email"]
    copied = {i["itemReferenceId"]: (i["productUid"], i["files"], i["quantity"]) for i in new["items"]}
    assert copied == {i["itemReferenceId"]: (i["productUid"], i["files"], 1) for i in old["items"]}
    note = shopify.order(SHOP, order_id)["note"]
    assert f"print order {old_id} was cancelled and replaced by print order {new['id']}" in note
    assert activity_for(app, order_id) == [(old_id, "replace", "replaced")]
    # The same change again (guards expired): the replacement is in sync, nothing is placed twice.
    forget_guards(app, order_id)
    deliver(shopify, live_app, order_id)
    drain()
    assert len(gelato.calls_matching("POST", r"^/v4/orders$")) == 1
    assert len(paragraphs_in(shopify.order(SHOP, order_id)["note"])) == 1
    assert activity_for(app, order_id)[1:] == [(old_id, "none", "already_canceled"), (new["id"], "compare", "in_sync")]


def test_replacement_is_placed_once_when_the_job_fails_after_placing_it(
    app, live_app, installed_shop, shopify, gelato, drain, queue
):
    turn_on_cancel_and_replace(app)
    order_id, old_id, _ = seed(shopify, gelato, status="passed")
    shopify.set_order(SHOP, order_id, shipping_address=NEW_ADDRESS)
    gelato.fail_next("POST", r"^/v4/orders$", 503)  # first attempt to place fails after the cancel
    shopify.fail_next(500, times=1)  # the retry places it, then the note write fails once
    deliver(shopify, live_app, order_id)
    drain()
    assert len(gelato.calls_matching("POST", r"^/v4/orders$")) == 2  # 503, then placed
    [new] = [o for o in gelato.orders_for(str(order_id)) if o["id"] != old_id]
    assert gelato.order(old_id)["fulfillmentStatus"] == "canceled"
    assert len(gelato.calls_matching("POST", r":cancel$")) == 1
    note = shopify.order(SHOP, order_id)["note"]
    assert len(paragraphs_in(note)) == 1 and new["id"] in note
    assert queue.failed_job_registry.count == 0


def test_replace_when_cancel_is_refused_places_nothing(app, live_app, installed_shop, shopify, gelato, drain):
    turn_on_cancel_and_replace(app)
    order_id, old_id, _ = seed(shopify, gelato, status="passed")
    gelato.before("POST", r":cancel$", lambda call: gelato.set_status(old_id, "in_production"))
    shopify.set_order(SHOP, order_id, shipping_address=NEW_ADDRESS)
    deliver(shopify, live_app, order_id)
    drain()
    assert gelato.calls_matching("POST", r"^/v4/orders$") == []
    assert "print-change-too-late" in shopify.order(SHOP, order_id)["tags"]
    assert f"print order {old_id} (in_production)" in shopify.order(SHOP, order_id)["note"]


def test_replacement_refused_by_gelato_is_told_on_the_order(app, live_app, installed_shop, shopify, gelato, drain, queue):
    turn_on_cancel_and_replace(app)
    order_id, old_id, _ = seed(shopify, gelato, status="passed")
    gelato.fail_next("POST", r"^/v4/orders$", 400, body={"code": "bad_request", "message": "address not deliverable"})
    shopify.set_order(SHOP, order_id, shipping_address=NEW_ADDRESS)
    deliver(shopify, live_app, order_id)
    drain()
    note = shopify.order(SHOP, order_id)["note"]
    assert "refused the new order" in note and "address not deliverable" in note
    assert "print-change-needs-action" in shopify.order(SHOP, order_id)["tags"]
    # Later updates do not place it behind the merchant's back.
    forget_guards(app, order_id)
    deliver(shopify, live_app, order_id)
    drain()
    assert len(gelato.calls_matching("POST", r"^/v4/orders$")) == 1
    assert [row[2] for row in activity_for(app, order_id)] == ["replace_failed", "already_canceled"]


# -- settings and bad jobs -----------------------------------------------------------------------


def test_shops_set_toggles_cancel_and_replace(app, installed_shop):
    runner = app.test_cli_runner()
    assert "cancel and replace on" in runner.invoke(args=["shops", "set", SHOP, "--cancel-and-replace"]).output
    assert "cancel and replace off" in runner.invoke(args=["shops", "set", SHOP, "--no-cancel-and-replace"]).output
    assert runner.invoke(args=["shops", "set", "other.myshopify.com", "--cancel-and-replace"]).exit_code != 0
    assert runner.invoke(args=["shops", "set", SHOP]).exit_code != 0


def test_bad_job_arguments_fail_permanently(app, queue, drain):
    kwargs = {"shop": SHOP, "order_id": "1", "updated_at": "2026-11-27T10:00:00", "cancelled": False}
    job = queue.enqueue_call("jobs.updates.mirror_update", kwargs=kwargs, **job_options(app.config))
    drain()
    job.refresh()
    assert job.get_status() == "failed" and job.retries_left == 0
    assert "has no UTC offset" in job.latest_result().exc_string
