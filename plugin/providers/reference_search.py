"""Find a store order's print orders when nobody knows which reference the provider filed them under.

Gelato files each print order under an `orderReferenceId`, but its documentation does not say what
its own Shopify connector writes there: the numeric Shopify order id (what this app writes when it
places an order itself) or the order name the merchant sees ("#1001", perhaps without the "#").
Guessing one form would silently miss every order filed under another, and a missed print order is
printed and paid for. So the search tries each form in turn, the exact numeric id first because it
is unique in a shop while a name like "1001" is not, and stops at the first form that finds any:
searching on after a hit could only add orders of another reference. The result says which form
matched and which were tried, so a job can report it and an operator can learn the connector's
habit from real data. Pure logic over the PrintProvider protocol: no HTTP of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from plugin.providers import PrintOrder, PrintProvider


@dataclass(frozen=True)
class ReferenceSearch:
    """What find_print_orders found: the print orders, the reference that found them, every reference tried."""

    orders: list[PrintOrder]
    matched: str | None  # the reference that found the orders; None when none did
    tried: tuple[str, ...]  # every reference searched, in order
    # False when the provider could search only part of its orders (Printify: the newest pages), so
    # "none found" means none among those: the activity says so.
    complete: bool = True


def store_order_references(order_id: str, order_name: str | None) -> tuple[str, ...]:
    """The references a store order's print orders may be filed under: id, name, name without "#"."""
    name = order_name or ""
    candidates = (order_id, name, name.removeprefix("#"))
    references: list[str] = []
    for reference in candidates:
        # An empty or blank reference would match nothing, or worse, every order without one.
        if reference and reference.strip() and reference not in references:
            references.append(reference)
    return tuple(references)


def find_print_orders(provider: PrintProvider, order_id: str, order_name: str | None) -> ReferenceSearch:
    """Search each reference of the store order in turn and stop at the first that finds print orders."""
    references = store_order_references(order_id, order_name)
    search_all = getattr(provider, "find_orders_by_any", None)
    if search_all is not None:
        # A provider that cannot filter by reference reads its pages once for every form (Printify).
        return search_all(references)
    tried: list[str] = []
    for reference in references:
        tried.append(reference)
        orders = provider.find_orders(reference)
        if orders:
            return ReferenceSearch(orders=orders, matched=reference, tried=tuple(tried))
    return ReferenceSearch(orders=[], matched=None, tried=tuple(tried))
