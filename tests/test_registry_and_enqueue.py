"""Topic routing through the registry, and the atomic dedupe + enqueue on a real Redis."""

import threading

import pytest

from plugin.queueing import job_options, make_queue
from webhooks.delivery import Delivery
from webhooks.enqueue import EnqueueOutcome, enqueue_once
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


class _AlwaysSeen:
    """A guard that blocks: used to show a guarded delivery leaves no marker and no job."""

    keys = ("print-mirror:test-guard",)

    def blocks(self, values):
        return "unchanged"

    def record(self, pipe):  # pragma: no cover - never reached when blocking
        raise AssertionError


def test_guard_blocks_without_marking_delivery(app):
    connection = app.extensions["redis"]
    queue = make_queue(connection)
    request = JobRequest("jobs.cancellation.mirror_cancellation", {"order_id": "1"}, guards=(_AlwaysSeen(),))
    outcome, reason = enqueue_once(connection, queue, delivery("g"), request, dedupe_ttl=60, job_options=job_options(app.config))
    assert (outcome, reason) == (EnqueueOutcome.GUARDED, "unchanged")
    assert queue.count == 0
    assert not connection.exists("print-mirror:webhook:orders/cancelled:g")
