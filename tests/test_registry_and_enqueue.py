"""Topic routing through the registry, and the atomic dedupe + enqueue on a real Redis."""

import threading

import pytest
import redis
from rq import Queue
from rq.job import Job

from jobs.failure import on_job_failure
from plugin.installed_marks import INSTALLED_MARK_TTL, installed_key
from plugin.metrics import on_job_success
from plugin.queueing import job_options, make_queue
from webhooks.delivery import Delivery
from webhooks.enqueue import EnqueueOutcome, InstalledCheck, Tally, enqueue_once
from webhooks.order_guards import FingerprintGuard
from webhooks.registry import Ignored, JobRequest, TopicRegistry
from webhooks.topics import registry


def delivery(webhook_id="wh-1", topic="orders/cancelled", payload=None):
    return Delivery(topic, "demo.myshopify.com", webhook_id, None, None, "2026-10", payload or {"id": 820982911946154508})


def test_registry_routes_known_topics_only():
    assert registry.get("orders/cancelled").handler(delivery()).kwargs["order_id"] == "820982911946154508"
    assert registry.get("orders/cancelled").requires_installed_shop
    assert registry.get("products/update") is None
    assert "orders/cancelled" in registry.topics()


def test_registry_refuses_a_topic_twice():
    local = TopicRegistry()
    local.route("a/b")(lambda d: Ignored("x"))
    with pytest.raises(ValueError):
        local.route("a/b")(lambda d: Ignored("y"))


def test_concurrent_identical_deliveries_enqueue_exactly_one_job(app):
    connection = app.extensions["redis"]
    queue = make_queue(connection)
    request = JobRequest("jobs.cancellation.mirror_cancellation", {"shop": "demo.myshopify.com", "order_id": "1"})
    outcomes = []

    def deliver():
        outcomes.append(enqueue_once(connection, queue, delivery("race"), request, dedupe_ttl=60, job_options=job_options(app.config))[0])

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
        EnqueueOutcome.UNVERIFIED, None)
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
    assert counts == {"webhooks|orders/cancelled|enqueued": 1, "webhooks|orders/cancelled|duplicate": 1,
                      "webhooks|orders/cancelled|guarded": 1}


def test_a_failing_write_leaves_no_marker_so_the_retry_enqueues(app):
    """The marker is written last: if a job write fails, Shopify's retry is not taken for a duplicate."""
    connection = app.extensions["redis"]
    queue = make_queue(connection)
    connection.set(queue.key, "not a list")  # RPUSH onto it fails with WRONGTYPE inside the script
    request = JobRequest("jobs.cancellation.mirror_cancellation", {"order_id": "9"})
    options = dict(dedupe_ttl=60, job_options=job_options(app.config))
    with pytest.raises(redis.ResponseError):
        enqueue_once(connection, queue, delivery("w"), request, **options)
    assert not connection.exists("print-mirror:webhook:orders/cancelled:w")
    connection.delete(queue.key)
    assert enqueue_once(connection, queue, delivery("w"), request, **options)[0] is EnqueueOutcome.ENQUEUED
