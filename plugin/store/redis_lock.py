"""A Redis lock held as a renewed lease: a holder that dies frees it within one lease."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis.exceptions import LockNotOwnedError

from plugin.errors import TransientError

log = logging.getLogger(__name__)


class Lease:
    """A held lock: confirm() proves it is still ours and extends it, and remembers once it is gone."""

    def __init__(self, lock, what: str):
        self._lock = lock
        self.what = what
        # Set once Redis says the lock is someone else's or gone (by confirm or the renewing thread):
        # from then on nothing can make it ours again, so confirm fails without asking Redis.
        self._lost = threading.Event()

    @property
    def lost(self) -> bool:
        """Redis has said the lock is no longer ours."""
        return self._lost.is_set()

    def confirm(self) -> None:
        """Extend the lease to its full length now; TransientError when it may no longer be ours."""
        if self._lost.is_set():
            raise TransientError(f"lost the lock for {self.what}; retrying later under the lock")
        try:
            # One atomic script: extends the lease only while the key still holds our token.
            self._lock.reacquire()
        except LockNotOwnedError as exc:
            self.mark_lost()
            raise TransientError(f"lost the lock for {self.what}; retrying later under the lock") from exc
        except redis.RedisError as exc:
            # We cannot prove we still hold it, so we must not act as if we did.
            raise TransientError(f"lock for {self.what}: Redis unavailable, cannot confirm it is held") from exc

    def mark_lost(self) -> None:
        """Record that Redis said the lock is no longer ours."""
        if not self._lost.is_set():
            self._lost.set()
            log.warning("lock for %s was lost (expired or taken by another worker)", self.what)


@contextmanager
def leased_lock(connection: redis.Redis, key: str, *, lease_seconds: float, wait_seconds: float, what: str) -> Iterator[Lease]:
    """Hold the lock at key for the block, renewing its lease; TransientError when it stays busy.

    `what` names the protected thing in errors ("order x 1"), so a job retried for it says why.
    A process killed while holding it stops renewing, and the lock is free again within lease_seconds.
    The block gets the Lease, whose confirm() a writer calls to make sure the lock is still its own.
    """
    lock = connection.lock(
        key,
        timeout=lease_seconds,
        blocking_timeout=wait_seconds,
        thread_local=False,  # the renewing thread must see the token
    )
    try:
        acquired = lock.acquire()
    except redis.RedisError as exc:
        raise TransientError(f"lock for {what}: Redis unavailable") from exc
    if not acquired:
        raise TransientError(f"{what} is busy in another worker; retrying later")
    lease = Lease(lock, what)
    done = threading.Event()
    renewer = threading.Thread(target=_renew, args=(lease, lock, lease_seconds, done), name="lock-lease", daemon=True)
    renewer.start()
    try:
        yield lease
    finally:
        done.set()
        renewer.join()
        try:
            lock.release()
        except redis.RedisError:
            # Lost or expired (e.g. Redis restarted): the lease runs out by itself.
            log.warning("lock for %s was already gone at release", what)


def _renew(lease: Lease, lock, lease_seconds: float, done: threading.Event) -> None:
    while not done.wait(max(lease_seconds / 3, 0.2)):
        try:
            lock.reacquire()
        except LockNotOwnedError:
            # Definitely gone: renewing cannot bring it back, and the next fenced write must stop.
            lease.mark_lost()
            return
        except redis.RedisError as exc:
            log.warning("could not renew lock %s: %s", lock.name, type(exc).__name__)
