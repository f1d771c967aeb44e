"""A worker takes the most urgent work that is ready: cancellations before order changes, both before sweeps."""

from __future__ import annotations

from rq.job import Job

from jobs.queueing import QUEUE_NAME, SWEEP_QUEUE, URGENT_QUEUE, job_options, queue_name_for
from tests.conftest import SHOP


def test_each_job_goes_to_the_queue_of_its_urgency():
    assert queue_name_for("jobs.cancellation.mirror_cancellation") == URGENT_QUEUE
    assert queue_name_for("jobs.updates.mirror_update") == QUEUE_NAME
    assert queue_name_for("jobs.uninstall.forget_uninstalled_shop") == QUEUE_NAME
    assert queue_name_for("jobs.reconcile.reconcile_shop") == SWEEP_QUEUE
    assert queue_name_for("jobs.reconcile.reconcile_all") == SWEEP_QUEUE


def test_a_cancellation_queued_last_runs_first(app, live_app, installed_shop, shopify, gelato, queue, drain):
    app.config["RECONCILE_INTERVAL"] = 900
    # A sweep and three order changes are waiting when the cancellation arrives.
    queue.enqueue_call("jobs.reconcile.reconcile_shop", kwargs={"shop": SHOP}, **job_options(app.config))
    changed = []
    for _ in range(3):
        order_id = shopify.add_order(SHOP)
        gelato.add_order(str(order_id), status="passed")
        response = shopify.send_webhook(live_app.url + "/webhooks", SHOP, "orders/updated", shopify.order_payload(SHOP, order_id))
        assert response.json()["message"] == "enqueued", response.text
        changed.append(str(order_id))
    cancelled = shopify.add_order(SHOP)
    gelato.add_order(str(cancelled), status="passed")
    shopify.cancel_order(SHOP, cancelled)
    response = shopify.send_webhook(live_app.url + "/webhooks", SHOP, "orders/cancelled", shopify.order_payload(SHOP, cancelled))
    assert response.json()["message"] == "enqueued"
    assert [q.count for q in queue.queues] == [1, 3, 1]  # urgent, changes, sweeps

    drain()

    finished = [Job.fetch(job_id, connection=queue.connection) for job_id in queue.finished_job_registry.get_job_ids()]
    ran = [job.func_name.rsplit(".", 1)[-1] for job in sorted(finished, key=lambda job: job.started_at)]
    assert ran[0] == "mirror_cancellation"
    assert ran[1:4] == ["mirror_update"] * 3
    # The cancellation's note job waits on the changes queue behind the updates queued before it.
    assert ran[4:6] == ["tell_cancellation", "reconcile_shop"]
    assert [job.kwargs["order_id"] for job in sorted(finished, key=lambda job: job.started_at)[1:4]] == changed
