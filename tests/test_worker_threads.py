"""One worker process runs many jobs at once, each in a thread, with RQ's bookkeeping intact."""

from __future__ import annotations

import threading

from rq.job import Job

from jobs import worker as worker_module
from jobs.worker import build_worker, run_worker
from tests.conftest import SHOP
from tests.support.cancellations import cancel_with_webhook


class InFlight:
    """A fake's `before` hook counting the calls it is answering at once (each held for `hold` seconds)."""

    def __init__(self, hold: float):
        self.hold = hold
        self.now = 0
        self.peak = 0
        self._lock = threading.Lock()
        self._released = threading.Event()

    def __call__(self, _call, *_args) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        self._released.wait(self.hold)
        with self._lock:
            self.now -= 1


def test_one_worker_runs_many_jobs_at_once_and_records_each(app, live_app, installed_shop, shopify, gelato, queue):
    app.config["WORKER_CONCURRENCY"] = 8
    orders = [cancel_with_webhook(shopify, gelato, live_app) for _ in range(16)]
    late = cancel_with_webhook(shopify, gelato, live_app, status="printed")
    in_flight = InFlight(hold=0.2)
    gelato.before("POST", r":cancel$", in_flight)
    # Two searches fail once: their jobs are held for Gelato and run again from inside a thread.
    gelato.fail_next("POST", r"/orders:search$", 503, times=2)

    run_worker(app, burst=True, with_scheduler=False)

    assert in_flight.peak >= 4  # the cancel calls overlapped: jobs ran side by side
    assert all(gelato.status_of(print_id) == "canceled" for _, print_id in orders)
    assert all("print-cancelled" in shopify.order(SHOP, order_id)["tags"] for order_id, _ in orders)
    assert "print-cancel-too-late" in shopify.order(SHOP, late[0])["tags"]
    finished = Job.fetch_many(queue.finished_job_registry.get_job_ids(), connection=queue.connection)
    cancellations = [job for job in finished if job.func_name == "jobs.cancellation.mirror_cancellation"]
    assert len(cancellations) == 17 and len(finished) == 34  # and each one's note-and-tag job
    assert queue.failed_job_registry.count == 0 and queue.started_job_registry.count == 0 and queue.count == 0
    # The two failed searches marked Gelato down: those jobs, and any that met the mark, were held
    # and released by a probe (with RETRY_INTERVALS 0 there is no retry budget to hold for free).
    assert len([job for job in cancellations if job.retries_left != 3]) >= 2


def test_a_job_past_its_timeout_in_a_thread_fails_and_the_order_is_told(app, live_app, installed_shop, shopify, gelato, queue):
    app.config.update(WORKER_CONCURRENCY=4, JOB_TIMEOUT=1, RETRY_INTERVALS="0")
    order_id, print_id = cancel_with_webhook(shopify, gelato, live_app)
    gelato.before("POST", r"/orders:search$", InFlight(hold=1.5))

    run_worker(app, burst=True, with_scheduler=False)

    [failed_id] = queue.failed_job_registry.get_job_ids()
    assert "JobTimeoutException" in (Job.fetch(failed_id, connection=queue.connection).latest_result().exc_string or "")
    assert gelato.status_of(print_id) != "canceled"
    assert "print-mirror-failed" in shopify.order(SHOP, order_id)["tags"]


def test_the_workers_own_heartbeat_is_written_at_most_once_a_second_by_its_loop(app, monkeypatch):
    worker = build_worker(app)
    connection = worker.connection
    worker.register_birth()
    try:
        worker.heartbeat()
        first = connection.hget(worker.key, "last_heartbeat")
        worker.heartbeat()  # RQ's loop beats before and after every dequeue: this one is skipped
        assert connection.hget(worker.key, "last_heartbeat") == first
        worker.heartbeat(timeout=500)  # an explicit beat (birth, a long block) always goes through
        assert connection.ttl(worker.key) > 400
        monkeypatch.setattr(worker_module, "WORKER_BEAT_SECONDS", 0.0)
        worker.heartbeat()
        assert connection.hget(worker.key, "last_heartbeat") != first
        assert 0 < connection.ttl(worker.key) <= worker.worker_ttl + 60
    finally:
        worker.register_death()
