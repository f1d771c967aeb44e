"""Jobs that failed for good (RQ's failed-job registry), read back for the CLI and the admin page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from rq.job import Job
from rq.registry import FailedJobRegistry

from plugin.logs import redact

from .queueing import make_queues

# The admin page looks at this many of the newest failed jobs at most (of every shop), so a long
# outage cannot make one status view read thousands of jobs.
SCAN_LIMIT = 500


@dataclass(frozen=True)
class FailedJob:
    """One failed job: what it was for and the last line of its error (secrets redacted)."""

    id: str
    job: str
    shop: str | None
    order_id: str | None
    ended_at: datetime | None
    error: str


def failed_registries(connection: redis.Redis) -> list[FailedJobRegistry]:
    """The failed-job registry of each of the app's queues."""
    return [FailedJobRegistry(queue=queue) for queue in make_queues(connection)]


def requeue_failed(connection: redis.Redis, job_id: str) -> bool:
    """Put a failed job back on its own queue; False when no registry holds it."""
    for registry in failed_registries(connection):
        if job_id in registry:
            registry.requeue(job_id)
            return True
    return False


def failed_job_ids(connection: redis.Redis) -> list[str]:
    """Every failed job's id, over all queues."""
    return [job_id for registry in failed_registries(connection) for job_id in registry.get_job_ids()]


def failed_jobs(connection: redis.Redis, *, shop: str | None = None, scan_limit: int | None = None) -> list[FailedJob]:
    """Failed jobs still in the registries, oldest first; only the shop's when shop is given."""
    ids: list[str] = []
    for registry in failed_registries(connection):
        listed = registry.get_job_ids()
        ids.extend(listed if scan_limit is None else listed[-scan_limit:])
    found = []
    for job in Job.fetch_many(ids, connection=connection):
        if job is None:  # expired between listing and fetching
            continue
        kwargs = job.kwargs or {}
        if shop is not None and kwargs.get("shop") != shop:
            continue
        ended = job.ended_at.replace(tzinfo=job.ended_at.tzinfo or UTC) if job.ended_at else None
        order_id = kwargs.get("order_id")
        found.append(
            FailedJob(
                id=job.id,
                job=(job.func_name or "-").rsplit(".", 1)[-1],
                shop=str(kwargs["shop"]) if kwargs.get("shop") else None,
                order_id=str(order_id) if order_id else None,
                ended_at=ended,
                error=_error_line(job),
            )
        )
    # Oldest first over every queue (a registry lists its own in the order they failed).
    return sorted(found, key=lambda job: job.ended_at or datetime.min.replace(tzinfo=UTC))


def _error_line(job: Job) -> str:
    """The last line of the job's traceback (exception type and message), secrets redacted."""
    result = job.latest_result()
    text = (result.exc_string if result is not None else None) or ""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return redact(lines[-1][:160]) if lines else "-"
