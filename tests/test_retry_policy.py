"""Retries: backoff with jitter, Retry-After honoured, and the store order told when retries run out."""

import random
from datetime import UTC, datetime

from rq.registry import ScheduledJobRegistry

from jobs.queueing import queue_for
from jobs.retry_policy import backoff_intervals, retry_for, stretch_next_interval
from tests.conftest import SHOP, paragraphs_in


def test_backoff_starts_in_seconds_doubles_and_caps():
    intervals = backoff_intervals(rng=random.Random(7))
    assert len(intervals) == 10
    assert 1 <= intervals[0] <= 2 and 2 <= intervals[1] <= 4 and 4 <= intervals[2] <= 8
    assert 256 <= intervals[-2] <= 512 and 300 <= intervals[-1] <= 600
    assert sum(intervals) < 45 * 60  # given up well inside an hour: the print window is minutes


def test_jitter_spreads_a_burst_of_jobs():
    schedules = {tuple(backoff_intervals(rng=random.Random(seed))) for seed in range(20)}
    assert len(schedules) > 15


def test_pinned_intervals_are_used_exactly():
    assert retry_for({"RETRY_INTERVALS": "0,3"}).intervals == [0, 3]
    assert len(retry_for({"RETRY_INTERVALS": ""}).intervals) == 10


class _Job:
    def __init__(self, intervals, retries_left):
        self.retry_intervals, self.retries_left = intervals, retries_left


def test_stretch_next_interval_only_grows_the_next_wait():
    job = _Job([1, 2, 4], retries_left=2)  # one retry done: the next uses index 1
    stretch_next_interval(job, 9.2)
    assert job.retry_intervals == [1, 10, 4]
    stretch_next_interval(job, 3)
    assert job.retry_intervals == [1, 10, 4]


def test_retry_after_from_gelato_delays_the_next_attempt(app, live_app, installed_shop, shopify, gelato, drain, queue):
    app.config["RETRY_INTERVALS"] = "1,1"
    order_id = shopify.add_order(SHOP)
    gelato.add_order(str(order_id), status="passed")
    gelato.fail_next("POST", r"orders:search", 429, times=1, headers={"Retry-After": "30"})
    shopify.cancel_order(SHOP, order_id)
    before = datetime.now(UTC).timestamp()
    shopify.send_webhook(live_app.url + "/webhooks", SHOP, "orders/cancelled", shopify.order_payload(SHOP, order_id))
    drain()  # no scheduler here: the retry waits in the scheduled registry
    registry = ScheduledJobRegistry(queue=queue_for(queue.connection, "jobs.cancellation.mirror_cancellation"))
    [job_id] = registry.get_job_ids()
    scheduled_for = registry.get_scheduled_time(job_id).timestamp()
    assert scheduled_for - before >= 29  # not the pinned 1 s: Gelato asked for 30


def test_last_retry_failing_tags_and_explains_then_requeue_success_says_so(
    app, live_app, installed_shop, shopify, gelato, drain, queue
):
    order_id = shopify.add_order(SHOP, note="Gift for Sam")
    print_id = gelato.add_order(str(order_id), status="passed")
    gelato.fail_next("POST", r"orders:search", 503, times=4)  # the first run and all 3 retries
    shopify.cancel_order(SHOP, order_id)
    shopify.send_webhook(live_app.url + "/webhooks", SHOP, "orders/cancelled", shopify.order_payload(SHOP, order_id))
    drain()
    assert queue.failed_job_registry.count == 1
    order = shopify.order(SHOP, order_id)
    assert "print-mirror-failed" in order["tags"]
    assert order["note"].startswith("Gift for Sam")
    assert "could not cancel this order's print orders at Gelato after 4 attempts" in order["note"]
    assert f"search for order reference {order_id}" in order["note"] and "HTTP 503" in order["note"]
    assert gelato.order(print_id)["fulfillmentStatus"] == "passed"

    [job_id] = queue.failed_job_registry.get_job_ids()
    result = app.test_cli_runner().invoke(args=["jobs", "failed", "--requeue", job_id])
    assert result.exit_code == 0, result.output
    drain()
    assert gelato.order(print_id)["fulfillmentStatus"] == "canceled"
    order = shopify.order(SHOP, order_id)
    assert "print-mirror-failed" not in order["tags"] and "print-cancelled" in order["tags"]
    assert "a later attempt reached Gelato and finished" in order["note"] and f"{print_id}: cancelled" in order["note"]
    assert len(paragraphs_in(order["note"])) == 2
    # Nothing more to say on a later, unrelated success.
    shopify.send_webhook(live_app.url + "/webhooks", SHOP, "orders/cancelled", shopify.order_payload(SHOP, order_id))
    drain()
    assert len(paragraphs_in(shopify.order(SHOP, order_id)["note"])) == 2


def test_permanent_failure_of_a_mirror_job_is_told_at_once(app, live_app, installed_shop, shopify, gelato, drain, queue):
    order_id = shopify.add_order(SHOP)
    gelato.add_order(str(order_id), status="passed")
    gelato.fail_next("POST", r"orders:search", 400, times=1, body={"message": "invalid filter"})
    shopify.cancel_order(SHOP, order_id)
    shopify.send_webhook(live_app.url + "/webhooks", SHOP, "orders/cancelled", shopify.order_payload(SHOP, order_id))
    drain()
    assert len(gelato.calls_matching("POST", r"orders:search")) == 1  # no retry of a refused request
    order = shopify.order(SHOP, order_id)
    assert "print-mirror-failed" in order["tags"] and "after 1 attempt (last error" in order["note"]
