"""RQ failure callback: permanent errors stop retrying at once; transient ones use the Retry policy."""

from __future__ import annotations

import logging

from jobs.retry_policy import stretch_next_interval
from plugin.errors import PermanentError, TransientError
from plugin.logs import log_event
from plugin.metrics import count_job, job_name

log = logging.getLogger(__name__)


def on_job_failure(job, connection, exc_type, exc_value, traceback) -> None:
    """Called by RQ after every failed run of a job, before it decides whether to retry."""
    permanent = isinstance(exc_value, PermanentError)
    attempts = 1 + len(job.retry_intervals or ()) - (job.retries_left or 0)
    if permanent and job.retries_left:
        # Retrying cannot fix bad input or a refused request: fail now, visibly, in the failed registry.
        job.retries_left = 0
    if job.retries_left and isinstance(exc_value, TransientError) and exc_value.retry_after:
        # Retry-After or a throttle's restore time: wait at least that long, never burn a retry early.
        stretch_next_interval(job, exc_value.retry_after)
    kwargs = job.kwargs or {}
    # RQ retries after this callback when retries are left: this run is "retried", else "failed".
    count_job(connection, job_name(job), "retried" if job.retries_left else "failed")
    log_event(
        "job_failed",
        job=job_name(job),
        job_id=job.id,
        shop=kwargs.get("shop"),
        order_id=kwargs.get("order_id"),
        error_type=exc_type.__name__ if exc_type else None,
        error=str(exc_value)[:300] if exc_value else None,
        permanent=permanent,
        retries_left=job.retries_left or 0,
    )
    if not job.retries_left:
        _tell_the_store_order(job, exc_value, attempts)


def _tell_the_store_order(job, error, attempts: int) -> None:
    """Last attempt failed: leave a note and tag on the order; if even that fails, say so loudly."""
    from .failure_notes import report_final_failure
    from .runtime import services

    try:
        report_final_failure(services(), job, error, attempts)
    except Exception as exc:  # the job stays failed either way; this only decides what we log
        log.error("job %s failed and its store order could not be told: %s", job.id, exc)
        log_event(
            "mirror_failed_unreported",
            job_id=job.id,
            shop=(job.kwargs or {}).get("shop"),
            order_id=(job.kwargs or {}).get("order_id"),
            error=str(exc)[:300],
        )
