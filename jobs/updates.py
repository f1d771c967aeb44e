"""Job: mirror a print-relevant change of a store order to its print orders, or say on the order why not."""

from __future__ import annotations

import enum
import functools
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from plugin.errors import InvalidPayload, TransientError
from plugin.intake.guards import newest_updated_at
from plugin.logs import log_event
from plugin.orders.outcomes import PrintOutcome
from plugin.providers import NewPrintOrder, PatchResult, PrintOrder, PrintProvider
from plugin.providers.reference_search import find_print_orders
from plugin.shopify.admin_api import AdminClient
from plugin.store import activity
from plugin.store.activity import Outcome
from plugin.store.db import Database
from plugin.store.shops import find_shop

from . import paragraphs
from .account_health import guarded_client
from .cancellation import (
    ALREADY_CANCELED,
    CANCELLED,
    NO_PRINT_ORDERS,
    NOT_FOUND,
    TAG_CANCELLED,
    TOO_LATE,
    cancel_confirmed,
    cancel_one,
    check_order_args,
    search_detail,
    without_provider_account,
)
from .confirm import NOT_CANCELLED, ORDER_NOT_FOUND, read_store_state, stand_down
from .failure_notes import note_recovery
from .ledger import OrderLedger
from .locks import order_lock
from .print_changes import (
    Decision,
    PrintChange,
    StoreState,
    compare,
    replacement_for,
    replacement_problem,
    updated_at_arg,
)
from .replacement import (
    DONE,
    REFUSED,
    REPORT_REPLACE_FAILED,
    REPORT_REPLACED,
    REPORT_TOO_LATE,
    cancel_and_replace,
    owes_replacement,
)
from .runtime import services
from .store_report import add_tag_once, write_paragraph_once

TAG_CHANGE_TOO_LATE = "print-change-too-late"
TAG_CHANGE_NEEDS_ACTION = "print-change-needs-action"
# Ledger entry keys; the change's hash follows the colon so each distinct change is told once.
ENTRY_CHANGE_TOO_LATE = "change-too-late"
ENTRY_CHANGE_NEEDS_ACTION = "change-needs-action"

# Outcome names, as stored in the activity log (cancellation's names are reused as they are).
IN_SYNC = PrintOutcome.IN_SYNC
CHANGE_TOO_LATE = PrintOutcome.CHANGE_TOO_LATE
PATCHED = PrintOutcome.PATCHED
NEEDS_ACTION = PrintOutcome.NEEDS_ACTION
SUPERSEDED = PrintOutcome.SUPERSEDED

# Report names beyond those of jobs.replacement.
REPORT_NEEDS_ACTION = "needs_action"
REPORT_CANCELLED = "cancelled"


def mirror_update(
    shop: str,
    order_id: str,
    topic: str = "orders/updated",
    webhook_id: str | None = None,
    updated_at: str | None = None,
    cancelled: bool = False,
    **_legacy: object,
) -> dict:
    """Bring the store order's print orders in line with its state in Shopify now, or note why that is not possible.

    The arguments say which update triggered the job; what the job acts on is the order as the
    Admin API answers it under the order lock. (`_legacy` takes the address and line items that
    jobs queued by earlier versions carry; they are ignored in favour of Shopify's answer.)
    """
    check_order_args(shop, order_id)
    triggered_by = updated_at_arg(updated_at)
    if not isinstance(cancelled, bool):
        raise InvalidPayload("job argument cancelled must be a boolean")
    started = time.perf_counter()
    svc = services()
    with order_lock(svc.redis, shop, order_id, svc.config["ORDER_LOCK_SECONDS"]):
        newest = newest_updated_at(svc.redis, shop, order_id)
        if newest is not None and triggered_by < newest:
            # A newer update was queued after this one: its job mirrors the newer state. Acting on
            # this one (e.g. a retry that ran late) would duplicate that job's work, or race it.
            detail = f"newer update {newest.isoformat()} queued"
            activity.record(svc.database, shop, order_id, topic, [Outcome(None, None, "compare", SUPERSEDED, detail=detail)])
            return {"order_id": order_id, "print_orders": {"": SUPERSEDED}, "store_order": "untouched"}
        admin = svc.admin_client(shop)  # one client a job: its calls share one credentials read
        store = read_store_state(admin, order_id)
        if store is None:
            return stand_down(svc, shop, order_id, topic, webhook_id, "mirror_update", ORDER_NOT_FOUND)
        if store.updated_at < triggered_by:
            # Shopify's answer predates the update that triggered us (a lagging read): ask again later.
            raise TransientError(f"order {order_id} of {shop}: Admin API answer is older than update {updated_at}")
        if cancelled and not store.cancelled:
            return stand_down(svc, shop, order_id, topic, webhook_id, "mirror_update", NOT_CANCELLED)
        if store.cancelled:
            # The very flow of orders/cancelled: its provider status and ledger make the two topics
            # of one cancellation cancel once and write at most one paragraph.
            return cancel_confirmed(svc, admin, shop, order_id, topic, webhook_id, started, store.name)
        ledger = OrderLedger(svc.database, shop, order_id)
        chosen = svc.provider_account(shop)
        if chosen is None:
            return without_provider_account(svc, admin, ledger, topic, webhook_id, "mirror_update", store.name)
        provider = guarded_client(svc, chosen[1])
        replace_on = provider.supports_replacement and _cancel_and_replace_on(svc.database, shop)
        decisions = mirror_changes(ledger, provider, store, replace_on)
        activity.record(svc.database, shop, order_id, topic, [d.outcome for d in decisions], store.name)
        report = report_update(admin, ledger, provider.name, store, decisions)
        note_recovery(admin, ledger, provider.name, {d.outcome.print_order_id or "": d.outcome.outcome for d in decisions})
    for d in decisions:
        log_event(
            "job",
            job="mirror_update",
            shop=shop,
            topic=topic,
            webhook_id=webhook_id,
            order_id=order_id,
            print_order_id=d.outcome.print_order_id,
            status_seen=d.outcome.status_seen,
            action=d.outcome.action,
            outcome=d.outcome.outcome,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
        )
    return {
        "order_id": order_id,
        "print_orders": {d.outcome.print_order_id or "": d.outcome.outcome for d in decisions},
        "store_order": report,
    }


def mirror_changes(ledger: OrderLedger, provider: PrintProvider, store: StoreState, replace_on: bool) -> list[Decision]:
    """Decide and act for every print order of the store order; one Decision each."""
    search = find_print_orders(provider, ledger.order_id, store.name)
    found = search.orders
    if not found:
        return [Decision(Outcome(None, None, "search", NO_PRINT_ORDERS, detail=search_detail(search)))]
    decisions: list[Decision] = []
    owed: list[PrintOrder] = []
    live: list[PrintOrder] = []
    for summary in found:
        owes = summary.is_canceled and owes_replacement(ledger, summary.id)
        if summary.is_canceled and not owes:
            decisions.append(Decision(Outcome(summary.id, summary.status, "none", ALREADY_CANCELED)))
            continue
        # Search answers carry no items or address: read each print order in full.
        order = provider.get_order(summary.id)
        if order is None:
            decisions.append(Decision(Outcome(summary.id, summary.status, "read", NOT_FOUND)))
        elif owes and order.is_canceled:
            owed.append(order)
        elif not order.is_canceled:
            live.append(order)
        else:
            decisions.append(Decision(Outcome(order.id, order.status, "none", ALREADY_CANCELED)))
    # Replacements owed by an interrupted earlier run come first, so the orders they placed are
    # recognised before being mirrored themselves.
    for old in owed:
        decisions.append(cancel_and_replace(ledger, provider, store, old, compare(store, old), live))
    for order in live:
        decisions.append(decide(ledger, provider, store, order, live, replace_on))
    return decisions


class Step(enum.Enum):
    """What one print order needs, decided without touching anything (plan), then done (act)."""

    IN_SYNC = "in_sync"  # nothing differs
    TOO_LATE = "too_late"  # it differs, but production has started: tell the merchant
    CANCEL = "cancel"  # every item of it was removed: cancel it
    NEEDS_ACTION = "needs_action"  # a change the app cannot apply by itself
    PATCH_DRAFT = "patch_draft"  # a draft: edit it in place
    REPLACE = "replace"  # placed, and the shop allows cancel-and-replace


@dataclass(frozen=True)
class Plan:
    """The step one print order needs, the change behind it, and why (for a needs-action step)."""

    step: Step
    change: PrintChange
    why: str | None = None


def plan(store: StoreState, order: PrintOrder, replace_on: bool) -> Plan:
    """The step a live print order needs to match the store order: pure, no provider or Shopify call."""
    change = compare(store, order)
    if not change.any:
        return Plan(Step.IN_SYNC, change)
    if order.is_too_late:
        return Plan(Step.TOO_LATE, change)
    if change.every_item_removed:
        # Nothing of this print order is wanted any more: that is a cancellation.
        return Plan(Step.CANCEL, change)
    if not change.automatic:
        return Plan(Step.NEEDS_ACTION, change, "one line item is spread over several print items")
    if order.is_draft:
        return Plan(Step.PATCH_DRAFT, change)
    if replace_on:
        problem = replacement_problem(replacement_for(store, order))
        if problem:
            return Plan(Step.NEEDS_ACTION, change, f"cannot replace: {problem}")
        return Plan(Step.REPLACE, change)
    return Plan(Step.NEEDS_ACTION, change)


def decide(
    ledger: OrderLedger,
    provider: PrintProvider,
    store: StoreState,
    order: PrintOrder,
    live: list[PrintOrder],
    replace_on: bool,
) -> Decision:
    """What to do about one live print order, done: its plan, then the provider calls the plan needs."""
    planned = plan(store, order, replace_on)
    change = planned.change
    if planned.step is Step.IN_SYNC:
        return Decision(Outcome(order.id, order.status, "compare", IN_SYNC))
    if planned.step is Step.TOO_LATE:
        return _too_late(Outcome(order.id, order.status, "compare", CHANGE_TOO_LATE, detail=_detail(change)), change)
    if planned.step is Step.CANCEL:
        result = cancel_one(provider, order)
        if result.outcome == TOO_LATE:
            return _too_late(replace(result, outcome=CHANGE_TOO_LATE, detail=_detail(change)), change)
        if result.outcome in (CANCELLED, ALREADY_CANCELED):
            return Decision(replace(result, detail=_detail(change)), REPORT_CANCELLED, change)
        return Decision(result)
    if planned.step is Step.PATCH_DRAFT:
        return _patch_draft(ledger, provider, store, order, change, live, replace_on)
    if planned.step is Step.REPLACE:
        return cancel_and_replace(ledger, provider, store, order, change, live)
    return _needs_action(order, change, planned.why)


def _patch_draft(
    ledger: OrderLedger,
    provider: PrintProvider,
    store: StoreState,
    order: PrintOrder,
    change: PrintChange,
    live: list[PrintOrder],
    replace_on: bool,
) -> Decision:
    """Edit a draft in place: quantities and address. Gelato has no way to drop an item from a draft."""
    applicable = change.without_removals()
    removals = change.removals()
    if not applicable.any:
        return _needs_action(order, removals, "a draft item cannot be removed through the API")
    address = applicable.new_address if applicable.address_fields else None
    result = provider.patch_order(order.id, applicable.new_quantities(), address)
    if result is PatchResult.NOT_FOUND:
        return Decision(Outcome(order.id, order.status, "patch", NOT_FOUND))
    if result is PatchResult.REFUSED:
        # No longer a draft (placed meanwhile): decide again on what it is now.
        fresh = provider.get_order(order.id)
        if fresh is None:
            return Decision(Outcome(order.id, order.status, "patch", NOT_FOUND))
        if fresh.is_draft or fresh.is_canceled:
            return _needs_action(fresh, change, "the draft refused the edit")
        return decide(ledger, provider, store, fresh, live, replace_on)
    outcome = Outcome(order.id, order.status, "patch", PATCHED, detail=_detail(applicable))
    if removals.items:
        return Decision(replace(outcome, detail=f"{outcome.detail}; removal left to the merchant"), REPORT_NEEDS_ACTION, removals)
    return Decision(outcome)


def _too_late(outcome: Outcome, change: PrintChange) -> Decision:
    return Decision(outcome, REPORT_TOO_LATE, change)


def _needs_action(order: PrintOrder, change: PrintChange, why: str | None = None) -> Decision:
    detail = _detail(change) + (f" ({why})" if why else "")
    return Decision(Outcome(order.id, order.status, "compare", NEEDS_ACTION, detail=detail), REPORT_NEEDS_ACTION, change)


def _detail(change: PrintChange) -> str:
    """A compact, stable description of a change for the activity log."""
    parts = [f"address: {','.join(change.address_fields)}"] if change.address_fields else []
    parts += [f"item {i.reference_id}: {i.old}->{i.new}" for i in change.items]
    return "; ".join(parts)


def _cancel_and_replace_on(database: Database, shop: str) -> bool:
    with database.session() as session:
        row = find_shop(session, shop)
        return bool(row is not None and row.cancel_and_replace)


def report_update(
    client: AdminClient, ledger: OrderLedger, provider_name: str, store: StoreState, decisions: list[Decision]
) -> str:
    """Note and tag the store order for what was too late, needs the merchant, or was replaced."""
    by_report: dict[str, list[Decision]] = {}
    for d in decisions:
        if d.report:
            by_report.setdefault(d.report, []).append(d)
    written = []

    note = functools.partial(_note_once, client, ledger)

    if REPORT_TOO_LATE in by_report:
        note(
            _change_facts(by_report[REPORT_TOO_LATE], ENTRY_CHANGE_TOO_LATE, too_late=True),
            lambda rows, ref, when: paragraphs.change_too_late(provider_name, _by_print_order(rows), ref, when),
        )
        add_tag_once(ledger, client, TAG_CHANGE_TOO_LATE)
        written.append("too_late_noted")
    if REPORT_NEEDS_ACTION in by_report:
        note(
            _change_facts(by_report[REPORT_NEEDS_ACTION], ENTRY_CHANGE_NEEDS_ACTION, too_late=False),
            lambda rows, ref, when: paragraphs.change_needs_action(provider_name, _by_print_order(rows), ref, when),
        )
        add_tag_once(ledger, client, TAG_CHANGE_NEEDS_ACTION)
        written.append("needs_action_noted")
    if REPORT_REPLACED in by_report:
        note(
            {
                (d.outcome.print_order_id, DONE): (
                    d.outcome.print_order_id,
                    d.new_print_order.id,
                    _summary(store, d.new_print_order.address, d.new_print_order.items),
                )
                for d in by_report[REPORT_REPLACED]
            },
            lambda rows, ref, when: paragraphs.print_order_replaced(provider_name, rows, ref, when),
        )
        written.append("replacement_noted")
    if REPORT_REPLACE_FAILED in by_report:
        note(
            {
                (d.outcome.print_order_id, REFUSED): (
                    d.outcome.print_order_id,
                    d.refusal_reason,
                    _summary(store, _wanted(d).address, _wanted(d).items),
                )
                for d in by_report[REPORT_REPLACE_FAILED]
            },
            lambda rows, ref, when: paragraphs.replacement_refused(provider_name, rows, ref, when),
        )
        add_tag_once(ledger, client, TAG_CHANGE_NEEDS_ACTION)
        written.append("replace_failed_noted")
    finished = (CANCELLED, ALREADY_CANCELED, NOT_FOUND)
    if REPORT_CANCELLED in by_report and all(d.outcome.outcome in finished for d in decisions):
        # Tagged like a cancellation only when nothing of the store order is left to print.
        add_tag_once(ledger, client, TAG_CANCELLED)
        written.append("tagged_cancelled")
    return ",".join(written) or "untouched"


def _note_once(client: AdminClient, ledger: OrderLedger, entries: dict[tuple[str, str], object], compose) -> None:
    """Append one paragraph about the entries not written yet (ledger entry → the row compose gets)."""
    write_paragraph_once(
        ledger, client, list(entries), lambda pending, ref: compose([entries[e] for e in pending], ref, datetime.now(UTC))
    )


def _change_facts(decisions: list[Decision], prefix: str, *, too_late: bool) -> dict[tuple[str, str], tuple[str, str, str]]:
    """Ledger entry → (print order, status, line): one per fact of each change, keyed by the fact's hash."""
    return {
        (d.outcome.print_order_id, f"{prefix}:{fact.key}"): (d.outcome.print_order_id, d.outcome.status_seen or "unknown", line)
        for d in decisions
        if d.change is not None
        for fact in d.change.facts()
        for line in paragraphs.change_lines(fact, too_late=too_late)
    }


def _by_print_order(rows: list[tuple[str, str, str]]) -> list[tuple[str, str, list[str]]]:
    """(print order, status, line) rows grouped as (print order, status, lines), first-seen order kept."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for print_order_id, status, line in rows:
        grouped.setdefault((print_order_id, status), []).append(line)
    return [(print_order_id, status, lines) for (print_order_id, status), lines in grouped.items()]


def _wanted(decision: Decision) -> NewPrintOrder:
    """The replacement a replace_failed decision wanted (every such decision carries it)."""
    if decision.wanted is None:
        raise ValueError(f"replace_failed decision for {decision.outcome.print_order_id} without the wanted order")
    return decision.wanted


def _summary(store: StoreState, address, items) -> str:
    names = {i.id: i.name for i in store.line_items.values()}
    return paragraphs.order_summary(
        address, [(names.get(i.reference_id or "", ""), i.reference_id or "", i.quantity) for i in items]
    )
