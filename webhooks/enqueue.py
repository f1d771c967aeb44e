"""Deduplicate a delivery and enqueue its job in one Redis transaction."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable

import redis
from redis.client import Pipeline
from rq import Queue

from .delivery import Delivery
from .registry import JobRequest

DEDUPE_KEY_PREFIX = "print-mirror:webhook:"
# Concurrent deliveries touching the same keys make EXEC fail; a handful of rounds always settles it.
MAX_TRANSACTION_ROUNDS = 10


class EnqueueOutcome(enum.Enum):
    """What happened to a delivery at the queue."""

    ENQUEUED = "enqueued"
    DUPLICATE = "duplicate"
    GUARDED = "guarded"  # a guard (e.g. unchanged fingerprint) said no job is needed


def dedupe_key(delivery: Delivery) -> str:
    """The Redis key remembering (topic, webhook id)."""
    return f"{DEDUPE_KEY_PREFIX}{delivery.topic}:{delivery.webhook_id}"


def enqueue_once(
    connection: redis.Redis,
    queue: Queue,
    delivery: Delivery,
    request: JobRequest,
    *,
    dedupe_ttl: int,
    job_options: dict,
    also_on_enqueue: Callable[[Pipeline], None] | None = None,
) -> tuple[EnqueueOutcome, str | None]:
    """Enqueue request unless this delivery was seen before; the marker and the job land together.

    also_on_enqueue adds writes to the same transaction (e.g. a metric), saving a round trip.
    Returns the outcome and the job id (or the guard's reason). Redis errors propagate: the
    caller answers 503 so Shopify delivers again; nothing was acknowledged, nothing is lost.
    """
    key = dedupe_key(delivery)
    watched = (key, *[k for guard in request.guards for k in guard.keys])
    with connection.pipeline(transaction=True) as pipe:
        for _ in range(MAX_TRANSACTION_ROUNDS):
            try:
                pipe.watch(*watched)
                # One round trip reads the marker and every guard's keys; guards read from it.
                values = _Prefetched(zip(watched, pipe.mget(watched)))
                if values.get(key) is not None:
                    return EnqueueOutcome.DUPLICATE, None
                passed = []
                for guard in request.guards:
                    reason = guard.blocks(values)
                    if reason:
                        _record(pipe, passed)
                        return EnqueueOutcome.GUARDED, reason
                    passed.append(guard)
                job_id = str(uuid.uuid4())
                pipe.multi()
                pipe.set(key, job_id, ex=dedupe_ttl)
                for guard in request.guards:
                    guard.record(pipe)
                queue.enqueue_call(
                    request.func,
                    kwargs=request.kwargs,
                    job_id=job_id,
                    pipeline=pipe,
                    description=f"{delivery.topic} {delivery.shop} {request.kwargs.get('order_id', '')}".strip(),
                    **job_options,
                )
                if also_on_enqueue is not None:
                    also_on_enqueue(pipe)
                pipe.execute()
                return EnqueueOutcome.ENQUEUED, job_id
            except redis.WatchError:
                continue
            finally:
                pipe.reset()
    # Keys kept changing under us: let Shopify deliver again rather than guess.
    raise redis.WatchError(f"could not settle the enqueue transaction for {key}")


def _record(pipe, guards: list) -> None:
    """Let the guards that passed remember this delivery even though a later guard blocked it.

    E.g. a newer update that changed nothing print-relevant still moves "newest seen" forward,
    so an older, crossed delivery of an intermediate state arriving after it is refused as stale.
    """
    if not guards:
        return
    pipe.multi()
    for guard in guards:
        guard.record(pipe)
    pipe.execute()


class _Prefetched(dict):
    """The watched keys' values, read once; guards call .get(key) on it as they would on Redis."""

    def get(self, key, default=None):
        if key not in self:
            raise KeyError(f"{key} was not declared in the guard's keys, so it is not watched")
        return super().get(key, default)
