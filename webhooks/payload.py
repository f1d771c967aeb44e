"""Checks on the fields of an order payload that the receiver relies on."""

from __future__ import annotations

from .delivery import Rejection

# Shopify ids are unsigned 64-bit integers.
_MAX_ID = 2**64 - 1


def order_id_of(payload: dict) -> str:
    """The order id as a decimal string; ids are ints (or digit strings), never floats."""
    value = payload.get("id")
    if isinstance(value, bool):
        raise Rejection(400, "payload 'id' must be an integer order id")
    if isinstance(value, int) and 0 < value <= _MAX_ID:
        return str(value)
    if isinstance(value, str) and value.isascii() and value.isdigit() and 0 < int(value) <= _MAX_ID:
        return str(int(value))
    raise Rejection(400, "payload 'id' must be an integer order id")
