"""Cancel and replace a print order exactly once: intent in the ledger, cancel, then place the new one."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from plugin.errors import ProviderError
from plugin.orders.outcomes import PrintOutcome
from plugin.providers import NewPrintOrder, PrintOrder, PrintProvider
from plugin.store.activity import Outcome

from .cancellation import ALREADY_CANCELED, CANCELLED, TOO_LATE, cancel_one
from .ledger import OrderLedger
from .print_changes import Decision, PrintChange, StoreState, matches, replacement_for

# Ledger entry keys, per old print order. The intent is written before the cancel so that a job
# retried after "cancelled, but the create failed or crashed" still knows it owes a replacement.
INTENT = "replace-started"
DONE = "replaced"
REFUSED = "replace-failed"

# Outcome names.
REPLACED = PrintOutcome.REPLACED
REPLACE_FAILED = PrintOutcome.REPLACE_FAILED

# Report names (what the store order is told).
REPORT_REPLACED = "replaced"
REPORT_REPLACE_FAILED = "replace_failed"
REPORT_TOO_LATE = "change_too_late"


def owes_replacement(ledger: OrderLedger, print_order_id: str) -> bool:
    """True when a replacement of this print order was started and neither placed nor refused yet."""
    entries = [(print_order_id, INTENT), (print_order_id, DONE), (print_order_id, REFUSED)]
    pending = ledger.pending(entries)
    return entries[0] not in pending and entries[1] in pending and entries[2] in pending


def cancel_and_replace(
    ledger: OrderLedger,
    provider: PrintProvider,
    store: StoreState,
    old: PrintOrder,
    change: PrintChange,
    siblings: list[PrintOrder],
) -> Decision:
    """Cancel old (unless already cancelled by an earlier run) and place its replacement, once.

    Cancel first: if the cancel is refused the old order goes to production and nothing new is
    placed, so the merchant never pays for two print orders. A run that finds old cancelled with
    the intent recorded looks for the replacement it may already have placed before placing one.
    """
    wanted = replacement_for(store, old)
    if not old.is_canceled:
        _remember_intent(ledger, old.id)
        cancelled = cancel_one(provider, old)
        if cancelled.outcome == TOO_LATE:
            outcome = Outcome(old.id, cancelled.status_seen, "replace", PrintOutcome.CHANGE_TOO_LATE, detail="cancel refused")
            return Decision(outcome, REPORT_TOO_LATE, change)
        if cancelled.outcome not in (CANCELLED, ALREADY_CANCELED):
            return Decision(Outcome(old.id, old.status, "replace", cancelled.outcome))
    else:
        placed = _placed_earlier(old, wanted, siblings)
        if placed is not None:
            return _replaced(old, placed, change)
    try:
        placed = provider.create_order(wanted)
    except ProviderError as exc:
        # Permanent: the old order is cancelled and the new one refused. Tell the merchant, and
        # record the refusal so later runs do not place it behind their back.
        outcome = Outcome(old.id, "canceled", "replace", REPLACE_FAILED, error=str(exc)[:500])
        return Decision(outcome, REPORT_REPLACE_FAILED, change, refusal_reason=str(exc)[:300], wanted=wanted)
    return _replaced(old, placed, change)


def _placed_earlier(old: PrintOrder, wanted: NewPrintOrder, siblings: list[PrintOrder]) -> PrintOrder | None:
    """The replacement an earlier run placed (its answer lost to a crash or timeout), if any.

    Exactly the wanted order first. Failing that, a live order holding only old's items: placed
    for an older state of the store order (which changed again since); it is then mirrored like
    any other print order instead of being placed twice.
    """
    live = [p for p in siblings if p.id != old.id and not p.is_canceled]
    exact = next((p for p in live if matches(p, wanted)), None)
    if exact is not None:
        return exact
    references = {item.reference_id for item in old.items}
    return next((p for p in live if p.items and {item.reference_id for item in p.items} <= references), None)


def _replaced(old: PrintOrder, placed: PrintOrder, change: PrintChange) -> Decision:
    outcome = Outcome(old.id, old.status, "replace", REPLACED, detail=f"replaced by {placed.id}")
    return Decision(outcome, REPORT_REPLACED, change, new_print_order=placed)


def _remember_intent(ledger: OrderLedger, print_order_id: str) -> None:
    if not ledger.pending([(print_order_id, INTENT)]):
        return
    try:
        ledger.remember([(print_order_id, INTENT)], "intent")
    except IntegrityError:
        # Written by a concurrent run between our check and insert: the intent is there, as wanted.
        pass
