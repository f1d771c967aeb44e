"""The worker process: RQ with the scheduler, jobs run in-process with the app already loaded."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import redis
from flask import Flask
from rq import SimpleWorker
from rq.scheduler import RQScheduler
from rq.scripts import release_lock
from rq.timeouts import TimerDeathPenalty

from jobs.account_health import DOWN, AccountHealth, HoldableJob
from jobs.lanes import LaneQueue
from jobs.queueing import make_queues
from plugin.config import DEFAULT_JOB_HEARTBEAT_TTL

# Imported here, before any job runs, so no job pays for importing them.
from . import cancellation, failure, privacy, reconcile, tell_store, uninstall, updates  # noqa: F401

log = logging.getLogger(__name__)

# RQ's scheduler refreshes its per-queue lock to interval + 60 s every second while it lives; a lock not
# refreshed for this long belongs to a dead scheduler (a worker killed with it), and any worker takes it
# over instead of waiting out the minute: retries of a crashed worker's job must not wait that long.
SCHEDULER_STALE_SECONDS = 5
# How often each worker looks for held jobs to release (accounts back up, probes due): one ZRANGE when none is held.
RELEASE_ROUND_SECONDS = 0.25
# A burst worker (tests, `flask jobs` one-offs) waits for held jobs whose pause ends within this long.
BURST_PAUSE_WAIT = 2.0
# The worker's own key lives worker_ttl + 60 s (75 s at least); beating it once a second is plenty.
WORKER_BEAT_SECONDS = 1.0
# Pauses before a worker that lost Redis mid-bookkeeping starts again.
RECONNECT_FIRST_PAUSE = 1.0
RECONNECT_MAX_PAUSE = 30.0


class MirrorWorker(SimpleWorker):
    """Runs up to `concurrency` jobs at once, each in a thread of the worker process (no fork per job).

    RQ's default Worker forks a child per job; a child re-imports whatever the parent had not
    imported and reopens HTTP and database connections. Measured by `manage.py bench` for a
    no-op job: about 3 jobs/s forking with a module that imports the app, 55 forking with a
    light module, 200 in-process. Our jobs are short I/O calls, so the warm process wins; a
    crashed process is restarted by the platform and its abandoned jobs re-run (jobs are idempotent).

    A job waits on the network for nearly all its time, so the main thread keeps dequeuing while
    jobs run in a pool of threads, and waits only when every thread is busy. Each job runs inside
    the app context, under RQ's usual bookkeeping (perform_job: registries, retries, callbacks); its
    timeout is a timer in its own thread, as RQ's signal-based one works in the main thread only.

    One heartbeat thread renews every running job's entry in RQ's started registry every third of
    JOB_HEARTBEAT_TTL. A process killed mid-job stops renewing, so its jobs are found abandoned
    within JOB_HEARTBEAT_TTL + WORKER_MAINTENANCE_INTERVAL and retried, instead of the job
    timeout + 60 s an in-process job would otherwise hold the entry for.
    """

    heartbeat_ttl = DEFAULT_JOB_HEARTBEAT_TTL
    stop_requested = False
    config: dict = {}
    # RQ's default timeout raises from SIGALRM, which only the main thread receives.
    death_penalty_class = TimerDeathPenalty

    def __init__(self, *args, app: Flask, concurrency: int = 1, **kwargs):
        """RQ's worker, running up to `concurrency` jobs at once inside `app`'s context."""
        super().__init__(*args, **kwargs)
        self.app = app
        self.concurrency = max(1, concurrency)
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="job")
        self._slots = threading.Semaphore(self.concurrency)
        # execution id → (job, execution) of every job running in a thread; guarded by _changed.
        self._running: dict[str, tuple] = {}
        self._changed = threading.Condition()
        self._beat_stop = threading.Event()
        self._beat_thread: threading.Thread | None = None
        self._release_thread: threading.Thread | None = None
        self.health = AccountHealth(self.connection)
        self._last_beat = float("-inf")
        self.probe_interval = app.config["PROVIDER_PROBE_INTERVAL"]

    def run_maintenance_tasks(self):
        """A dead scheduler's lock freed, RQ's registry cleaning (and scheduler start), then the reconciliation sweep."""
        if self.scheduler is not None:
            try:
                for queue in self.queues:
                    release_dead_scheduler_lock(self.connection, queue.name, self.scheduler.interval)
            except redis.RedisError as exc:
                log.warning("could not check the scheduler lock: %s", type(exc).__name__)
        # RQ's maintenance then acquires any free lock and starts this worker's scheduler.
        super().run_maintenance_tasks()
        try:
            reconcile.schedule_if_due(self.connection, self.config)
        except redis.RedisError as exc:
            log.warning("could not schedule reconciliation: %s", type(exc).__name__)

    def request_stop(self, signum, frame):
        """Remember that the platform asked us to stop (SIGTERM/SIGINT), then stop as RQ does."""
        self.stop_requested = True
        super().request_stop(signum, frame)

    def heartbeat(self, timeout=None, pipeline=None):
        """RQ's worker heartbeat, at most once a WORKER_BEAT_SECONDS when RQ's loop calls it on its own.

        RQ beats (three Redis round trips) before and after every dequeue and after every job
        start: with jobs running in threads that was about half the main thread's CPU a job, for
        a key that lives worker_ttl + 60 s. Beats with an explicit timeout or a pipeline (birth,
        a job's start) always go through.
        """
        if timeout is None and pipeline is None:
            now = time.monotonic()
            if now - self._last_beat < WORKER_BEAT_SECONDS:
                return
            self._last_beat = now
        super().heartbeat(timeout, pipeline)

    def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
        """Short: the heartbeat thread keeps a live job's entry fresh."""
        return self.heartbeat_ttl

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        """Wait for a free thread, then dequeue as RQ does; in burst mode, stop only once no job runs either."""
        if not self._take_slot():
            return None
        if timeout is not None:
            self._start_release_rounds()
        result = None
        try:
            while True:
                result = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
                if result is not None or timeout is not None:
                    break
                # Burst: nothing waits now, but a running job may still queue work (a retry, a follow-up),
                # and held jobs wait for their account's probe.
                with self._changed:
                    running = bool(self._running)
                # Redis round trips outside the lock: finishing jobs take it to say they ended.
                if not running and not self._release_held_in_burst():
                    break
                with self._changed:
                    self._changed.wait(timeout=RELEASE_ROUND_SECONDS)
        finally:
            if result is None:
                self._slots.release()
        return result

    def _take_slot(self) -> bool:
        """Block until a thread is free (True), or until a stop was asked for (False)."""
        while not self._slots.acquire(timeout=1):
            if self._stop_requested:
                return False
        return True

    def execute_job(self, job, queue):
        """Start the job in a free thread and return at once; the thread holds its slot until the job ends."""
        execution = self.prepare_execution(job)
        with self._changed:
            self._running[execution.id] = (job, execution)
        self._start_heartbeats()
        try:
            self._pool.submit(self._perform, job, queue, execution)
        except BaseException:
            self._job_ended(execution)
            raise

    def _perform(self, job, queue, execution) -> None:
        try:
            with self.app.app_context():
                self.perform_job(job, queue, execution)
        except Exception:
            # perform_job records a job's own failure; this is RQ's bookkeeping failing (Redis lost).
            # The job stays in the started registry and is re-run as abandoned.
            log.exception("job %s: recording its end failed", job.id)
        finally:
            self._job_ended(execution)

    def _job_ended(self, execution) -> None:
        with self._changed:
            self._running.pop(execution.id, None)
            self._changed.notify_all()
        self._slots.release()

    def _release_held_in_burst(self) -> bool:
        """One release round for a burst worker; True when it released a job or held jobs are due soon.

        Due soon: a down account's next probe, or a pause ending within BURST_PAUSE_WAIT; a burst
        does not wait out a longer pause (a store's notes paced for its bucket, a long Retry-After).
        """
        released = self.health.release_round(self.probe_interval)
        return bool(released) or any(
            one.jobs and (one.state == DOWN or one.seconds_left <= BURST_PAUSE_WAIT) for one in self.health.held().values()
        )

    def _start_release_rounds(self) -> None:
        if self._release_thread is None:
            self._release_thread = threading.Thread(target=self._release_rounds, name="held-jobs", daemon=True)
            self._release_thread.start()

    def _release_rounds(self) -> None:
        """Every worker releases held jobs: those of accounts back up, and each down account's probe when due."""
        while not self._beat_stop.wait(RELEASE_ROUND_SECONDS):
            try:
                self.health.release_round(self.probe_interval)
            except redis.RedisError as exc:
                log.warning("releasing held jobs failed: %s", type(exc).__name__)
            except Exception:
                # Logged with its traceback, and the rounds go on: a thread that died here would leave
                # this worker's share of held jobs to the other workers or to their 5-minute safety run.
                log.exception("releasing held jobs failed")

    def _start_heartbeats(self) -> None:
        if self._beat_thread is None:
            self._beat_thread = threading.Thread(target=self._beat, name="job-heartbeat", daemon=True)
            self._beat_thread.start()

    def _beat(self) -> None:
        while not self._beat_stop.wait(max(self.heartbeat_ttl / 3, 0.5)):
            with self._changed:
                running = list(self._running.values())
            for job, execution in running:
                try:
                    self.maintain_heartbeats(job, execution)
                except redis.RedisError as exc:
                    # The job itself will hit the same outage and fail or retry; keep beating.
                    log.warning("heartbeat for job %s failed: %s", job.id, type(exc).__name__)

    def teardown(self):
        """Let the running jobs finish (a warm stop), then unregister as RQ does."""
        self._pool.shutdown(wait=True)
        self._beat_stop.set()
        super().teardown()


def release_dead_scheduler_lock(connection: redis.Redis, queue_name: str, interval: float) -> bool:
    """Delete the queue's scheduler lock when its holder stopped refreshing it; True when it was freed."""
    key = RQScheduler.get_locking_key(queue_name)
    owner = connection.get(key)
    if owner is None:
        return False
    remaining = connection.ttl(key)
    # A live holder sets the TTL back to interval + 60 every interval seconds.
    if remaining < 0 or remaining > interval + 60 - SCHEDULER_STALE_SECONDS:
        return False
    # Token-checked: a holder that refreshed in between, or a new one, keeps its lock.
    freed = release_lock(connection, key, owner.decode())
    if freed:
        log.warning("scheduler lock of %s was held by a dead scheduler; taking over", queue_name)
    return freed


def build_worker(app: Flask, name: str | None = None) -> MirrorWorker:
    """A worker on the app's queue and Redis."""
    connection = app.extensions["services"].redis
    worker = MirrorWorker(
        make_queues(connection),  # most urgent first, each store's lane in turn (jobs/lanes.py)
        connection=connection,
        queue_class=LaneQueue,
        job_class=HoldableJob,  # a job held for its account waits for a release, not its retry interval
        app=app,
        concurrency=app.config["WORKER_CONCURRENCY"],
        name=name,
        # RQ blocks on the queue for worker_ttl - 15 s: wake as often as maintenance is due.
        worker_ttl=app.config["WORKER_MAINTENANCE_INTERVAL"] + 15,
        maintenance_interval=app.config["WORKER_MAINTENANCE_INTERVAL"],
    )
    worker.heartbeat_ttl = app.config["JOB_HEARTBEAT_TTL"]
    worker.config = app.config
    return worker


def run_worker(app: Flask, *, burst: bool = False, with_scheduler: bool = True, name: str | None = None) -> bool:
    """Work the queue inside an app context until stopped (or until empty when burst).

    RQ survives Redis outages while it waits for jobs, but quits when one hits while it records
    a job's end: then start a fresh worker after a pause instead of exiting. The interrupted job
    stays in the started registry and is re-run as abandoned (jobs are idempotent).
    """
    pause = RECONNECT_FIRST_PAUSE
    with app.app_context():
        while True:
            worker = build_worker(app, name=name)
            worked = worker.work(burst=burst, with_scheduler=with_scheduler, logging_level="INFO")
            if burst or worker.stop_requested:
                return worked
            # RQ logs the cause ("found an unhandled exception, quitting...") and returns.
            log.error("worker quit without being asked to (Redis lost?); starting a new one in %.0f s", pause)
            time.sleep(pause)
            pause = min(pause * 2, RECONNECT_MAX_PAUSE)
            name = None  # the old name may stay registered until its key expires
