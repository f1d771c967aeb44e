"""A Redis lock held as a renewed lease: a holder that dies frees it within one lease."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from .errors import TransientError

log = logging.getLogger(__name__)


@contextmanager
def leased_lock(connection: redis.Redis, key: str, *, lease_seconds: float, wait_seconds: float, what: str) -> Iterator[None]:
    """Hold the lock at key for the block, renewing its lease; TransientError when it stays busy.

    `what` names the protected thing in errors ("order x 1"), so a job retried for it says why.
    A process killed while holding it stops renewing, and the lock is free again within lease_seconds.
    """
    lock = connection.lock(
        key, timeout=lease_seconds, blocking_timeout=wait_seconds,
        thread_local=False,  # the renewing thread must see the token
    )
    try:
        acquired = lock.acquire()
    except redis.RedisError as exc:
        raise TransientError(f"lock for {what}: Redis unavailable") from exc
    if not acquired:
        raise TransientError(f"{what} is busy in another worker; retrying later")
    done = threading.Event()
    renewer = threading.Thread(target=_renew, args=(lock, lease_seconds, done), name="lock-lease", daemon=True)
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
            log.warning("lock for %s was already gone at release", what)


def _renew(lock, lease_seconds: float, done: threading.Event) -> None:
    while not done.wait(max(lease_seconds / 3, 0.2)):
        try:
            lock.reacquire()
        except redis.RedisError as exc:
            log.warning("could not renew lock %s: %s", lock.name, type(exc).__name__)
