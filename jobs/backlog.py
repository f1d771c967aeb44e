"""What is still waiting to be done: one shop's queued, retrying and running jobs, and the oldest waiting job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from rq.job import Job

from .queueing import make_queues

# The admin page counts among at most this many jobs per place (newest first): enough to show a store
# its own backlog during a burst without one page view reading every job of every store.
SCAN_LIMIT = 1000


@dataclass(frozen=True)
class Backlog:
    """A shop's jobs not yet done, by where RQ holds them; `complete` is False when a place held more than the scan."""

    queued: int
    retrying: int
    running: int
    oldest_queued_at: datetime | None
    complete: bool


def shop_backlog(connection: redis.Redis, shop: str, scan_limit: int = SCAN_LIMIT) -> Backlog:
    """The shop's queued, retry-scheduled and running jobs over every queue (each place scanned up to scan_limit)."""
    counts = {"queued": 0, "retrying": 0, "running": 0}
    stamps: list[datetime] = []
    complete = True
    for queue in make_queues(connection):
        places = {
            "queued": (queue.count, lambda q=queue: q.get_job_ids(max(q.count - scan_limit, 0))),
            "retrying": (
                queue.scheduled_job_registry.get_job_count(cleanup=False),
                lambda q=queue: q.scheduled_job_registry.get_job_ids(cleanup=False)[-scan_limit:],
            ),
            "running": (
                queue.started_job_registry.get_job_count(cleanup=False),
                lambda q=queue: q.started_job_registry.get_job_ids(cleanup=False)[-scan_limit:],
            ),
        }
        for place, (total, list_ids) in places.items():
            complete = complete and total <= scan_limit
            jobs = [job for job in Job.fetch_many(list_ids(), connection=connection) if job is not None]
            mine = [job for job in jobs if isinstance(job.kwargs, dict) and job.kwargs.get("shop") == shop]
            counts[place] += len(mine)
            if place == "queued":
                stamps.extend(job.enqueued_at.replace(tzinfo=UTC) for job in mine if job.enqueued_at is not None)
    oldest = min(stamps) if stamps else None
    return Backlog(counts["queued"], counts["retrying"], counts["running"], oldest, complete)


def queue_waits(connection: redis.Redis, now: datetime | None = None) -> dict[str, tuple[int, float]]:
    """Per queue (most urgent first): jobs waiting, and seconds the longest-waiting one has waited (0: none)."""
    now = now or datetime.now(UTC)
    waits = {}
    for queue in make_queues(connection):
        ages = [0.0]
        # Each store's lane is in turn order, not age order: the oldest is the head of one of them.
        for job in Job.fetch_many(queue.head_job_ids(), connection=connection):
            if job is not None and job.enqueued_at is not None:
                ages.append((now - job.enqueued_at.replace(tzinfo=UTC)).total_seconds())
        waits[queue.name] = (queue.count, max(ages))
    return waits
