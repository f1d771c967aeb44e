"""Job: mirror a store-order cancellation to its print orders, or say on the order that it came too late."""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from datetime import UTC, datetime

from plugin.logs import log_event
from plugin.metrics import observe_provider_call
from plugin.orders.outcomes import PrintOutcome
from plugin.providers import CancelResult, PrintOrder, PrintProvider
from plugin.providers.reference_search import ReferenceSearch, find_print_orders
from plugin.shopify.admin_api import AdminClient
from plugin.store import activity
from plugin.store.activity import Outcome

from . import paragraphs
from .account_health import guarded_client
from .arguments import check_order_id, check_shop
from .confirm import NOT_CANCELLED, ORDER_NOT_FOUND, read_store_state, stand_down
from .failure_notes import note_no_provider_account
from .ledger import OrderLedger
from .locks import order_lock
from .queueing import enqueue_for_shop
from .runtime import services
from .store_report import add_tag_once, write_paragraph_once

TAG_CANCELLED = "print-cancelled"
TAG_CANCEL_TOO_LATE = "print-cancel-too-late"
ENTRY_CANCEL_TOO_LATE = "cancel-too-late"
# The job that notes and tags the store order once the print orders are cancelled (jobs/tell_store.py).
TELL_CANCELLATION = "jobs.tell_store.tell_cancellation"

# Outcome names, as stored in the activity log.
CANCELLED = PrintOutcome.CANCELLED
ALREADY_CANCELED = PrintOutcome.ALREADY_CANCELED
TOO_LATE = PrintOutcome.TOO_LATE
NOT_FOUND = PrintOutcome.NOT_FOUND
NO_PRINT_ORDERS = PrintOutcome.NO_PRINT_ORDERS
NO_PROVIDER_ACCOUNT = PrintOutcome.NO_PROVIDER_ACCOUNT


def mirror_cancellation(shop: str, order_id: str, topic: str = "orders/cancelled", webhook_id: str | None = None) -> dict:
    """Once Shopify confirms the store order is cancelled, cancel its print orders; report what came too late."""
    check_order_args(shop, order_id)
    started = time.perf_counter()
    svc = services()
    with order_lock(svc.redis, shop, order_id, svc.config["ORDER_LOCK_SECONDS"]):
        admin = svc.admin_client(shop)  # one client a job: its calls share one credentials read
        store = read_store_state(admin, order_id)
        if store is None or not store.cancelled:
            reason = ORDER_NOT_FOUND if store is None else NOT_CANCELLED
            return stand_down(svc, shop, order_id, topic, webhook_id, "mirror_cancellation", reason)
        return cancel_confirmed(svc, admin, shop, order_id, topic, webhook_id, started, store.name)


def cancel_confirmed(
    svc,
    admin: AdminClient,
    shop: str,
    order_id: str,
    topic: str,
    webhook_id: str | None,
    started: float,
    order_name: str | None = None,
) -> dict:
    """Cancel the print orders of a store order Shopify says is cancelled (the caller holds the order lock)."""
    ledger = OrderLedger(svc.database, shop, order_id)
    chosen = svc.provider_account(shop)
    if chosen is None:
        return without_provider_account(svc, admin, ledger, topic, webhook_id, "mirror_cancellation", order_name)
    provider = guarded_client(svc, chosen[1])
    outcomes = cancel_print_orders(provider, order_id, order_name)
    activity.record(svc.database, shop, order_id, topic, outcomes, order_name)
    # Save first, tell later: the note and tag wait on the store's Shopify bucket, never this queue.
    tell = enqueue_for_shop(
        svc.redis,
        shop,
        TELL_CANCELLATION,
        svc.config,
        kwargs={"shop": shop, "order_id": order_id, "provider_name": provider.name, "outcomes": [asdict(o) for o in outcomes]},
    )
    summary = {o.print_order_id or "": o.outcome for o in outcomes}
    for o in outcomes:
        log_event(
            "job",
            job="mirror_cancellation",
            shop=shop,
            topic=topic,
            webhook_id=webhook_id,
            order_id=order_id,
            print_order_id=o.print_order_id,
            status_seen=o.status_seen,
            outcome=o.outcome,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
        )
    return {"order_id": order_id, "print_orders": summary, "store_order": "to_tell", "tell_job": tell.id}


def check_order_args(shop: object, order_id: object) -> None:
    """Refuse arguments no retry can fix (wrong types or shapes) with a permanent error."""
    check_shop(shop)
    check_order_id(order_id)


def cancel_print_orders(provider: PrintProvider, order_id: str, order_name: str | None = None) -> list[Outcome]:
    """Try to cancel each print order placed for the store order (found by id, else by name); one Outcome each."""
    search = find_print_orders(provider, order_id, order_name)
    if not search.orders:
        return [Outcome(None, None, "search", NO_PRINT_ORDERS, detail=search_detail(search))]
    found_by = search_detail(search)
    outcomes = [cancel_one(provider, print_order) for print_order in search.orders]
    return [replace(outcome, detail=outcome.detail or found_by) for outcome in outcomes]


def search_detail(search: ReferenceSearch) -> str:
    """The activity's words for a search: which reference found the print orders, or every one tried."""
    if search.matched is None:
        among = "" if search.complete else " among the provider's newest orders (older ones cannot be searched)"
        return "searched reference " + ", ".join(search.tried) + among
    return f"found by reference {search.matched}"


def without_provider_account(
    svc, admin: AdminClient, ledger: OrderLedger, topic: str, webhook_id: str | None, job: str, order_name: str | None
) -> dict:
    """No account to ask: no provider call; tag and note the order once, so the merchant connects one."""
    outcome = Outcome(None, None, "none", NO_PROVIDER_ACCOUNT, detail="connect the print provider in the app")
    activity.record(svc.database, ledger.shop, ledger.order_id, topic, [outcome], order_name)
    written = note_no_provider_account(admin, ledger, job)
    log_event(
        "job",
        job=job,
        shop=ledger.shop,
        topic=topic,
        webhook_id=webhook_id,
        order_id=ledger.order_id,
        outcome=NO_PROVIDER_ACCOUNT,
    )
    return {
        "order_id": ledger.order_id,
        "print_orders": {"": NO_PROVIDER_ACCOUNT},
        "store_order": "failure_noted" if written else "untouched",
    }


def cancel_one(provider: PrintProvider, print_order: PrintOrder) -> Outcome:
    """Cancel one print order if it is still before production; re-read it when the provider refuses."""
    if print_order.is_canceled:
        return Outcome(print_order.id, print_order.status, "none", ALREADY_CANCELED)
    if print_order.is_too_late:
        return _after_refusal(provider, print_order, "reread")
    # Unknown statuses are tried too: the provider decides, and a 409 brings us to the re-read.
    observe_provider_call()
    result = provider.cancel_order(print_order.id)
    if result is CancelResult.CANCELLED:
        return Outcome(print_order.id, print_order.status, "cancel", CANCELLED)
    if result is CancelResult.NOT_FOUND:
        return Outcome(print_order.id, print_order.status, "cancel", NOT_FOUND)
    return _after_refusal(provider, print_order, "cancel")


def _after_refusal(provider: PrintProvider, print_order: PrintOrder, action: str) -> Outcome:
    """Re-read a print order that looked too late or refused cancellation: canceled, or too late."""
    fresh = provider.get_order(print_order.id)
    if fresh is None:
        return Outcome(print_order.id, print_order.status, action, NOT_FOUND)
    if fresh.is_canceled:
        return Outcome(fresh.id, fresh.status, action, ALREADY_CANCELED)
    if action == "reread" and fresh.is_cancellable:
        # The search answer was stale and production has not started after all: cancel now.
        return cancel_one(provider, fresh)
    return Outcome(fresh.id, fresh.status, action, TOO_LATE)


def report_cancellation(admin: AdminClient, ledger: OrderLedger, provider_name: str, outcomes: list[Outcome]) -> str:
    """Note and tag the store order: too late → paragraph + tag; cancelled in time → tag; else nothing."""
    too_late = [(o.print_order_id, o.status_seen or "unknown") for o in outcomes if o.outcome == TOO_LATE]
    cancelled = [o.print_order_id for o in outcomes if o.outcome in (CANCELLED, ALREADY_CANCELED)]
    if too_late:
        client = admin
        status_by_id = dict(too_late)

        def compose(pending: list[tuple[str, str]], ref: str) -> str:
            return paragraphs.cancel_too_late(
                provider_name, [(p, status_by_id[p]) for p, _ in pending], cancelled, ref, datetime.now(UTC)
            )

        write_paragraph_once(ledger, client, [(p, ENTRY_CANCEL_TOO_LATE) for p, _ in too_late], compose)
        add_tag_once(ledger, client, TAG_CANCEL_TOO_LATE)
        return "too_late_noted"
    if cancelled:
        # Not-found print orders do not block the tag: nothing of theirs will be printed.
        add_tag_once(ledger, admin, TAG_CANCELLED)
        return "tagged_cancelled"
    return "untouched"
