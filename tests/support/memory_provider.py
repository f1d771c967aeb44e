"""An in-memory print provider with Gelato's rules, for unit tests of the jobs' decisions.

Orders live in a dict. Like Gelato: a search answers summaries without items or address; a cancel
succeeds only before production (otherwise REFUSED, Gelato's 409); only drafts can be edited
(otherwise REFUSED, Gelato's 409); a create places a new order, or raises ProviderError when told
to refuse (Gelato's 4xx). Every call is recorded so tests can assert what was read and written.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import count
from typing import Any

from plugin.errors import ProviderError
from plugin.providers import (
    Address,
    CancelResult,
    NewPrintOrder,
    PatchResult,
    PrintItem,
    PrintOrder,
)
from plugin.providers.gelato import phase_of

WRITES = ("cancel_order", "patch_order", "create_order")


class MemoryProvider:
    """A PrintProvider (plugin/providers/__init__.py) holding its print orders in memory."""

    name = "gelato"  # the store-order paragraphs name the provider; this one stands in for Gelato
    supports_replacement = True

    def __init__(self) -> None:
        self.orders: dict[str, PrintOrder] = {}
        self.calls: list[tuple[Any, ...]] = []
        self.refuse_create: str | None = None  # when set, create_order raises ProviderError with it
        self._meanwhile: dict[str, dict[str, Any]] = {}
        self._ids = count(1)

    # -- set-up ------------------------------------------------------------------------------------

    def add(self, order: PrintOrder) -> PrintOrder:
        self.orders[order.id] = order
        return order

    def meanwhile(self, order_id: str, **changes: Any) -> None:
        """Change the order (e.g. status="in_production") right before the next write to it.

        That is the provider moving on between the job's read and its write: production started,
        or a draft placed by someone else.
        """
        self._meanwhile[order_id] = changes

    def writes(self) -> list[tuple[Any, ...]]:
        """The calls that change something at the provider, in order."""
        return [call for call in self.calls if call[0] in WRITES]

    # -- the provider interface --------------------------------------------------------------------

    def find_orders(self, reference_id: str) -> list[PrintOrder]:
        self.calls.append(("find_orders", reference_id))
        # Gelato's search answers carry no items or address.
        return [
            replace(order, items=(), address=Address(), shipping_address={})
            for order in self.orders.values()
            if order.reference_id == reference_id
        ]

    def check_account(self) -> None:
        self.calls.append(("check_account",))

    def get_order(self, order_id: str) -> PrintOrder | None:
        self.calls.append(("get_order", order_id))
        return self.orders.get(order_id)

    def cancel_order(self, order_id: str) -> CancelResult:
        self.calls.append(("cancel_order", order_id))
        order = self._before_write(order_id)
        if order is None:
            return CancelResult.NOT_FOUND
        if not order.is_cancellable:
            return CancelResult.REFUSED  # in production or later, or cancelled already: Gelato's 409
        self.orders[order_id] = replace(order, status="canceled", phase=phase_of("canceled"))
        return CancelResult.CANCELLED

    def patch_order(self, order_id: str, quantities: dict[str, int], address: Address | None) -> PatchResult:
        self.calls.append(("patch_order", order_id, dict(quantities), address))
        order = self._before_write(order_id)
        if order is None:
            return PatchResult.NOT_FOUND
        if not order.is_draft:
            return PatchResult.REFUSED
        unknown = set(quantities) - {item.id for item in order.items}
        if unknown:
            raise ProviderError(f"memory provider: no items {sorted(unknown)} in {order_id}")
        items = tuple(replace(item, quantity=quantities.get(item.id, item.quantity)) for item in order.items)
        self.orders[order_id] = replace(order, items=items, address=order.address if address is None else address)
        return PatchResult.PATCHED

    def create_order(self, order: NewPrintOrder) -> PrintOrder:
        self.calls.append(("create_order", order))
        if self.refuse_create is not None:
            raise ProviderError(self.refuse_create)
        new_id = f"mem-{next(self._ids)}"
        placed = PrintOrder(
            id=new_id,
            reference_id=order.reference_id,
            status="created",
            phase=phase_of("created"),
            items=tuple(replace(item, id=f"{new_id}-item-{n}") for n, item in enumerate(order.items)),
            address=order.address,
            customer_reference_id=order.customer_reference_id,
            currency=order.currency,
            shipment_method=order.shipment_method,
        )
        self.orders[new_id] = placed
        return placed

    def _before_write(self, order_id: str) -> PrintOrder | None:
        changes = self._meanwhile.pop(order_id, None)
        if changes and order_id in self.orders:
            if "status" in changes:
                changes = {**changes, "phase": phase_of(changes["status"])}
            self.orders[order_id] = replace(self.orders[order_id], **changes)
        return self.orders.get(order_id)


def print_item(item_id: str, reference_id: str, quantity: int) -> PrintItem:
    """A print item as placed by the integration: a product and a file to copy into a replacement."""
    return PrintItem(
        id=item_id,
        reference_id=reference_id,
        quantity=quantity,
        product_uid="poster_a4",
        files=({"type": "default", "url": "https://files.example/art.png"},),
    )
