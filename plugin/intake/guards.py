"""Guards for orders/updated, checked and recorded in the enqueue script: newest update, fingerprint."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import redis

from plugin.intake.registry import GuardRule
from plugin.orders.timestamps import as_micros, from_micros
from plugin.store import keys

# Long enough to outlive any edit of an order that can still be printed; when a key has expired
# the job compares against the print order itself, so expiry costs one job, never a wrong action.
PRINT_STATE_TTL = 42 * 24 * 3600
FINGERPRINT_KEY_PREFIX = keys.FINGERPRINT.prefix
UPDATED_AT_KEY_PREFIX = keys.UPDATED_AT.prefix


def fingerprint_key(shop: str, order_id: str) -> str:
    """The key holding the fingerprint of the last print-relevant state queued for the order."""
    return f"{FINGERPRINT_KEY_PREFIX}{shop}:{order_id}"


def updated_at_key(shop: str, order_id: str) -> str:
    """The key holding the newest `updated_at` queued for the order."""
    return f"{UPDATED_AT_KEY_PREFIX}{shop}:{order_id}"


def newest_updated_at(connection: redis.Redis, shop: str, order_id: str) -> datetime | None:
    """The newest `updated_at` queued for the order (aware, UTC), or None when unknown."""
    return from_micros(connection.get(updated_at_key(shop, order_id)))


@dataclass(frozen=True)
class StaleUpdateGuard:
    """Blocks an update older than the newest one already queued for the order (crossed or retried deliveries)."""

    shop: str
    order_id: str
    updated_at: datetime
    ttl: int = PRINT_STATE_TTL
    rule = GuardRule.NOT_OLDER

    @property
    def key(self) -> str:
        """The key holding the newest update queued for the order."""
        return updated_at_key(self.shop, self.order_id)

    @property
    def value(self) -> str:
        """This update's time as epoch microseconds (offsets compare as instants, not as text)."""
        return str(as_micros(self.updated_at))

    def reason(self, stored: str) -> str:
        """Why not to enqueue: the stored update is newer."""
        newest = from_micros(stored)
        shown = newest.isoformat() if newest else stored
        return f"stale update: updated_at {self.updated_at.isoformat()} is older than {shown}"


@dataclass(frozen=True)
class FingerprintGuard:
    """Blocks an update whose print-relevant fields equal the last queued ones (notes, tags, payments...)."""

    shop: str
    order_id: str
    fingerprint: str
    ttl: int = PRINT_STATE_TTL
    rule = GuardRule.DIFFERS

    @property
    def key(self) -> str:
        """The key holding the fingerprint of the last print-relevant state queued."""
        return fingerprint_key(self.shop, self.order_id)

    @property
    def value(self) -> str:
        """The fingerprint to compare and remember."""
        return self.fingerprint

    def reason(self, stored: str) -> str:
        """Why not to enqueue: nothing the print order depends on changed."""
        return "no print-relevant change"


@dataclass(frozen=True)
class SweepGuard(StaleUpdateGuard):
    """Blocks a reconciliation sweep's job unless the order's update is newer than any already queued.

    Same key and value as StaleUpdateGuard, a stricter rule: a webhook that was handled stored this
    very update's time, so the sweep then costs nothing.
    """

    rule = GuardRule.NEWER

    def reason(self, stored: str) -> str:
        """Why not to enqueue: this update, or a newer one, was queued already."""
        return "already queued"
