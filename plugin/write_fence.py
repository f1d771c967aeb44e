"""Fence every provider and Shopify write made under an order lock: a job that lost its lock stops first.

An order lock is a lease (plugin/redis_lock.py): a worker that stalls longer than the lease (a
long GC pause, a slow network, a paused VM) loses it, and another worker may take the order. If
the first one then went on writing, both would cancel, patch or note the same order. So right
before each write (a provider cancel, patch, create or delete; an Admin GraphQL mutation) the
writer calls check(), which proves the lock is still held and extends it in one atomic Redis
step; when it is not, or Redis cannot say, check() raises TransientError and RQ retries the job
later, under the lock.

Why a contextvar and not a parameter: the writes happen deep in helpers (the provider client,
AdminClient under orders_api and store_report) that jobs call through several layers. Threading a
lease argument through every one of them would be easy to forget in the next helper, and a
forgotten one is an unfenced write. The order lock sets the current fence for the duration of its
block (jobs/locks.py) and the two clients call check() themselves, so every write under the lock is
fenced, including ones nobody remembered. Other locks (the token-refresh lock of plugin/tokens.py)
do not set it, so nesting them never replaces the order's fence. Outside an order lock (installing
webhooks, the admin page) check() does nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol


class Fence(Protocol):
    """Something that proves a lock is still held, e.g. plugin.store.redis_lock.Lease."""

    def confirm(self) -> None:
        """Return when the lock is still ours (extending it); raise TransientError when not."""


_current: ContextVar[Fence | None] = ContextVar("order_write_fence", default=None)


@contextmanager
def fencing(fence: Fence) -> Iterator[Fence]:
    """Make fence the one every write checks until the block ends (then the previous one again)."""
    token = _current.set(fence)
    try:
        yield fence
    finally:
        _current.reset(token)


def current() -> Fence | None:
    """The fence writes check now; None outside an order lock."""
    return _current.get()


def check() -> None:
    """Right before a write: TransientError unless the current order lock is still held (and extended)."""
    fence = _current.get()
    if fence is not None:
        fence.confirm()
