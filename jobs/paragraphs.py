"""The text of the paragraphs the app appends to a store order's note."""

from __future__ import annotations

import hashlib
from datetime import datetime

HEADER = "Print order mirror"

# What a too-late print order will do next, by the status the provider reported.
_WHAT_HAPPENS_NOW = {
    "in_production": "is in production: it will be printed and shipped to the customer as placed",
    "printed": "is already printed: it will be shipped to the customer as placed",
    "shipped": "has already shipped: it is on its way to the customer",
    "in_transit": "is in transit: it is on its way to the customer",
    "delivered": "was already delivered to the customer",
    "returned": "was returned to the sender",
}


def paragraph_ref(shop: str, order_id: str, entries: list[tuple[str, str]]) -> str:
    """A short marker identifying exactly these (print order, fact) entries on this order."""
    material = "\n".join([shop, order_id, *sorted(f"{p}:{k}" for p, k in entries)])
    return "pm-" + hashlib.sha256(material.encode()).hexdigest()[:10]


def what_happens_now(status: str) -> str:
    """Plain words for a too-late print order's fate."""
    return _WHAT_HAPPENS_NOW.get(status, f"is '{status}' at the print provider and can no longer be cancelled")


def cancel_too_late(
    provider: str, too_late: list[tuple[str, str]], cancelled: list[str], ref: str, when: datetime
) -> str:
    """The paragraph for a store cancellation that came too late for some print orders.

    too_late: (print order id, status) pairs; cancelled: print order ids cancelled in time.
    """
    lines = [f"{HEADER}, {_stamp(when)}: this order was cancelled in Shopify, but it was too late to cancel"
             f" {_count(len(too_late), 'its print order', 'some of its print orders')} at {provider.title()}."]
    for print_order_id, status in too_late:
        lines.append(f"- {provider.title()} print order {print_order_id} ({status}) {what_happens_now(status)}.")
    for print_order_id in cancelled:
        lines.append(f"- {provider.title()} print order {print_order_id} was cancelled in time; nothing will be printed.")
    lines.append(
        f"What happens now: {provider.title()} will charge for the print orders above that were too late."
        " Contact the customer about the shipment (return or keep), or ask"
        f" {provider.title()} support whether anything can still be stopped. [{ref}]"
    )
    return "\n".join(lines)


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")


def _count(n: int, one: str, many: str) -> str:
    return one if n == 1 else many
