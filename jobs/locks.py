"""A per-store-order lock so two workers never mirror the same order at once."""

from __future__ import annotations

from contextlib import AbstractContextManager

import redis

from plugin.redis_lock import leased_lock

LOCK_KEY_PREFIX = "print-mirror:lock:order:"
# Wait briefly for the other worker; beyond that, retry the job later instead of holding a worker.
LOCK_WAIT_SECONDS = 15


def order_lock(connection: redis.Redis, shop: str, order_id: str, lease_seconds: int) -> AbstractContextManager[None]:
    """Hold the lock for (shop, order) as a renewed lease; TransientError when it stays busy.

    A worker killed mid-job stops renewing, and the order is free again within lease_seconds
    instead of blocking its own re-run.
    """
    return leased_lock(
        connection, f"{LOCK_KEY_PREFIX}{shop}:{order_id}",
        lease_seconds=lease_seconds, wait_seconds=LOCK_WAIT_SECONDS, what=f"order {shop} {order_id}",
    )
