"""The print-relevant state of an order (REST webhook shape), normalised, and its fingerprint."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime

from plugin.errors import InvalidOrder

from .ids import parse_id
from .timestamps import parse_timestamp

# The shipping address fields that decide where a print order goes (compared after folding).
ADDRESS_FIELDS = ("name", "company", "address1", "address2", "city", "zip", "province_code", "country_code", "phone")
# Carried to the job too (a replacement print order needs them) but covered by `name` in comparisons.
NAME_PARTS = ("first_name", "last_name")
# Shopify quantities are small; anything this large is a forged or broken payload.
_MAX_QUANTITY = 10**6
_MAX_TEXT = 255
# Formatting a phone number changes nothing about where the parcel goes.
_PHONE_SEPARATORS = re.compile(r"[\s\-().]")


@dataclass(frozen=True)
class LineItemState:
    """One line item: id (decimal string), quantity still ordered, and its name for the texts."""

    id: str
    quantity: int
    name: str = ""


@dataclass(frozen=True)
class PrintState:
    """What the print order depends on, read from one orders/updated payload."""

    order_id: str
    updated_at: datetime
    cancelled: bool
    address: dict[str, str] | None  # ADDRESS_FIELDS + NAME_PARTS, cleaned, original case; None: no shipping
    line_items: tuple[LineItemState, ...]

    def fingerprint(self) -> str:
        """A hash of the folded print-relevant fields; equal exactly when nothing print-relevant changed."""
        material = {
            "address": None if self.address is None else {f: fold(f, self.address.get(f, "")) for f in ADDRESS_FIELDS},
            "items": sorted([item.id, item.quantity] for item in self.line_items),
            "cancelled": self.cancelled,
        }
        encoded = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(encoded.encode()).hexdigest()[:32]


def clean(value: str | None) -> str:
    """Trim and collapse inner whitespace; None becomes empty."""
    return " ".join((value or "").split())


def fold(field: str, value: str | None) -> str:
    """The comparable form of an address field: cleaned, case-folded; phones without separators."""
    folded = clean(value).casefold()
    if field == "phone":
        folded = _PHONE_SEPARATORS.sub("", folded)
    return folded


def print_state_of(payload: dict) -> PrintState:
    """The PrintState of an order payload; InvalidOrder when a relied-on field is missing or has a wrong type."""
    order_id = order_id_of(payload)
    updated_at = parse_timestamp(payload.get("updated_at"), "payload 'updated_at'")
    cancelled_at = payload.get("cancelled_at")
    if cancelled_at is not None:
        parse_timestamp(cancelled_at, "payload 'cancelled_at'")
    return PrintState(
        order_id=order_id,
        updated_at=updated_at,
        cancelled=cancelled_at is not None,
        address=_address_of(payload.get("shipping_address")),
        line_items=_line_items_of(payload),
    )


def order_id_of(payload: dict) -> str:
    """The order id of a payload as a decimal string."""
    return parse_id(payload.get("id"), "payload 'id'")


def _address_of(raw: object) -> dict[str, str] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidOrder("payload 'shipping_address' must be an object or null")
    address = {}
    for field in (*ADDRESS_FIELDS, *NAME_PARTS):
        value = raw.get(field)
        if value is not None and not isinstance(value, str):
            raise InvalidOrder(f"payload 'shipping_address.{field}' must be text or null")
        address[field] = clean(value)[:_MAX_TEXT]
    return address


def _line_items_of(payload: dict) -> tuple[LineItemState, ...]:
    raw_items = payload.get("line_items")
    # A missing list must not read as "every item removed": that would cancel print orders.
    if not isinstance(raw_items, list):
        raise InvalidOrder("payload 'line_items' must be a list")
    refunded: dict[str, int] | None = None
    items: dict[str, LineItemState] = {}
    for index, raw in enumerate(raw_items):
        where = f"line_items[{index}]"
        if not isinstance(raw, dict):
            raise InvalidOrder(f"payload '{where}' must be an object")
        item_id = _id_of(raw.get("id"), f"{where}.id")
        if item_id in items:
            raise InvalidOrder(f"payload '{where}.id' repeats line item {item_id}")
        quantity = _quantity_of(raw.get("quantity"), f"{where}.quantity")
        current = raw.get("current_quantity")
        if current is not None:
            quantity = _quantity_of(current, f"{where}.current_quantity")
        else:
            # Older payloads lack current_quantity: subtract what was refunded (removed items are refunded).
            if refunded is None:
                refunded = _refunded_quantities(payload)
            quantity = max(0, quantity - refunded.get(item_id, 0))
        name = raw.get("name") if isinstance(raw.get("name"), str) else raw.get("title")
        items[item_id] = LineItemState(item_id, quantity, clean(name if isinstance(name, str) else "")[:_MAX_TEXT])
    return tuple(items.values())


def _refunded_quantities(payload: dict) -> dict[str, int]:
    refunds = payload.get("refunds")
    if refunds is None:
        return {}
    if not isinstance(refunds, list):
        raise InvalidOrder("payload 'refunds' must be a list")
    total: dict[str, int] = {}
    for refund in refunds:
        lines = refund.get("refund_line_items") if isinstance(refund, dict) else None
        if not isinstance(lines, list):
            raise InvalidOrder("payload 'refunds[].refund_line_items' must be a list")
        for line in lines:
            if not isinstance(line, dict):
                raise InvalidOrder("payload 'refunds[].refund_line_items[]' must be objects")
            item_id = _id_of(line.get("line_item_id"), "refund_line_items[].line_item_id")
            total[item_id] = total.get(item_id, 0) + _quantity_of(line.get("quantity"), "refund_line_items[].quantity")
    return total


def _id_of(value: object, where: str) -> str:
    return parse_id(value, f"payload '{where}'")


def _quantity_of(value: object, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_QUANTITY:
        return value
    raise InvalidOrder(f"payload '{where}' must be a non-negative integer")
