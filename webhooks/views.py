"""POST /webhooks: verify, route by topic, deduplicate and enqueue, then answer at once."""

from __future__ import annotations

import functools
import logging
import time

import redis
from flask import Blueprint, current_app, request
from sqlalchemy.exc import SQLAlchemyError

from jobs.queueing import job_options, make_queue
from plugin import metrics
from plugin.config import webhook_secrets
from plugin.logs import log_event
from plugin.services import get_services
from plugin.store import shops

from .delivery import Delivery, Rejection, parse_delivery
from .enqueue import EnqueueOutcome, InstalledCheck, Tally, enqueue_once
from .registry import Ignored
from .topics import registry

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__)

QUEUE_UNAVAILABLE = "queue unavailable, retry later"
# Rejections answered before the signature was checked: 401 (missing or bad signature, no secret
# configured) and 413 (a body too large to read). Nothing such a request claims is evidence.
UNVERIFIED_STATUSES = frozenset({401, 413})
# Claimed topics are logged for diagnosis only, and never at length.
_CLAIMED_TOPIC_LOG_LENGTH = 64
# Results the enqueue script counts itself, in its one round trip.
COUNTED_BY_ENQUEUE = frozenset(outcome.value for outcome in EnqueueOutcome)


@bp.post("/webhooks")
def receive():
    """Answer Shopify within milliseconds; 200 only once the job is durably in Redis."""
    started = time.perf_counter()
    try:
        delivery = parse_delivery(request.headers, _read_body(), webhook_secrets(current_app.config))
    except Rejection as rejection:
        _record_rejection(rejection)
        return _answer(rejection.status, rejection.reason)
    status, result, detail = _dispatch(delivery)
    if result not in COUNTED_BY_ENQUEUE and detail != QUEUE_UNAVAILABLE:
        # With Redis down the count would fail too, after another socket timeout: skip it.
        _count(delivery.topic, result)
    log_event(
        "webhook",
        result=result,
        status=status,
        topic=delivery.topic,
        shop=delivery.shop,
        webhook_id=delivery.webhook_id,
        event_id=delivery.event_id,
        order_id=_order_id_for_log(delivery.payload),
        detail=detail,
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
    )
    return _answer(status, detail or result)


def _dispatch(delivery: Delivery) -> tuple[int, str, str | None]:
    """Route one verified delivery; returns (HTTP status, result name, detail)."""
    route = registry.get(delivery.topic)
    if route is None:
        return 200, "ignored", f"topic {delivery.topic} not handled"
    services = get_services()
    try:
        action = route.handler(delivery)
        if isinstance(action, Ignored):
            return 200, "ignored", action.reason
        enqueue = functools.partial(
            enqueue_once,
            services.redis,
            make_queue(services.redis),
            delivery,
            action,
            dedupe_ttl=current_app.config["WEBHOOK_DEDUPE_TTL"],
            job_options=job_options(current_app.config),
            tally=Tally(metrics.METRICS_KEY, metrics.webhook_field_prefix(delivery.topic, registry.routes)),
        )
        outcome, detail = enqueue(installed=InstalledCheck.CHECK if route.requires_installed_shop else InstalledCheck.SKIP)
        if outcome is EnqueueOutcome.UNVERIFIED:
            # No fresh installed mark in Redis: ask the database once, then the mark spares the next deliveries.
            if not shops.is_installed(services.database, delivery.shop):
                # 200, not 4xx: retrying cannot install the shop, and failing deliveries make Shopify
                # retry for hours and eventually drop the subscription.
                return 200, "ignored", "shop not installed"
            outcome, detail = enqueue(installed=InstalledCheck.VERIFIED)
    except Rejection as rejection:
        return rejection.status, "rejected", rejection.reason
    except redis.RedisError as exc:
        log.error("webhook %s not queued, Redis unavailable: %s", delivery.webhook_id, type(exc).__name__)
        return 503, "unavailable", QUEUE_UNAVAILABLE
    except SQLAlchemyError as exc:
        log.error("webhook %s not queued, database unavailable: %s", delivery.webhook_id, type(exc).__name__)
        return 503, "unavailable", "database unavailable, retry later"
    if outcome is EnqueueOutcome.ENQUEUED:
        return 200, "enqueued", None
    return 200, outcome.value, detail


def _read_body() -> bytes:
    """The raw body, refused with 413 past WEBHOOK_MAX_BYTES without reading it all."""
    limit = current_app.config["WEBHOOK_MAX_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        raise Rejection(413, f"body larger than {limit} bytes")
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        raise Rejection(413, f"body larger than {limit} bytes")
    return body


def _record_rejection(rejection: Rejection) -> None:
    """Log and count a request refused before a Delivery existed; unverified ones name no topic."""
    claimed = request.headers.get("X-Shopify-Topic", "")[:_CLAIMED_TOPIC_LOG_LENGTH] or None
    if rejection.status in UNVERIFIED_STATUSES:
        # Anyone can send any X-Shopify-Topic: counting it under that topic would let unsigned
        # traffic pass for (or drown) the topic's real deliveries on a dashboard.
        log_event("webhook", result="rejected", status=rejection.status, reason=rejection.reason, claimed_topic=claimed)
        _count(metrics.UNVERIFIED, "rejected")
        return
    log_event("webhook", result="rejected", status=rejection.status, reason=rejection.reason, topic=claimed)
    _count(claimed, "rejected")


def _count(topic: str | None, result: str) -> None:
    """One HINCRBY for /metrics; unhandled or forged topics share the "other" label, unsigned requests "unverified"."""
    metrics.count_webhook(get_services().redis, topic or "", result, registry.routes)


def _answer(status: int, message: str):
    return {"status": status, "message": message}, status


def _order_id_for_log(payload: dict) -> str | None:
    value = payload.get("id")
    return str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else None
