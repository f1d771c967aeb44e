"""The RQ queues the web process fills and the worker drains, most urgent first, and the options every job gets."""

from __future__ import annotations

import redis
from rq import Callback, Queue

from jobs.lanes import LaneQueue, enqueue_in_lane
from jobs.retry_policy import retry_for

# Cancellations: every second between the store event and the provider call decides whether a print is saved.
URGENT_QUEUE = "print-mirror-urgent"
# Order changes, lifecycle and privacy jobs.
QUEUE_NAME = "print-mirror"
# Reconciliation sweeps: catch-up work, never ahead of a live event.
SWEEP_QUEUE = "print-mirror-sweep"
# The order a worker takes work in: RQ dequeues from the first of its queues that has a job ready.
QUEUE_NAMES = (URGENT_QUEUE, QUEUE_NAME, SWEEP_QUEUE)
_QUEUE_OF_JOB = {
    "jobs.cancellation.mirror_cancellation": URGENT_QUEUE,
    "jobs.reconcile.reconcile_all": SWEEP_QUEUE,
    "jobs.reconcile.reconcile_shop": SWEEP_QUEUE,
}
RESULT_TTL = 24 * 3600
# Failed jobs stay a week so an operator can inspect and requeue them.
FAILURE_TTL = 7 * 24 * 3600
FAILURE_CALLBACK = "jobs.failure.on_job_failure"
# Counts successful runs for /metrics (failures are counted by the failure callback).
SUCCESS_CALLBACK = "plugin.metrics.on_job_success"


def make_queue(connection: redis.Redis, name: str = QUEUE_NAME) -> Queue:
    """One of the app's queues on connection (by default the one for changes), its stores' lanes included."""
    return LaneQueue(name, connection=connection)


def make_queues(connection: redis.Redis) -> list[Queue]:
    """Every queue of the app, most urgent first."""
    return [LaneQueue(name, connection=connection) for name in QUEUE_NAMES]


def queue_name_for(func: str) -> str:
    """The queue a job of this function belongs on, by how urgent its work is."""
    return _QUEUE_OF_JOB.get(func, QUEUE_NAME)


def queue_for(connection: redis.Redis, func: str) -> Queue:
    """The queue for a job of this function."""
    return LaneQueue(queue_name_for(func), connection=connection)


def enqueue_for_shop(connection: redis.Redis, shop: str, func: str, config, **options):
    """Enqueue a job of a store on its queue, in the store's lane, with every job's options."""
    return enqueue_in_lane(queue_for(connection, func), shop, func, **job_options(config), **options)


def job_options(config) -> dict:
    """enqueue_call options shared by every job: retries, timeout, result lifetimes, outcome callbacks."""
    return {
        "retry": retry_for(config),
        "timeout": config["JOB_TIMEOUT"],
        "result_ttl": RESULT_TTL,
        "failure_ttl": FAILURE_TTL,
        "on_failure": Callback(FAILURE_CALLBACK),
        "on_success": Callback(SUCCESS_CALLBACK),
    }
