"""A dead worker's scheduler lock is taken over by a live worker, so retries never wait out RQ's minute-long lease."""

from __future__ import annotations

import os
import signal

from rq.scheduler import RQScheduler

from jobs.queueing import QUEUE_NAME
from jobs.worker import SCHEDULER_STALE_SECONDS, release_dead_scheduler_lock
from plugin.dev.procfile import process_env, start, stop, wait_until

LOCK = RQScheduler.get_locking_key(QUEUE_NAME)
INTERVAL = 1  # RQ's scheduler interval: it refreshes its lock to interval + 60 s every interval


def test_a_lock_refreshed_lately_is_kept(redis_client):
    redis_client.set(LOCK, "live-scheduler", ex=INTERVAL + 60)
    assert not release_dead_scheduler_lock(redis_client, QUEUE_NAME, INTERVAL)
    redis_client.set(LOCK, "live-scheduler", ex=INTERVAL + 60 - SCHEDULER_STALE_SECONDS + 1)
    assert not release_dead_scheduler_lock(redis_client, QUEUE_NAME, INTERVAL)
    assert redis_client.get(LOCK) == b"live-scheduler"


def test_a_lock_not_refreshed_for_a_while_is_freed(redis_client):
    redis_client.set(LOCK, "dead-scheduler", ex=INTERVAL + 60 - SCHEDULER_STALE_SECONDS)
    assert release_dead_scheduler_lock(redis_client, QUEUE_NAME, INTERVAL)
    assert redis_client.get(LOCK) is None
    assert not release_dead_scheduler_lock(redis_client, QUEUE_NAME, INTERVAL)  # nothing left to free


def test_a_live_worker_takes_over_the_lock_of_a_killed_one(app, redis_client, tmp_path):
    env = process_env(app.config)  # the production defaults for heartbeat, maintenance and the lease
    first = start("worker", env, str(tmp_path / "first.log"))
    second = None
    try:
        assert wait_until(lambda: redis_client.get(LOCK) is not None, timeout=30), (tmp_path / "first.log").read_text()
        dead_owner = redis_client.get(LOCK)
        os.killpg(first.pid, signal.SIGKILL)  # the worker and its forked scheduler, as a dyno crash would
        first.wait(timeout=10)
        second = start("worker", env, str(tmp_path / "second.log"))
        # Without the takeover the lock stays the dead scheduler's for a minute; RQ then hands it on.
        taken = wait_until(lambda: redis_client.get(LOCK) not in (None, dead_owner), timeout=40)
        assert taken, (tmp_path / "second.log").read_text()
        assert "taking over" in (tmp_path / "second.log").read_text()
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        if second is not None:
            stop(second)
