"""What differs between the store order's print-relevant state and one print order, and each job decision."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import datetime

from plugin.errors import AdminAPIError, InvalidOrder
from plugin.orders.state import (
    ADDRESS_FIELDS,
    NAME_PARTS,
    LineItemState,
    fold,
    print_state_of,
)
from plugin.orders.timestamps import parse_timestamp
from plugin.providers import Address, NewPrintOrder, PrintItem, PrintOrder
from plugin.store.activity import Outcome

_STORE_ADDRESS_FIELDS = frozenset((*ADDRESS_FIELDS, *NAME_PARTS))


@dataclass(frozen=True)
class StoreState:
    """The store order's print-relevant state, as the Admin API answered when the job ran."""

    updated_at: datetime
    cancelled: bool
    address: Address | None  # None: the store order has no shipping address
    line_items: dict[str, LineItemState]  # by line item id (decimal string)
    # The order's name as the merchant sees it ("#1001"): a provider's own connector may have used it as the reference.
    name: str | None = None


@dataclass(frozen=True)
class ItemChange:
    """A line item whose quantity differs from what the print order holds for it."""

    reference_id: str
    name: str
    old: int
    new: int
    item_ids: tuple[str, ...]  # the print order's items carrying this reference (normally one)


@dataclass(frozen=True)
class PrintChange:
    """Everything that differs between the store order and one print order."""

    print_order: PrintOrder
    address_fields: tuple[str, ...] = ()
    new_address: Address | None = None
    items: tuple[ItemChange, ...] = ()
    every_item_removed: bool = False

    @property
    def any(self) -> bool:
        """True when the print order no longer matches the store order."""
        return bool(self.address_fields or self.items)

    @property
    def key(self) -> str:
        """A short hash naming this exact change (same change → same key, another change → another)."""
        material = {
            "address": None
            if not self.address_fields or self.new_address is None
            else {f: fold(f, getattr(self.new_address, f)) for f in ADDRESS_FIELDS},
            "items": sorted([i.reference_id, i.old, i.new] for i in self.items),
        }
        encoded = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(encoded.encode()).hexdigest()[:16]

    @property
    def automatic(self) -> bool:
        """Every item change maps onto exactly one print item, so it can be applied without guessing."""
        return all(len(i.item_ids) == 1 for i in self.items)

    def facts(self) -> tuple[PrintChange, ...]:
        """One change per fact (the address, each item), so each is told to the merchant once."""
        address = (replace(self, items=()),) if self.address_fields else ()
        return address + tuple(replace(self, address_fields=(), items=(item,)) for item in self.items)

    def removals(self) -> PrintChange:
        """Only the items removed entirely (a draft edit cannot remove an item)."""
        return replace(self, address_fields=(), items=tuple(i for i in self.items if i.new == 0))

    def without_removals(self) -> PrintChange:
        """The address and the quantity changes that leave at least one of the item."""
        return replace(self, items=tuple(i for i in self.items if i.new > 0))

    def new_quantities(self) -> dict[str, int]:
        """Provider item id → new quantity, for the changes that keep the item."""
        return {i.item_ids[0]: i.new for i in self.items if i.new > 0 and len(i.item_ids) == 1}


@dataclass(frozen=True)
class Decision:
    """What the job did about one print order, and what the store order must be told."""

    outcome: Outcome
    report: str | None = None  # one of the REPORT_* names in jobs.updates, or None
    change: PrintChange | None = None
    new_print_order: PrintOrder | None = None
    # A refused replacement (report "replace_failed"): the provider's reason and the order it refused.
    refusal_reason: str | None = None
    wanted: NewPrintOrder | None = None


def updated_at_arg(updated_at: object) -> datetime:
    """The job's updated_at argument as an aware datetime; InvalidPayload when no retry can fix it."""
    return parse_timestamp(updated_at, f"job argument updated_at={str(updated_at)[:40]!r}")


def store_state_of(payload: dict) -> StoreState:
    """The StoreState of an order read from the Admin API (webhook-shaped); AdminAPIError when unreadable."""
    try:
        state = print_state_of(payload)
    except InvalidOrder as exc:
        raise AdminAPIError(f"order {payload.get('id')}: Shopify's answer is unreadable: {exc}") from exc
    address = None if state.address is None else Address(**{k: state.address.get(k, "") for k in _STORE_ADDRESS_FIELDS})
    name = payload.get("name")
    return StoreState(
        state.updated_at,
        state.cancelled,
        address,
        {item.id: item for item in state.line_items},
        name=name if isinstance(name, str) and name.strip() else None,
    )


def compare(store: StoreState, print_order: PrintOrder) -> PrintChange:
    """The differences between the store order and the print order (items matched on itemReferenceId)."""
    address_fields: tuple[str, ...] = ()
    new_address = None
    if store.address is not None:
        placed = print_order.address
        address_fields = tuple(f for f in ADDRESS_FIELDS if fold(f, getattr(store.address, f)) != fold(f, getattr(placed, f)))
        # The provider needs an email the store payload does not carry: keep the print order's.
        new_address = replace(store.address, email=placed.email)
    by_reference: dict[str, list[PrintItem]] = {}
    for item in print_order.items:
        if item.reference_id is not None:
            by_reference.setdefault(item.reference_id, []).append(item)
    changes = []
    for reference_id, items in by_reference.items():
        line_item = store.line_items.get(reference_id)
        if line_item is None:
            # Not a line item of this store order (or not one we can recognise): never touch it.
            continue
        old = sum(i.quantity for i in items)
        if old != line_item.quantity:
            changes.append(ItemChange(reference_id, line_item.name, old, line_item.quantity, tuple(i.id for i in items)))
    every_item_removed = bool(print_order.items) and all(
        item.reference_id in store.line_items and store.line_items[item.reference_id].quantity == 0 for item in print_order.items
    )
    return PrintChange(print_order, address_fields, new_address, tuple(changes), every_item_removed)


def replacement_for(store: StoreState, old: PrintOrder) -> NewPrintOrder:
    """The print order that would replace old: the store order's address and quantities, old's products and files."""
    address = old.address if store.address is None else replace(store.address, email=old.address.email)
    items = []
    for item in old.items:
        line_item = store.line_items.get(item.reference_id or "")
        quantity = item.quantity if line_item is None else line_item.quantity
        if quantity > 0:
            items.append(
                PrintItem(
                    id="", reference_id=item.reference_id, quantity=quantity, product_uid=item.product_uid, files=item.files
                )
            )
    return NewPrintOrder(
        reference_id=old.reference_id,
        customer_reference_id=old.customer_reference_id or "",
        currency=old.currency or "",
        address=address,
        items=tuple(items),
        shipment_method=old.shipment_method,
    )


def replacement_problem(order: NewPrintOrder) -> str | None:
    """Why the replacement could not be placed as is (checked before anything is cancelled), or None."""
    if not order.items:
        return "no item left to print"
    if not order.currency or not order.customer_reference_id:
        return "the print order has no currency or customer reference to copy"
    if any(not item.reference_id or not item.product_uid for item in order.items):
        return "an item has no product or reference to copy"
    address = order.address
    missing = [
        name
        for name in ("first_name", "last_name", "address1", "city", "zip", "country_code", "email")
        if not getattr(address, name)
    ]
    if missing:
        return f"the shipping address lacks {', '.join(missing)}"
    return None


def matches(print_order: PrintOrder, wanted: NewPrintOrder) -> bool:
    """True when print_order already is the wanted order (same address, same items and quantities)."""
    have = sorted((i.reference_id or "", i.quantity) for i in print_order.items)
    want = sorted((i.reference_id or "", i.quantity) for i in wanted.items)
    return have == want and all(
        fold(f, getattr(print_order.address, f)) == fold(f, getattr(wanted.address, f)) for f in ADDRESS_FIELDS
    )
