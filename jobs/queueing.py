"""The RQ queue the web process fills and the worker drains, and the options every job gets."""

from __future__ import annotations

import redis
from rq import Callback, Queue

from jobs.retry_policy import retry_for

QUEUE_NAME = "print-mirror"
RESULT_TTL = 24 * 3600
# Failed jobs stay a week so an operator can inspect and requeue them.
FAILURE_TTL = 7 * 24 * 3600
FAILURE_CALLBACK = "jobs.failure.on_job_failure"
# Counts successful runs for /metrics (failures are counted by the failure callback).
SUCCESS_CALLBACK = "plugin.metrics.on_job_success"


def make_queue(connection: redis.Redis) -> Queue:
    """The app's queue on connection."""
    return Queue(QUEUE_NAME, connection=connection)


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
