"""A per-store-order lock so two workers never mirror the same order at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis

from plugin.errors import TransientError

LOCK_KEY_PREFIX = "print-mirror:lock:order:"
# Wait briefly for the other worker; beyond that, retry the job later instead of holding a worker.
LOCK_WAIT_SECONDS = 15


@contextmanager
def order_lock(connection: redis.Redis, shop: str, order_id: str, hold_seconds: int) -> Iterator[None]:
    """Hold the lock for (shop, order) for the block; TransientError when it stays busy."""
    lock = connection.lock(
        f"{LOCK_KEY_PREFIX}{shop}:{order_id}", timeout=hold_seconds, blocking_timeout=LOCK_WAIT_SECONDS
    )
    try:
        acquired = lock.acquire()
    except redis.RedisError as exc:
        raise TransientError(f"order lock for {shop} {order_id}: Redis unavailable") from exc
    if not acquired:
        raise TransientError(f"order {shop} {order_id} is being mirrored by another worker")
    try:
        yield
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:
            # Expired while we held it (the job outlived hold_seconds): nothing left to release.
            pass
