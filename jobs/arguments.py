"""The checks of a job's primitive arguments: anything no retry can fix is a permanent InvalidPayload."""

from __future__ import annotations

from plugin.errors import InvalidPayload
from plugin.shopify.shop_domain import is_valid_shop_domain


def check_shop(shop: object) -> None:
    """The shop argument must be exactly name.myshopify.com."""
    if not is_valid_shop_domain(shop):
        raise InvalidPayload(f"job argument shop={str(shop)[:80]!r} is not a *.myshopify.com domain")


def check_order_id(order_id: object, name: str = "order_id") -> None:
    """An order id argument must be a decimal string (ids exceed 2^53: never a number)."""
    if not (isinstance(order_id, str) and order_id.isascii() and order_id.isdigit()):
        raise InvalidPayload(f"job argument {name}={str(order_id)[:40]!r} is not a decimal order id")


def check_order_ids(order_ids: object) -> None:
    """A list of order ids, each a decimal string."""
    if not isinstance(order_ids, list):
        raise InvalidPayload("job argument order_ids must be a list of decimal order ids")
    for order_id in order_ids:
        check_order_id(order_id, "order_ids[]")
