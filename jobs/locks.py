"""A per-store-order lock so two workers never mirror the same order at once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from plugin.errors import TransientError

log = logging.getLogger(__name__)

LOCK_KEY_PREFIX = "print-mirror:lock:order:"
# Wait briefly for the other worker; beyond that, retry the job later instead of holding a worker.
LOCK_WAIT_SECONDS = 15


@contextmanager
def order_lock(connection: redis.Redis, shop: str, order_id: str, lease_seconds: int) -> Iterator[None]:
    """Hold the lock for (shop, order) for the block; TransientError when it stays busy.

    The lock is a lease renewed while the block runs: a worker killed mid-job stops renewing,
    and the order is free again within lease_seconds instead of blocking its own re-run.
    """
    lock = connection.lock(
        f"{LOCK_KEY_PREFIX}{shop}:{order_id}", timeout=lease_seconds, blocking_timeout=LOCK_WAIT_SECONDS,
        thread_local=False,  # the renewing thread must see the token
    )
    try:
        acquired = lock.acquire()
    except redis.RedisError as exc:
        raise TransientError(f"order lock for {shop} {order_id}: Redis unavailable") from exc
    if not acquired:
        raise TransientError(f"order {shop} {order_id} is being mirrored by another worker")
    done = threading.Event()
    renewer = threading.Thread(target=_renew, args=(lock, lease_seconds, done), name="order-lock-lease", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        done.set()
        renewer.join()
        try:
            lock.release()
        except redis.RedisError:
            # Lost or expired (e.g. Redis restarted): the lease runs out by itself.
            log.warning("order lock for %s %s was already gone at release", shop, order_id)


def _renew(lock, lease_seconds: int, done: threading.Event) -> None:
    while not done.wait(max(lease_seconds / 3, 0.2)):
        try:
            lock.reacquire()
        except redis.RedisError as exc:
            log.warning("could not renew order lock %s: %s", lock.name, type(exc).__name__)
