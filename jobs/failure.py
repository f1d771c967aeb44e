"""RQ failure callback: permanent errors stop retrying at once; transient ones use the Retry policy."""

from __future__ import annotations

import logging

from plugin.errors import PermanentError
from plugin.logs import log_event
from plugin.metrics import count_job, job_name

log = logging.getLogger(__name__)


def on_job_failure(job, connection, exc_type, exc_value, traceback) -> None:
    """Called by RQ after every failed run of a job, before it decides whether to retry."""
    permanent = isinstance(exc_value, PermanentError)
    if permanent and job.retries_left:
        # Retrying cannot fix bad input or a refused request: fail now, visibly, in the failed registry.
        job.retries_left = 0
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
