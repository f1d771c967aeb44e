"""A per-store-order lock so two workers never mirror the same order at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis

from plugin import write_fence
from plugin.store import keys
from plugin.store.redis_lock import Lease, leased_lock

LOCK_KEY_PREFIX = keys.ORDER_LOCK.prefix
# Wait briefly for the other worker; beyond that, retry the job later instead of holding a worker.
LOCK_WAIT_SECONDS = 15


@contextmanager
def order_lock(connection: redis.Redis, shop: str, order_id: str, lease_seconds: int) -> Iterator[Lease]:
    """Hold the lock for (shop, order) as a renewed lease, fencing every write made under it.

    A worker killed mid-job stops renewing, and the order is free again within lease_seconds
    instead of blocking its own re-run. A worker that lost the lease (stalled past it, another
    worker took the order) is stopped by plugin.write_fence before its next provider or Shopify
    write, with a TransientError, and retried later. TransientError too when the lock stays busy.
    """
    with (
        leased_lock(
            connection,
            f"{LOCK_KEY_PREFIX}{shop}:{order_id}",
            lease_seconds=lease_seconds,
            wait_seconds=LOCK_WAIT_SECONDS,
            what=f"order {shop} {order_id}",
        ) as lease,
        write_fence.fencing(lease),
    ):
        yield lease
