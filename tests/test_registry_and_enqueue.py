"""Topic routing through the registry, and the atomic dedupe + enqueue on a real Redis."""

import threading
from dataclasses import dataclass

import pytest
import redis
from rq import Queue
from rq.job import Job

from jobs.failure import on_job_failure
from jobs.lanes import lane_key
from jobs.queueing import job_options, make_queue
from plugin.intake.delivery import Delivery
from plugin.intake.enqueue import (
    EnqueueOutcome,
    InstalledCheck,
    Tally,
    body_dedupe_key,
    dedupe_key,
    enqueue_once,
)
from plugin.intake.guards import FingerprintGuard
from plugin.intake.registry import GuardRule, Ignored, JobRequest, Route, TopicRegistry
from plugin.intake.topics import registry
from plugin.metrics import on_job_success
from plugin.store.installed_marks import INSTALLED_MARK_TTL, installed_key

# The least orders/cancelled payload the handler acts on: a cancelled order has cancelled_at set.
CANCELLED_ORDER = {"id": 820982911946154508, "cancelled_at": "2026-11-27T10:00:00-05:00"}
DIGEST = "9f" * 32


def delivery(webhook_id="wh-1", topic="orders/cancelled", payload=None):
    return Delivery(topic, "demo.myshopify.com", webhook_id, None, None, "2026-10", payload or dict(CANCELLED_ORDER))


def test_registry_routes_known_topics_only():
    assert registry.get("orders/cancelled").handler(delivery()).kwargs["order_id"] == "820982911946154508"
    assert registry.get("orders/cancelled").requires_installed_shop
    assert registry.get("products/update") is None
    assert "orders/cancelled" in registry.topics()


def test_registry_refuses_a_topic_twice():
    assert TopicRegistry.of(Route("a/b", lambda d: Ignored("x"))).topics() == ["a/b"]
    with pytest.raises(ValueError):
        TopicRegistry.of(Route("a/b", lambda d: Ignored("x")), Route("a/b", lambda d: Ignored("y")))


def test_concurrent_identical_deliveries_enqueue_exactly_one_job(app):
    connection = app.extensions["redis"]
    queue = make_queue(connection)
    request = JobRequest("jobs.cancellation.mirror_cancellation", {"shop": "demo.myshopify.com", "order_id": "1"})
    outcomes = []

    def deliver():
        outcomes.append(
            enqueue_once(connection, queue, delivery("race"), request, dedupe_ttl=60, job_options=job_options(app.config))[0]
        )

    threads = [threading.Thread(target=deliver) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count(EnqueueOutcome.ENQUEUED) == 1
    assert outcomes.count(EnqueueOutcome.DUPLICATE) == 15
    assert queue.count == 1


def test_guard_blocks_without_marking_delivery(app):
    connection = app.extensions["redis"]
    queue = make_queue(connection)
    guard = FingerprintGuard("demo.myshopify.com", "1", "same")
    connection.set(guard.key, "same")
    request = JobRequest("jobs.cancellation.mirror_cancellation", {"order_id": "1"}, guards=(guard,))
    outcome, reason = enqueue_once(connection, queue, delivery("g"), request, dedupe_ttl=60, job_options=job_options(app.config))
    assert (outcome, reason) == (EnqueueOutcome.GUARDED, "no print-relevant change")
    assert queue.count == 0
    assert not connection.exists("print-mirror:webhook:orders/cancelled:g")


def test_enqueued_job_is_the_job_rq_would_have_written(app):
    """The script replays RQ's own writes: the job reads back with its function, arguments and options."""
    connection = app.extensions["redis"]
    queue = make_queue(connection)
    request = JobRequest("jobs.cancellation.mirror_cancellation", {"shop": "demo.myshopify.com", "order_id": "7"})
    options = job_options(app.config)
    outcome, job_id = enqueue_once(connection, queue, delivery("rq"), request, dedupe_ttl=60, job_options=options)
    assert outcome is EnqueueOutcome.ENQUEUED
    assert queue.job_ids == [job_id]
    assert queue.name in [q.name for q in Queue.all(connection=connection)]
    job = Job.fetch(job_id, connection=connection)
    assert (job.func_name, job.kwargs) == (request.func, request.kwargs)
    assert job.get_status() == "queued" and job.description == "orders/cancelled demo.myshopify.com 7"
    assert (job.retries_left, job.retry_intervals) == (options["retry"].max, options["retry"].intervals)
    assert job.timeout == app.config["JOB_TIMEOUT"] and job.failure_ttl == options["failure_ttl"]
    assert (job.failure_callback, job.success_callback) == (on_job_failure, on_job_success)
    assert connection.get("print-mirror:webhook:orders/cancelled:rq").decode() == job_id


def test_installed_mark_missing_asks_the_caller_to_check_and_queues_nothing(app):
    connection = app.extensions["redis"]
    queue = make_queue(connection)
    request = JobRequest("jobs.cancellation.mirror_cancellation", {"order_id": "1"})
    options = dict(dedupe_ttl=60, job_options=job_options(app.config))
    assert enqueue_once(connection, queue, delivery("m"), request, installed=InstalledCheck.CHECK, **options) == (
        EnqueueOutcome.UNVERIFIED,
        None,
    )
    assert queue.count == 0 and not connection.exists("print-mirror:webhook:orders/cancelled:m")
    outcome, _ = enqueue_once(connection, queue, delivery("m"), request, installed=InstalledCheck.VERIFIED, **options)
    assert outcome is EnqueueOutcome.ENQUEUED and queue.count == 1
    assert 0 < connection.ttl(installed_key("demo.myshopify.com")) <= INSTALLED_MARK_TTL
    # The mark now stands: the next delivery needs no database read.
    outcome, _ = enqueue_once(connection, queue, delivery("m2"), request, installed=InstalledCheck.CHECK, **options)
    assert outcome is EnqueueOutcome.ENQUEUED and queue.count == 2


def test_each_outcome_is_counted_in_the_same_call(app):
    connection = app.extensions["redis"]
    queue = make_queue(connection)
    guard = FingerprintGuard("demo.myshopify.com", "5", "fp")
    request = JobRequest("jobs.cancellation.mirror_cancellation", {"order_id": "5"}, guards=(guard,))
    tally = Tally("print-mirror:test-tally", "webhooks|orders/cancelled|")
    options = dict(dedupe_ttl=60, job_options=job_options(app.config), tally=tally)
    enqueue_once(connection, queue, delivery("c1"), request, **options)
    enqueue_once(connection, queue, delivery("c1"), request, **options)
    enqueue_once(connection, queue, delivery("c2"), request, **options)
    counts = {k.decode(): int(v) for k, v in connection.hgetall(tally.key).items()}
    assert counts == {
        "webhooks|orders/cancelled|enqueued": 1,
        "webhooks|orders/cancelled|duplicate": 1,
        "webhooks|orders/cancelled|guarded": 1,
    }


def test_a_failing_write_leaves_no_marker_so_the_retry_enqueues(app):
    """The marker is written last: if a job write fails, Shopify's retry is not taken for a duplicate."""
    connection = app.extensions["redis"]
    queue = make_queue(connection)
    lane = lane_key(delivery("w").shop, queue.name)
    connection.set(lane, "not a list")  # RPUSH onto the store's lane fails with WRONGTYPE inside the script
    request = JobRequest("jobs.cancellation.mirror_cancellation", {"order_id": "9"})
    options = dict(dedupe_ttl=60, job_options=job_options(app.config))
    with pytest.raises(redis.ResponseError):
        enqueue_once(connection, queue, delivery("w"), request, **options)
    assert not connection.exists("print-mirror:webhook:orders/cancelled:w")
    connection.delete(lane)
    assert enqueue_once(connection, queue, delivery("w"), request, **options)[0] is EnqueueOutcome.ENQUEUED


def signed(webhook_id, topic="orders/cancelled", digest=DIGEST):
    """A delivery as parse_delivery builds it: with the digest of its signed body."""
    return Delivery(topic, "demo.myshopify.com", webhook_id, None, None, "2026-10", dict(CANCELLED_ORDER), digest)


def test_same_signed_body_under_a_fresh_webhook_id_is_a_duplicate(app):
    connection = app.extensions["redis"]
    queue = make_queue(connection)
    request = JobRequest("jobs.cancellation.mirror_cancellation", {"order_id": "1"})
    options = dict(dedupe_ttl=600, job_options=job_options(app.config))
    assert enqueue_once(connection, queue, signed("first"), request, **options)[0] is EnqueueOutcome.ENQUEUED
    assert enqueue_once(connection, queue, signed("replayed"), request, **options) == (EnqueueOutcome.DUPLICATE, None)
    assert queue.count == 1
    # Both markers name the first job and live as long; the body marker names the shop as its own segment.
    body_key = body_dedupe_key(signed("first"))
    assert body_key == f"print-mirror:webhook-body:demo.myshopify.com:orders/cancelled:{DIGEST}"
    assert connection.get(body_key) == connection.get(dedupe_key(signed("first")))
    assert 590 < connection.ttl(body_key) <= 600
    # Another topic or another body is another delivery.
    assert enqueue_once(connection, queue, signed("other-topic", topic="orders/updated"), request, **options)[0] is (
        EnqueueOutcome.ENQUEUED
    )
    assert enqueue_once(connection, queue, signed("other-body", digest="ab" * 32), request, **options)[0] is (
        EnqueueOutcome.ENQUEUED
    )
    assert queue.count == 3


def test_a_delivery_without_body_digest_is_deduplicated_by_webhook_id_only(app):
    """The reconciliation sweep builds deliveries without a body: its own ids decide, no body marker is written."""
    connection = app.extensions["redis"]
    queue = make_queue(connection)
    request = JobRequest("jobs.cancellation.mirror_cancellation", {"order_id": "1"})
    options = dict(dedupe_ttl=60, job_options=job_options(app.config))
    assert body_dedupe_key(delivery("s1")) is None
    assert enqueue_once(connection, queue, delivery("s1"), request, **options)[0] is EnqueueOutcome.ENQUEUED
    assert enqueue_once(connection, queue, delivery("s2"), request, **options)[0] is EnqueueOutcome.ENQUEUED
    assert enqueue_once(connection, queue, delivery("s2"), request, **options)[0] is EnqueueOutcome.DUPLICATE
    assert list(connection.scan_iter(match="print-mirror:webhook-body:*")) == []


def test_a_guarded_or_failed_delivery_leaves_no_body_marker(app):
    """Body markers are written last with the webhook-id marker: a refusal or a failure leaves neither."""
    connection = app.extensions["redis"]
    queue = make_queue(connection)
    options = dict(dedupe_ttl=60, job_options=job_options(app.config))
    guard = FingerprintGuard("demo.myshopify.com", "1", "same")
    connection.set(guard.key, "same")
    guarded = JobRequest("jobs.cancellation.mirror_cancellation", {"order_id": "1"}, guards=(guard,))
    assert enqueue_once(connection, queue, signed("g"), guarded, **options)[0] is EnqueueOutcome.GUARDED
    lane = lane_key(signed("w").shop, queue.name)
    connection.set(lane, "not a list")  # RPUSH onto the store's lane fails with WRONGTYPE inside the script
    request = JobRequest("jobs.cancellation.mirror_cancellation", {"order_id": "1"})
    with pytest.raises(redis.ResponseError):
        enqueue_once(connection, queue, signed("w"), request, **options)
    assert not connection.exists(body_dedupe_key(signed("w")))
    connection.delete(lane)
    assert enqueue_once(connection, queue, signed("w2"), request, **options)[0] is EnqueueOutcome.ENQUEUED


@dataclass(frozen=True)
class NewerGuard:
    """A guard with the NEWER rule, as the reconciliation sweep uses it."""

    value: str
    key: str = "print-mirror:test-newer:demo.myshopify.com:1"
    ttl: int = 60
    rule = GuardRule.NEWER

    def reason(self, stored: str) -> str:
        return f"not newer than {stored}"


@pytest.mark.parametrize(
    "stored, value, expected",
    [
        (None, "1000", EnqueueOutcome.ENQUEUED),
        ("1000", "1001", EnqueueOutcome.ENQUEUED),
        ("1000", "1000", EnqueueOutcome.GUARDED),  # equal: this very update was queued already
        ("1000", "999", EnqueueOutcome.GUARDED),
        ("1764237600000000", "1764237600000001", EnqueueOutcome.ENQUEUED),  # epoch microseconds: exact in Lua
        ("1764237600000001", "1764237600000001", EnqueueOutcome.GUARDED),
        ("not a number", "1", EnqueueOutcome.ENQUEUED),  # unreadable counts as unknown, as for not_older
    ],
)
def test_newer_rule_passes_only_a_strictly_newer_value(app, stored, value, expected):
    connection = app.extensions["redis"]
    queue = make_queue(connection)
    guard = NewerGuard(value)
    if stored is not None:
        connection.set(guard.key, stored)
    request = JobRequest("jobs.cancellation.mirror_cancellation", {"order_id": "1"}, guards=(guard,))
    outcome, detail = enqueue_once(connection, queue, delivery("n"), request, dedupe_ttl=60, job_options=job_options(app.config))
    assert outcome is expected
    if expected is EnqueueOutcome.GUARDED:
        assert detail == f"not newer than {stored}" and queue.count == 0
        assert connection.get(guard.key).decode() == stored
    else:
        assert queue.count == 1 and connection.get(guard.key).decode() == value
        assert 0 < connection.ttl(guard.key) <= 60
