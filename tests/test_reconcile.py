"""Reconciliation: orders whose webhooks never arrived are still mirrored, within one sweep."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from jobs.queueing import job_options
from plugin.dev.procfile import process_env, start, stop, wait_until
from plugin.store.models import Shop
from tests.conftest import SHOP
from tests.test_updates_e2e import seed


def sweep(app, queue, drain):
    """Run one reconciliation of SHOP through the real queue and worker."""
    job = queue.enqueue_call("jobs.reconcile.reconcile_shop", kwargs={"shop": SHOP}, **job_options(app.config))
    drain()
    job.refresh()
    assert job.get_status() == "finished", job.latest_result().exc_string
    return job.return_value()


def last_reconciled(app):
    with app.extensions["database"].session() as session:
        return session.scalar(select(Shop.last_reconciled_at).where(Shop.domain == SHOP))


def test_cancellation_with_no_webhook_is_mirrored(app, installed_shop, shopify, gelato, queue, drain):
    order_id = shopify.add_order(SHOP)
    print_id = gelato.add_order(str(order_id), status="passed")
    shopify.cancel_order(SHOP, order_id)  # in the store only: no webhook is ever sent
    result = sweep(app, queue, drain)
    assert result["seen"] == 1 and result["enqueued"] == 1
    assert gelato.order(print_id)["fulfillmentStatus"] == "canceled"
    assert "print-cancelled" in shopify.order(SHOP, order_id)["tags"]


def test_too_late_change_with_no_webhook_is_noted(app, installed_shop, shopify, gelato, queue, drain):
    order_id = shopify.add_order(SHOP, note="Leave with neighbour")
    gelato.add_order(str(order_id), status="shipped")
    shopify.cancel_order(SHOP, order_id)
    sweep(app, queue, drain)
    note = shopify.order(SHOP, order_id)["note"]
    assert note.startswith("Leave with neighbour") and "(shipped)" in note
    assert "print-cancel-too-late" in shopify.order(SHOP, order_id)["tags"]


def test_address_change_with_no_webhook_is_read_by_the_job_and_noted(app, installed_shop, shopify, gelato, queue, drain):
    order_id, print_id, _ = seed(shopify, gelato, status="printed")
    shopify.set_order(SHOP, order_id, shipping_address={"address1": "9 New Road", "city": "Newtown"})
    result = sweep(app, queue, drain)
    assert result["enqueued"] == 1
    # The sweep listed ids and times only; the job read the address from the Admin API itself.
    [listing] = shopify.graphql_calls("orders")
    assert "shippingAddress" not in listing.json["query"]
    note = shopify.order(SHOP, order_id)["note"]
    assert "Newtown" in note and print_id in note
    assert "print-change-too-late" in shopify.order(SHOP, order_id)["tags"]


def test_orders_already_mirrored_cost_nothing_on_the_next_sweep(app, live_app, installed_shop, shopify, gelato, queue, drain):
    order_id = shopify.add_order(SHOP)
    gelato.add_order(str(order_id), status="passed")
    shopify.cancel_order(SHOP, order_id)
    # As in a store: the app's own tag write comes back as an orders/updated, which the door records.
    shopify.echo_order_updates(live_app.url + "/webhooks")
    shopify.send_webhook(live_app.url + "/webhooks", SHOP, "orders/updated", shopify.order_payload(SHOP, order_id))
    drain()
    assert [echo["status"] for echo in shopify.wait_for_deliveries(1)] == [200]
    searches = len(gelato.calls_matching("POST", r"orders:search"))
    result = sweep(app, queue, drain)
    assert result["seen"] == 1 and result["enqueued"] == 0  # the webhooks queued this update already
    assert len(gelato.calls_matching("POST", r"orders:search")) == searches


def test_sweep_state_survives_restarts_and_moves_forward(app, installed_shop, shopify, gelato, queue, drain):
    before = datetime.now(UTC)
    sweep(app, queue, drain)
    mark = last_reconciled(app)
    assert mark is not None and mark.replace(tzinfo=UTC) >= before - timedelta(seconds=1)
    # A later sweep (as after a restart: the mark is in the database) asks only for newer updates.
    sweep(app, queue, drain)
    query = shopify.graphql_calls("orders")[-1].variables["query"]
    assert query.startswith("updated_at:>'") and mark.strftime("%Y-%m-%d") in query


def test_sweep_is_bounded_and_resumes_where_it_stopped(app, installed_shop, shopify, gelato, queue, drain):
    app.config["RECONCILE_MAX_ORDERS"] = 2
    prints = []
    for _ in range(3):
        order_id = shopify.add_order(SHOP)
        prints.append(gelato.add_order(str(order_id), status="passed"))
        shopify.cancel_order(SHOP, order_id)
    first = sweep(app, queue, drain)
    assert first["seen"] == 2
    assert [gelato.order(p)["fulfillmentStatus"] for p in prints].count("canceled") == 2
    sweep(app, queue, drain)
    assert all(gelato.order(p)["fulfillmentStatus"] == "canceled" for p in prints)


def test_uninstalled_shop_is_not_swept(app, installed_shop, shopify, queue, drain):
    app.test_cli_runner().invoke(args=["shops", "remove", SHOP])
    assert sweep(app, queue, drain) == {"shop": SHOP, "skipped": "not installed"}
    assert shopify.graphql_calls("orders") == []


def test_worker_schedules_sweeps_by_itself(app, installed_shop, shopify, gelato, tmp_path):
    order_id = shopify.add_order(SHOP)
    print_id = gelato.add_order(str(order_id), status="passed")
    shopify.cancel_order(SHOP, order_id)
    env = process_env(app.config, RECONCILE_INTERVAL="2", WORKER_MAINTENANCE_INTERVAL="1")
    worker = start("worker", env, str(tmp_path / "worker.log"))
    try:
        assert wait_until(lambda: gelato.order(print_id)["fulfillmentStatus"] == "canceled", timeout=30), (
            tmp_path / "worker.log"
        ).read_text()
    finally:
        stop(worker)


def test_sweeps_come_every_interval_and_one_worker_wins(app, installed_shop, queue):
    from jobs.reconcile import schedule_if_due

    connection, config = app.extensions["redis"], dict(app.config, RECONCILE_INTERVAL=900)
    assert not schedule_if_due(connection, config, now=1_000)  # first sight: due one interval later
    assert not schedule_if_due(connection, config, now=1_899)
    assert schedule_if_due(connection, config, now=1_900)
    assert not schedule_if_due(connection, config, now=1_901)  # another worker, same interval
    assert schedule_if_due(connection, config, now=2_800)
    assert [job.func_name for job in queue.jobs] == ["jobs.reconcile.reconcile_all"] * 2
    assert not schedule_if_due(connection, dict(config, RECONCILE_INTERVAL=0), now=10_000)
