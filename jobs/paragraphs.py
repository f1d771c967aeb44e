"""The text of the paragraphs the app appends to a store order's note."""

from __future__ import annotations

import hashlib
from datetime import datetime

from plugin.providers import Address
from plugin.providers.catalog import fate_of

from .print_changes import PrintChange

HEADER = "Print order mirror"


def paragraph_ref(shop: str, order_id: str, entries: list[tuple[str, str]]) -> str:
    """A short marker identifying exactly these (print order, fact) entries on this order."""
    material = "\n".join([shop, order_id, *sorted(f"{p}:{k}" for p, k in entries)])
    return "pm-" + hashlib.sha256(material.encode()).hexdigest()[:10]


def what_happens_now(provider: str, status: str) -> str:
    """Plain words for a too-late print order's fate, as the provider's module words its status."""
    return fate_of(provider, status) or f"is '{status}' at the print provider and can no longer be cancelled"


def cancel_too_late(provider: str, too_late: list[tuple[str, str]], cancelled: list[str], ref: str, when: datetime) -> str:
    """The paragraph for a store cancellation that came too late for some print orders.

    too_late: (print order id, status) pairs; cancelled: print order ids cancelled in time.
    """
    lines = [
        f"{HEADER}, {_stamp(when)}: this order was cancelled in Shopify, but it was too late to cancel"
        f" {_count(len(too_late) + len(cancelled), 'its print order', 'some of its print orders')}"
        f" at {provider.title()}."
    ]
    for print_order_id, status in too_late:
        lines.append(f"- {provider.title()} print order {print_order_id} ({status}) {what_happens_now(provider, status)}.")
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


# -- order changes (orders/updated) -------------------------------------------------------------


def place(address: Address) -> str:
    """Where an address is, in short: "city, country code"."""
    return ", ".join(part for part in (address.city, address.country_code) if part) or "an unknown place"


def full_address(address: Address) -> str:
    """An address on one line, as a person would write it on a parcel."""
    town = " ".join(part for part in (address.city, address.province_code, address.zip) if part)
    parts = [address.name, address.company, address.address1, address.address2, town, address.country_code]
    text = ", ".join(part for part in parts if part)
    return f"{text}, phone {address.phone}" if address.phone else text


def change_lines(change: PrintChange, *, too_late: bool) -> list[str]:
    """What changed, in plain words; too_late says what will happen instead, else what to change."""
    placed = change.print_order.address
    lines = []
    if change.address_fields and change.new_address is not None:
        if too_late:
            lines.append(
                f"shipping address changed to {place(change.new_address)}; the print order will ship to"
                f" the address it was placed with: {place(placed)}"
            )
        else:
            lines.append(f"ship to {full_address(change.new_address)} (it was placed with {place(placed)})")
    for item in change.items:
        label = _item_label(item.name, item.reference_id)
        if too_late:
            lines.append(f"item {label} quantity {item.old} → {item.new}; the print order will be produced as placed")
        elif item.new == 0:
            lines.append(f"remove item {label} (quantity {item.old} → 0)")
        else:
            lines.append(f"item {label} quantity {item.old} → {item.new}")
    return lines


def change_too_late(provider: str, entries: list[tuple[str, str, list[str]]], ref: str, when: datetime) -> str:
    """The paragraph for store-order changes that came after production started.

    entries: (print order id, status, change lines) per print order.
    """
    name = provider.title()
    lines = [
        f"{HEADER}, {_stamp(when)}: this order was changed in Shopify, but it was too late to change"
        f" {_count(len(entries), 'its print order', 'some of its print orders')} at {name}."
    ]
    for print_order_id, status, changes in entries:
        for change in changes:
            lines.append(f"- {name} print order {print_order_id} ({status}): {change}.")
    lines.append(
        f"What happens now: {name} will produce and ship the print order as placed and charge for it."
        f" Contact the customer if the parcel will go to an old address or hold the wrong items, or ask"
        f" {name} support whether anything can still be changed. [{ref}]"
    )
    return "\n".join(lines)


def change_needs_action(provider: str, entries: list[tuple[str, str, list[str]]], ref: str, when: datetime) -> str:
    """The paragraph for changes the app cannot apply: the merchant must edit the print order in time.

    entries: (print order id, status, change lines) per print order.
    """
    name = provider.title()
    lines = [
        f"{HEADER}, {_stamp(when)}: this order was changed in Shopify. {name} cannot change a placed print"
        f" order through its API: update it in the {name} dashboard before production starts."
    ]
    for print_order_id, status, changes in entries:
        lines.append(f"- {name} print order {print_order_id} is still '{status}'; change: {'; '.join(changes)}.")
    lines.append(
        f"What happens now: if production starts first, {name} produces and ships the print order as"
        f" placed and charges for it. [{ref}]"
    )
    return "\n".join(lines)


def print_order_replaced(provider: str, entries: list[tuple[str, str, str]], ref: str, when: datetime) -> str:
    """The paragraph naming replacement print orders (cancel and replace).

    entries: (old print order id, new print order id, what the new one holds) per replacement.
    """
    name = provider.title()
    lines = [
        f"{HEADER}, {_stamp(when)}: this order was changed in Shopify, so the app cancelled"
        f" {_count(len(entries), 'its print order', 'print orders')} at {name} and placed"
        f" {_count(len(entries), 'a new one', 'new ones')} (cancel and replace is on for this store)."
    ]
    for old_id, new_id, summary in entries:
        lines.append(f"- {name} print order {old_id} was cancelled and replaced by print order {new_id}: {summary}.")
    lines.append(f"What happens now: {name} produces the new print order and charges for it. [{ref}]")
    return "\n".join(lines)


def replacement_refused(provider: str, entries: list[tuple[str, str, str]], ref: str, when: datetime) -> str:
    """The paragraph for a replacement the provider refused after the old print order was cancelled.

    entries: (old print order id, the provider's reason, what the new one should hold).
    """
    name = provider.title()
    lines = [
        f"{HEADER}, {_stamp(when)}: this order was changed in Shopify. The app cancelled its print order"
        f" at {name} to replace it, but {name} refused the new order."
    ]
    for old_id, reason, summary in entries:
        lines.append(
            f"- {name} print order {old_id} is cancelled; {name} said: {reason}. Place it again in the"
            f" {name} dashboard: {summary}."
        )
    lines.append(f"What happens now: nothing is printed for this order until it is placed again. [{ref}]")
    return "\n".join(lines)


def order_summary(address: Address, items: list[tuple[str, str, int]]) -> str:
    """ "ships to <address>; items: "<name>" × 2, ..." for a print order; items as (name, reference id, quantity)."""
    listed = ", ".join(f"{_item_label(name, reference_id)} × {quantity}" for name, reference_id, quantity in items)
    return f"ships to {full_address(address)}; items: {listed}"


def _item_label(name: str, reference_id: str) -> str:
    return f'"{name}"' if name else f"line item {reference_id}"


def mirror_failed(provider: str, action: str, order_id: str, attempts: int, error: str, ref: str, when: datetime) -> str:
    """The paragraph for a job that gave up: what could not be done and how to do it by hand."""
    name = provider.title()
    return (
        f"{HEADER}, {_stamp(when)}: the app could not {action} at {name} after {attempts}"
        f" {_count(attempts, 'attempt', 'attempts')} (last error: {error}). Until someone acts, {name} will"
        f" produce and ship the print orders as placed. Do it by hand now: in the {name} dashboard, open"
        f" Orders, search for order reference {order_id}, and cancel or edit each print order that is not"
        f" yet in production. [{ref}]"
    )


def no_provider_account(action: str, order_id: str, ref: str, when: datetime) -> str:
    """The paragraph for a store with no print-provider account connected: nothing was sent anywhere."""
    return (
        f"{HEADER}, {_stamp(when)}: the app could not {action}: this store has not connected its print-provider"
        " account, so nothing was sent to the print provider. Connect it now: open the app in the Shopify admin"
        " (Apps → Print-order mirror → Connect) and paste your provider's API key. Then cancel or edit this"
        f" order's print orders by hand in the provider's dashboard (order reference {order_id}) if they are"
        f" not yet in production. [{ref}]"
    )


def mirror_recovered(provider: str, summary: dict[str, str], ref: str, when: datetime) -> str:
    """The paragraph for a success after an earlier failure note: what the retry achieved."""
    name = provider.title()
    done = "; ".join(f"{print_id or 'no print order'}: {outcome.replace('_', ' ')}" for print_id, outcome in summary.items())
    return (
        f"{HEADER}, {_stamp(when)}: update — a later attempt reached {name} and finished ({done})."
        f" The failure noted above is resolved; nothing needs to be done by hand for it. [{ref}]"
    )
