"""orders/cancelled end to end: signed webhook over HTTP → Redis → real RQ worker → Gelato and Shopify fakes."""

import threading

from rq.job import Job
from sqlalchemy import delete, select

from jobs.cancellation import mirror_cancellation
from jobs.locks import order_lock
from jobs.queueing import job_options
from jobs.tell_store import tell_cancellation
from plugin.store.models import Activity, NoteEntry
from tests.conftest import SHOP, paragraphs_in

CUSTOMER_NOTE = "Please gift wrap — it's a birthday present!\nLeave at the back door."


def cancel_order(shopify, live_app, order_id, webhook_id=None):
    """Cancel the order in the fake store and deliver orders/cancelled like Shopify does."""
    shopify.cancel_order(SHOP, order_id)
    response = shopify.send_webhook(
        live_app.url + "/webhooks", SHOP, "orders/cancelled", shopify.order_payload(SHOP, order_id), webhook_id=webhook_id
    )
    assert response.status_code == 200, response.text
    return response


def activity_for(app, order_id):
    with app.extensions["database"].session() as session:
        return list(session.scalars(select(Activity).where(Activity.store_order_id == str(order_id)).order_by(Activity.id)))


def test_cancel_in_time(app, live_app, installed_shop, shopify, gelato, drain):
    order_id = shopify.add_order(SHOP, note=CUSTOMER_NOTE)
    print_id = gelato.add_order(str(order_id), status="passed")
    cancel_order(shopify, live_app, order_id)
    drain()
    assert gelato.order(print_id)["fulfillmentStatus"] == "canceled"
    store_order = shopify.order(SHOP, order_id)
    assert "print-cancelled" in store_order["tags"]
    assert store_order["note"] == CUSTOMER_NOTE
    [row] = activity_for(app, order_id)
    assert (row.shop, row.print_order_id, row.status_seen, row.action, row.outcome) == (
        SHOP,
        print_id,
        "passed",
        "cancel",
        "cancelled",
    )
    assert row.topic == "orders/cancelled" and row.created_at is not None


def test_too_late_appends_paragraph_and_keeps_customer_note(app, live_app, installed_shop, shopify, gelato, drain):
    order_id = shopify.add_order(SHOP, note=CUSTOMER_NOTE, tags=["vip"])
    print_id = gelato.add_order(str(order_id), status="in_production")
    cancel_order(shopify, live_app, order_id)
    drain()
    store_order = shopify.order(SHOP, order_id)
    assert store_order["note"].startswith(CUSTOMER_NOTE + "\n\n")
    added = store_order["note"][len(CUSTOMER_NOTE) :]
    assert print_id in added and "in_production" in added and "printed and shipped" in added and "UTC" in added
    assert len(paragraphs_in(store_order["note"])) == 1
    assert set(store_order["tags"]) >= {"vip", "print-cancel-too-late"}
    assert "print-cancelled" not in store_order["tags"]
    assert gelato.order(print_id)["fulfillmentStatus"] == "in_production"
    assert gelato.calls_matching("POST", r":cancel$") == []
    [row] = activity_for(app, order_id)
    assert (row.action, row.outcome, row.status_seen) == ("reread", "too_late", "in_production")


def test_split_order_one_cancelled_one_shipped(app, live_app, installed_shop, shopify, gelato, drain):
    order_id = shopify.add_order(SHOP)
    passed_id, shipped_id = gelato.add_split_order(str(order_id), statuses=["passed", "shipped"])
    cancel_order(shopify, live_app, order_id)
    drain()
    assert gelato.order(passed_id)["fulfillmentStatus"] == "canceled"
    assert gelato.order(shipped_id)["fulfillmentStatus"] == "shipped"
    note = shopify.order(SHOP, order_id)["note"]
    assert f"{shipped_id} (shipped)" in note and f"{passed_id} was cancelled in time" in note
    assert len(paragraphs_in(note)) == 1
    assert "print-cancel-too-late" in shopify.order(SHOP, order_id)["tags"]
    outcomes = {row.print_order_id: row.outcome for row in activity_for(app, order_id)}
    assert outcomes == {passed_id: "cancelled", shipped_id: "too_late"}


def test_duplicates_and_redeliveries_write_one_paragraph(app, live_app, installed_shop, shopify, gelato, drain, queue):
    order_id = shopify.add_order(SHOP, note=CUSTOMER_NOTE)
    gelato.add_order(str(order_id), status="printed")
    shopify.cancel_order(SHOP, order_id)
    payload = shopify.order_payload(SHOP, order_id)
    url = live_app.url + "/webhooks"
    for _ in range(3):
        assert shopify.send_webhook(url, SHOP, "orders/cancelled", payload, webhook_id="delivery-1").status_code == 200
    assert queue.count == 1
    drain()
    # Shopify re-sends the same event with new delivery ids (e.g. after a timeout on its side).
    for n in range(3):
        assert shopify.send_webhook(url, SHOP, "orders/cancelled", payload, webhook_id=f"redelivery-{n}").status_code == 200
    drain()
    note = shopify.order(SHOP, order_id)["note"]
    assert len(paragraphs_in(note)) == 1
    assert note.startswith(CUSTOMER_NOTE)
    assert len(shopify.graphql_calls("orderUpdate")) == 1
    assert len(shopify.graphql_calls("tagsAdd")) == 1
    # The re-deliveries carry the state already queued: the receiver's guards answer them without a job.
    assert len(activity_for(app, order_id)) == 1


def test_409_race_passed_at_search_printed_at_cancel(app, live_app, installed_shop, shopify, gelato, drain):
    order_id = shopify.add_order(SHOP)
    print_id = gelato.add_order(str(order_id), status="passed")
    gelato.before("POST", r":cancel$", lambda *args, **kwargs: gelato.set_status(print_id, "printed"))
    cancel_order(shopify, live_app, order_id)
    drain()
    assert len(gelato.calls_matching("POST", r":cancel$")) == 1
    assert len(gelato.calls_matching("GET", rf"/v4/orders/{print_id}$")) == 1
    note = shopify.order(SHOP, order_id)["note"]
    assert f"{print_id} (printed)" in note
    [row] = activity_for(app, order_id)
    assert (row.action, row.outcome, row.status_seen) == ("cancel", "too_late", "printed")


def test_gelato_500_twice_then_success(app, live_app, installed_shop, shopify, gelato, drain, queue):
    order_id = shopify.add_order(SHOP)
    print_id = gelato.add_order(str(order_id), status="created")
    gelato.fail_next("POST", r"orders:search", 500, times=2)
    cancel_order(shopify, live_app, order_id)
    drain()
    assert len(gelato.calls_matching("POST", r"orders:search")) == 3
    assert gelato.order(print_id)["fulfillmentStatus"] == "canceled"
    assert "print-cancelled" in shopify.order(SHOP, order_id)["tags"]
    assert queue.failed_job_registry.count == 0


def test_gelato_down_for_good_ends_in_failed_registry(app, live_app, installed_shop, shopify, gelato, drain, queue):
    order_id = shopify.add_order(SHOP)
    gelato.add_order(str(order_id), status="created")
    gelato.fail_next("POST", r"orders:search", 503, times=10)
    cancel_order(shopify, live_app, order_id)
    drain()
    assert len(gelato.calls_matching("POST", r"orders:search")) == 4  # first run + 3 retries
    assert queue.failed_job_registry.count == 1


def test_throttled_twice_then_success(app, live_app, installed_shop, shopify, gelato, drain, queue):
    order_id = shopify.add_order(SHOP, note=CUSTOMER_NOTE)
    gelato.add_order(str(order_id), status="shipped")
    shopify.throttle_next(times=1, http_status=200)
    shopify.throttle_next(times=1, http_status=429)
    cancel_order(shopify, live_app, order_id)
    drain()
    note = shopify.order(SHOP, order_id)["note"]
    assert note.startswith(CUSTOMER_NOTE) and len(paragraphs_in(note)) == 1
    assert "print-cancel-too-late" in shopify.order(SHOP, order_id)["tags"]
    assert queue.failed_job_registry.count == 0


def test_print_order_not_found_on_cancel_is_recorded(app, live_app, installed_shop, shopify, gelato, drain):
    order_id = shopify.add_order(SHOP)
    print_id = gelato.add_order(str(order_id), status="passed")
    gelato.fail_next("POST", r":cancel$", 404, times=1)
    cancel_order(shopify, live_app, order_id)
    drain()
    [row] = activity_for(app, order_id)
    assert (row.print_order_id, row.outcome) == (print_id, "not_found")
    assert shopify.graphql_calls("orderUpdate") == [] and shopify.graphql_calls("tagsAdd") == []


def test_no_print_order_leaves_store_order_untouched(app, live_app, installed_shop, shopify, gelato, drain):
    order_id = shopify.add_order(SHOP, note=CUSTOMER_NOTE)
    gelato.add_order("999", status="passed")  # someone else's order
    cancel_order(shopify, live_app, order_id)
    drain()
    [row] = activity_for(app, order_id)
    assert (row.print_order_id, row.outcome) == (None, "no_print_orders")
    assert shopify.order(SHOP, order_id)["note"] == CUSTOMER_NOTE
    assert shopify.graphql_calls("orderUpdate") == [] and shopify.graphql_calls("tagsAdd") == []
    assert gelato.calls_matching("POST", r":cancel$") == []


def test_already_canceled_print_order_needs_no_call(app, live_app, installed_shop, shopify, gelato, drain):
    order_id = shopify.add_order(SHOP)
    gelato.add_order(str(order_id), status="canceled")
    cancel_order(shopify, live_app, order_id)
    drain()
    assert gelato.calls_matching("POST", r":cancel$") == []
    assert activity_for(app, order_id)[0].outcome == "already_canceled"


def test_search_paginates_past_one_page(app, live_app, installed_shop, shopify, gelato, drain):
    order_id = shopify.add_order(SHOP)
    ids = [gelato.add_order(str(order_id), status="passed") for _ in range(130)]
    cancel_order(shopify, live_app, order_id)
    drain()
    assert all(gelato.order(i)["fulfillmentStatus"] == "canceled" for i in ids)
    assert len(gelato.calls_matching("POST", r"orders:search")) == 2


def test_rerun_after_crash_between_note_write_and_ledger_writes_nothing_twice(app, installed_shop, shopify, gelato):
    order_id = shopify.add_order(SHOP, note=CUSTOMER_NOTE)
    gelato.add_order(str(order_id), status="in_production")
    shopify.cancel_order(SHOP, order_id)
    with app.app_context():
        tell = _tell_job(app, mirror_cancellation(SHOP, str(order_id)))
        tell_cancellation(**tell.kwargs)
        # The crash: the note was written but the ledger insert never happened.
        with app.extensions["database"].session() as session:
            session.execute(delete(NoteEntry))
        tell_cancellation(**tell.kwargs)
    note = shopify.order(SHOP, order_id)["note"]
    assert len(paragraphs_in(note)) == 1
    assert len(shopify.graphql_calls("orderUpdate")) == 1


def test_two_workers_on_one_order_cancel_once_and_write_once(app, installed_shop, shopify, gelato):
    order_id = shopify.add_order(SHOP)
    passed_id, _ = gelato.add_split_order(str(order_id), statuses=["passed", "in_production"])
    shopify.cancel_order(SHOP, order_id)
    gelato.latency = 0.05  # widen the window in which two unlocked workers would both act
    results, errors = [], []

    def run():
        try:
            with app.app_context():
                results.append(mirror_cancellation(SHOP, str(order_id)))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    gelato.latency = 0
    assert errors == [] and len(results) == 2
    assert len(gelato.calls_matching("POST", rf"{passed_id}:cancel$")) == 1
    # Each run queued the note for its too-late print order; told twice, the order says it once.
    tells = [_tell_job(app, result) for result in results]
    threads = [threading.Thread(target=_run_tell, args=(app, tell)) for tell in tells]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(paragraphs_in(shopify.order(SHOP, order_id)["note"])) == 1


def test_lock_held_elsewhere_makes_job_wait(app, installed_shop, shopify, gelato):
    order_id = shopify.add_order(SHOP)
    print_id = gelato.add_order(str(order_id), status="passed")
    shopify.cancel_order(SHOP, order_id)
    redis_client = app.extensions["redis"]
    with app.app_context():
        with order_lock(redis_client, SHOP, str(order_id), lease_seconds=5):
            worker = threading.Thread(target=lambda: _run_in_context(app, SHOP, str(order_id)))
            worker.start()
            worker.join(timeout=0.2)
            assert worker.is_alive(), "the job must wait for the lock"
            assert gelato.calls_matching("POST", r":cancel$") == []
        worker.join(timeout=20)
    assert gelato.order(print_id)["fulfillmentStatus"] == "canceled"


def _tell_job(app, result: dict) -> Job:
    """The note-and-tag job a cancellation run queued (its result names it)."""
    return Job.fetch(result["tell_job"], connection=app.extensions["redis"])


def _run_tell(app, tell: Job) -> None:
    with app.app_context():
        tell_cancellation(**tell.kwargs)


def _run_in_context(app, shop, order_id):
    with app.app_context():
        mirror_cancellation(shop, order_id)


def test_bad_job_arguments_fail_permanently_without_retry(app, queue, drain):
    job = queue.enqueue_call(
        "jobs.cancellation.mirror_cancellation", kwargs={"shop": "evil.com", "order_id": "1"}, **job_options(app.config)
    )
    drain()
    job.refresh()
    assert job.get_status() == "failed"
    assert job.retries_left == 0
    assert "not a *.myshopify.com domain" in job.latest_result().exc_string
