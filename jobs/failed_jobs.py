"""Jobs that failed for good (RQ's failed-job registry), read back for the CLI and the admin page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from rq.job import Job
from rq.registry import FailedJobRegistry

from plugin.logs import redact

from .queueing import make_queue

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


def failed_registry(connection: redis.Redis) -> FailedJobRegistry:
    """The failed-job registry of the app's queue."""
    return FailedJobRegistry(queue=make_queue(connection))


def failed_jobs(connection: redis.Redis, *, shop: str | None = None, scan_limit: int | None = None) -> list[FailedJob]:
    """Failed jobs still in the registry, oldest first; only the shop's when shop is given."""
    registry = failed_registry(connection)
    ids = registry.get_job_ids()
    if scan_limit is not None:
        ids = ids[-scan_limit:]
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
    return found


def _error_line(job: Job) -> str:
    """The last line of the job's traceback (exception type and message), secrets redacted."""
    result = job.latest_result()
    text = (result.exc_string if result is not None else None) or ""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return redact(lines[-1][:160]) if lines else "-"
