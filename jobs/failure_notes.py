"""Tell the merchant on the store order when mirroring failed for good, and again when it recovered."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from rq.exceptions import AbandonedJobError

from plugin.errors import (
    AdminForbidden,
    AdminUnauthorized,
    InvalidPayload,
    MirrorError,
    ReauthorizationRequired,
    ShopNotInstalled,
)
from plugin.logs import log_event
from plugin.shopify.admin_api import MAX_INLINE_THROTTLE_WAIT
from plugin.shopify.shop_domain import is_valid_shop_domain

from . import paragraphs
from .ledger import STORE_ORDER, OrderLedger
from .locks import order_lock
from .store_report import add_tag_once, remove_tag, write_paragraph_once

TAG_MIRROR_FAILED = "print-mirror-failed"
FAILED_PREFIX = "mirror-failed:"
# The failure entry of an order that found no provider account: once per order, resolved like any failure.
NO_ACCOUNT_KEY = FAILED_PREFIX + "no-provider-account"
RECOVERED_PREFIX = "mirror-recovered:"
# The jobs whose failure leaves print orders unmirrored, and what they were trying to do.
MIRROR_JOBS = {
    "mirror_cancellation": "cancel this order's print orders",
    "mirror_update": "apply this order's change (address or items) to its print orders",
}
# Failures the store order cannot be told about: the arguments name no real order, or the
# Admin API refuses us (the note would fail the same way).
_CANNOT_TELL = (InvalidPayload, ReauthorizationRequired, AdminUnauthorized, AdminForbidden, ShopNotInstalled)

log = logging.getLogger(__name__)


def report_final_failure(svc, job, error: BaseException | None, attempts: int) -> bool:
    """Tag print-mirror-failed and append a paragraph on how to act by hand; False when it cannot."""
    name = (job.func_name or "").rsplit(".", 1)[-1]
    kwargs = job.kwargs or {}
    shop, order_id = kwargs.get("shop"), kwargs.get("order_id")
    if (
        name not in MIRROR_JOBS
        or isinstance(error, _CANNOT_TELL)
        or not is_valid_shop_domain(shop)
        or not (isinstance(order_id, str) and order_id.isdigit())
    ):
        return False
    key = f"{FAILED_PREFIX}{job.id}"

    def compose(_pending, ref: str) -> str:
        return paragraphs.mirror_failed(
            svc.provider_name(shop), MIRROR_JOBS[name], order_id, attempts, _short(error), ref, datetime.now(UTC)
        )

    with order_lock(svc.redis, shop, order_id, svc.config["ORDER_LOCK_SECONDS"]):
        # The last word on the order: worth waiting out a short throttle in place (nothing retries it).
        client = svc.admin_client(shop, max_inline_wait=MAX_INLINE_THROTTLE_WAIT)
        ledger = OrderLedger(svc.database, shop, order_id)
        write_paragraph_once(ledger, client, [(STORE_ORDER, key)], compose)
        add_tag_once(ledger, client, TAG_MIRROR_FAILED)
    log_event("mirror_failed_noted", shop=shop, order_id=order_id, job_id=job.id)
    return True


def note_no_provider_account(client, ledger: OrderLedger, job: str) -> bool:
    """Tag print-mirror-failed and say to connect the print provider in the app, once per order; call under the order lock."""

    def compose(_pending, ref: str) -> str:
        return paragraphs.no_provider_account(MIRROR_JOBS[job], ledger.order_id, ref, datetime.now(UTC))

    written = write_paragraph_once(ledger, client, [(STORE_ORDER, NO_ACCOUNT_KEY)], compose)
    add_tag_once(ledger, client, TAG_MIRROR_FAILED)
    return written


def note_recovery(client, ledger: OrderLedger, provider_name: str, summary: dict[str, str]) -> bool:
    """After a success, say so on an order that carries an unresolved failure note; call under the order lock."""
    failed = ledger.store_order_keys(FAILED_PREFIX)
    if not failed:
        return False
    recovered = set(ledger.store_order_keys(RECOVERED_PREFIX))
    open_failures = [k for k in failed if RECOVERED_PREFIX + k[len(FAILED_PREFIX) :] not in recovered]
    if not open_failures:
        return False
    entries = [(STORE_ORDER, RECOVERED_PREFIX + k[len(FAILED_PREFIX) :]) for k in open_failures]

    def compose(_pending, ref: str) -> str:
        return paragraphs.mirror_recovered(provider_name, summary, ref, datetime.now(UTC))

    write_paragraph_once(ledger, client, entries, compose)
    remove_tag(ledger, client, TAG_MIRROR_FAILED)
    return True


def _short(error: BaseException | None) -> str:
    """A one-line, merchant-readable reason (our own messages carry no secrets)."""
    if error is None or isinstance(error, AbandonedJobError):
        return "the worker stopped while handling it"
    if isinstance(error, MirrorError):
        return str(error)[:200]
    return type(error).__name__
