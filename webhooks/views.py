"""POST /webhooks: read and verify the delivery, hand it to the door (plugin.intake.door), answer at once."""

from __future__ import annotations

import time

from flask import Blueprint, current_app, request
from werkzeug.exceptions import ClientDisconnected

from plugin import metrics
from plugin.config import webhook_secrets
from plugin.intake.delivery import Rejection, parse_delivery
from plugin.intake.door import admit
from plugin.intake.enqueue import Tally
from plugin.intake.topics import registry
from plugin.logs import log_event
from plugin.services import get_services

bp = Blueprint("webhooks", __name__)

# Rejections answered before the signature was checked: 401 (missing or bad signature, no secret
# configured), 408 (a body that never arrived) and 413 (a body too large to read). Nothing such a
# request claims is evidence.
UNVERIFIED_STATUSES = frozenset({401, 408, 413})
# Claimed topics are logged for diagnosis only, and never at length.
_CLAIMED_TOPIC_LOG_LENGTH = 64


@bp.post("/webhooks")
def receive():
    """Answer Shopify within milliseconds; 200 only once the job is durably in Redis."""
    started = time.perf_counter()
    try:
        delivery = parse_delivery(request.headers, _read_body(), webhook_secrets(current_app.config))
    except Rejection as rejection:
        _record_rejection(rejection)
        return _answer(rejection.status, rejection.reason)
    tally = Tally(metrics.METRICS_KEY, metrics.webhook_field_prefix(delivery.topic, registry.routes))
    answer = admit(get_services(), delivery, registry, tally)
    status, result, detail = answer.status, answer.result, answer.detail
    if not answer.counted:
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


def _read_body() -> bytes:
    """The raw body, refused with 413 past WEBHOOK_MAX_BYTES without reading it all."""
    limit = current_app.config["WEBHOOK_MAX_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        raise Rejection(413, f"body larger than {limit} bytes")
    try:
        body = request.stream.read(limit + 1)
    except (OSError, ClientDisconnected) as exc:
        # A client that stalled past the web process's read timeout (gunicorn.conf.py) or went away:
        # one quiet line, not a traceback per dropped connection.
        raise Rejection(408, "request body not received in time") from exc
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
