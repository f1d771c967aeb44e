"""The door: one verified delivery in, one answer out — route by topic, guards, dedupe, enqueue.

The HTTP view (webhooks/) and the reconciliation sweep (jobs/reconcile) both come through here, so
a sweep's order is deduplicated, guarded and queued exactly as a webhook's would be.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import redis
from sqlalchemy.exc import SQLAlchemyError

from jobs.queueing import job_options, queue_for
from plugin.errors import InvalidOrder
from plugin.intake.delivery import Delivery, Rejection
from plugin.intake.enqueue import EnqueueOutcome, InstalledCheck, Tally, enqueue_once
from plugin.intake.registry import Ignored, TopicRegistry
from plugin.store import shops

log = logging.getLogger(__name__)

QUEUE_UNAVAILABLE = "queue unavailable, retry later"
# Results the enqueue script counts itself, in its one round trip.
COUNTED_BY_ENQUEUE = frozenset(outcome.value for outcome in EnqueueOutcome)


@dataclass(frozen=True)
class Answer:
    """What the door did with a delivery: the HTTP status, the result (a metric label) and a detail."""

    status: int
    result: str
    detail: str | None = None

    @property
    def counted(self) -> bool:
        """True when the result was already counted (by the enqueue script) or cannot be (Redis down)."""
        return self.result in COUNTED_BY_ENQUEUE or self.detail == QUEUE_UNAVAILABLE


def admit(services, delivery: Delivery, registry: TopicRegistry, tally: Tally | None = None) -> Answer:
    """Route one verified delivery and queue its job unless it is a duplicate, guarded or not needed."""
    route = registry.get(delivery.topic)
    if route is None:
        return Answer(200, "ignored", f"topic {delivery.topic} not handled")
    try:
        action = route.handler(delivery)
        if isinstance(action, Ignored):
            return Answer(200, "ignored", action.reason)
        enqueue = functools.partial(
            enqueue_once,
            services.redis,
            queue_for(services.redis, action.func),
            delivery,
            action,
            dedupe_ttl=services.config["WEBHOOK_DEDUPE_TTL"],
            job_options=job_options(services.config),
            tally=tally,
        )
        outcome, detail = enqueue(installed=InstalledCheck.CHECK if route.requires_installed_shop else InstalledCheck.SKIP)
        if outcome is EnqueueOutcome.UNVERIFIED:
            # No fresh installed mark in Redis: ask the database once, then the mark spares the next deliveries.
            if not shops.is_installed(services.database, delivery.shop):
                # 200, not 4xx: retrying cannot install the shop, and failing deliveries make Shopify
                # retry for hours and eventually drop the subscription.
                return Answer(200, "ignored", "shop not installed")
            outcome, detail = enqueue(installed=InstalledCheck.VERIFIED)
    except InvalidOrder as exc:
        return Answer(400, "rejected", str(exc))
    except Rejection as rejection:
        return Answer(rejection.status, "rejected", rejection.reason)
    except redis.RedisError as exc:
        log.error("delivery %s not queued, Redis unavailable: %s", delivery.webhook_id, type(exc).__name__)
        return Answer(503, "unavailable", QUEUE_UNAVAILABLE)
    except SQLAlchemyError as exc:
        log.error("delivery %s not queued, database unavailable: %s", delivery.webhook_id, type(exc).__name__)
        return Answer(503, "unavailable", "database unavailable, retry later")
    if outcome is EnqueueOutcome.ENQUEUED:
        return Answer(200, "enqueued")
    return Answer(200, outcome.value, detail)
