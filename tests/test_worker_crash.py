"""A worker killed with SIGKILL mid-job: the job runs again elsewhere and nothing happens twice."""

import os
import signal
import threading

from plugin.dev.procfile import process_env, start, stop, wait_until
from tests.conftest import SHOP, paragraphs_in

FAST_RECOVERY = {
    "JOB_HEARTBEAT_TTL": "2",
    "WORKER_MAINTENANCE_INTERVAL": "1",
    "ORDER_LOCK_SECONDS": "2",
    "RETRY_INTERVALS": "1,1,1",
}


def test_sigkill_mid_job_reruns_without_doing_anything_twice(app, live_app, installed_shop, shopify, gelato, queue, tmp_path):
    order_id = shopify.add_order(SHOP, note="Ring the bell")
    passed_id, shipped_id = gelato.add_split_order(str(order_id), statuses=["passed", "shipped"])
    cancel_arrived, release = threading.Event(), threading.Event()

    def hold_first_cancel(*_args, **_kwargs):
        # The worker is now inside its job, waiting on Gelato: the moment to kill it.
        cancel_arrived.set()
        release.wait(timeout=30)

    gelato.before("POST", r":cancel$", hold_first_cancel, times=1)
    env = process_env(app.config, **FAST_RECOVERY)
    first = start("worker", env, str(tmp_path / "first.log"))
    second = None
    try:
        shopify.cancel_order(SHOP, order_id)
        response = shopify.send_webhook(
            live_app.url + "/webhooks", SHOP, "orders/cancelled", shopify.order_payload(SHOP, order_id)
        )
        assert response.status_code == 200
        assert cancel_arrived.wait(timeout=30), (tmp_path / "first.log").read_text()
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        # Gelato finishes the cancel the dead worker had sent: the request did reach it.
        release.set()
        assert wait_until(lambda: gelato.order(passed_id)["fulfillmentStatus"] == "canceled", timeout=10)

        second = start("worker", env, str(tmp_path / "second.log"))
        noted = wait_until(lambda: paragraphs_in(shopify.order(SHOP, order_id)["note"]), timeout=60)
        assert noted, (tmp_path / "second.log").read_text()
        wait_until(lambda: queue.started_job_registry.count == 0 and queue.count == 0, timeout=10)
    finally:
        release.set()
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        if second is not None:
            stop(second)
    note = shopify.order(SHOP, order_id)["note"]
    assert note.startswith("Ring the bell")
    assert len(paragraphs_in(note)) == 1 and f"{shipped_id} (shipped)" in note
    assert len(gelato.calls_matching("POST", r":cancel$")) == 1  # the re-run saw it canceled
    assert len(shopify.graphql_calls("orderUpdate")) == 1
    assert queue.failed_job_registry.count == 0
