"""Shopify ids: unsigned 64-bit integers, kept as decimal strings (they exceed 2^53, so never floats)."""

from __future__ import annotations

from plugin.errors import InvalidOrder

MAX_ID = 2**64 - 1


def parse_id(value: object, where: str = "'id'") -> str:
    """value (an int or a string of digits) as a decimal id string; InvalidOrder for anything else."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID:
        return str(value)
    if isinstance(value, str) and value.isascii() and value.isdigit() and 0 < int(value) <= MAX_ID:
        return str(int(value))
    raise InvalidOrder(f"{where} must be an integer id")


def optional_id(value: object) -> str | None:
    """value as a decimal id string, or None when it is not a valid Shopify id."""
    try:
        return parse_id(value)
    except InvalidOrder:
        return None


def order_gid(order_id: str) -> str:
    """The GraphQL id of a store order from its numeric id."""
    return f"gid://shopify/Order/{order_id}"


def id_of_gid(gid: object, where: str = "'id'") -> str:
    """The numeric id at the end of a GraphQL id (gid://shopify/Type/123)."""
    if not isinstance(gid, str) or "/" not in gid:
        raise InvalidOrder(f"{where} must be a GraphQL id")
    return parse_id(gid.rsplit("/", 1)[-1], where)
