"""Guards for orders/updated, checked and recorded in the enqueue transaction: newest update, fingerprint."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import redis
from redis.client import Pipeline

# Long enough to outlive any edit of an order that can still be printed; when a key has expired
# the job compares against the print order itself, so expiry costs one job, never a wrong action.
PRINT_STATE_TTL = 42 * 24 * 3600
FINGERPRINT_KEY_PREFIX = "print-mirror:fingerprint:"
UPDATED_AT_KEY_PREFIX = "print-mirror:updated-at:"


def fingerprint_key(shop: str, order_id: str) -> str:
    """The key holding the fingerprint of the last print-relevant state queued for the order."""
    return f"{FINGERPRINT_KEY_PREFIX}{shop}:{order_id}"


def updated_at_key(shop: str, order_id: str) -> str:
    """The key holding the newest `updated_at` queued for the order."""
    return f"{UPDATED_AT_KEY_PREFIX}{shop}:{order_id}"


def newest_updated_at(connection: redis.Redis | Pipeline, shop: str, order_id: str) -> datetime | None:
    """The newest `updated_at` queued for the order (aware), or None when unknown."""
    return _as_datetime(connection.get(updated_at_key(shop, order_id)))


@dataclass(frozen=True)
class StaleUpdateGuard:
    """Blocks an update older than the newest one already queued for the order (crossed or retried deliveries)."""

    shop: str
    order_id: str
    updated_at: datetime
    ttl: int = PRINT_STATE_TTL

    @property
    def keys(self) -> tuple[str, ...]:
        """The Redis keys watched for this guard."""
        return (updated_at_key(self.shop, self.order_id),)

    def blocks(self, values: Mapping[str, bytes | None]) -> str | None:
        """Why not to enqueue: the stored update is newer (compared as instants, not as text)."""
        newest = _as_datetime(values.get(self.keys[0]))
        if newest is not None and self.updated_at < newest:
            return f"stale update: updated_at {self.updated_at.isoformat()} is older than {newest.isoformat()}"
        return None

    def record(self, pipe: Pipeline) -> None:
        """Remember this update as the newest (blocks() made sure it is not older)."""
        pipe.set(self.keys[0], self.updated_at.isoformat(), ex=self.ttl)


@dataclass(frozen=True)
class FingerprintGuard:
    """Blocks an update whose print-relevant fields equal the last queued ones (notes, tags, payments...)."""

    shop: str
    order_id: str
    fingerprint: str
    ttl: int = PRINT_STATE_TTL

    @property
    def keys(self) -> tuple[str, ...]:
        """The Redis keys watched for this guard."""
        return (fingerprint_key(self.shop, self.order_id),)

    def blocks(self, values: Mapping[str, bytes | None]) -> str | None:
        """Why not to enqueue: nothing the print order depends on changed."""
        stored = values.get(self.keys[0])
        if stored is not None and _text(stored) == self.fingerprint:
            return "no print-relevant change"
        return None

    def record(self, pipe: Pipeline) -> None:
        """Remember this fingerprint as the last one queued."""
        pipe.set(self.keys[0], self.fingerprint, ex=self.ttl)


def _text(value: bytes | str) -> str:
    return value.decode("ascii", "replace") if isinstance(value, bytes) else value


def _as_datetime(value: bytes | str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(_text(value))
    except ValueError:
        # Not ours or corrupted: treat as unknown rather than block every update of the order.
        return None
    return parsed if parsed.tzinfo is not None else None
