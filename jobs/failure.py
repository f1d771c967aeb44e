"""RQ failure callback: permanent errors stop retrying at once; transient ones use the Retry policy; held accounts hold."""

from __future__ import annotations

import logging

from rq.utils import now

from jobs.account_health import HELD_RECHECK_SECONDS, AccountHealth, hold_job, store_account
from jobs.retry_policy import stretch_next_interval
from plugin.errors import AccountPaused, PermanentError, RateLimited, TransientError
from plugin.logs import log_event
from plugin.metrics import count_job, job_name
from plugin.shopify.shop_domain import is_valid_shop_domain

log = logging.getLogger(__name__)


def on_job_failure(job, connection, exc_type, exc_value, traceback) -> None:
    """Called by RQ after every failed run of a job, before it decides whether to retry."""
    account = _account_to_wait_for(job, exc_value)
    if account is not None and isinstance(exc_value, RateLimited):
        # A store's throttle pauses the store (before the hold: a release round must not free the job
        # first) for the bucket's restore time; a release round then frees its held jobs.
        AccountHealth(connection).pause(account, exc_value.retry_after or 0.0)
    if account is not None and _hold(job, connection, account):
        _log_job("job_held", job, account=account, retries_left=job.retries_left)
        return
    permanent = isinstance(exc_value, PermanentError)
    attempts = 1 + len(job.retry_intervals or ()) - (job.retries_left or 0)
    if permanent and job.retries_left:
        # Retrying cannot fix bad input or a refused request: fail now, visibly, in the failed registry.
        job.retries_left = 0
    if job.retries_left and isinstance(exc_value, TransientError) and exc_value.retry_after:
        # Retry-After or a throttle's restore time: wait at least that long, never burn a retry early.
        stretch_next_interval(job, exc_value.retry_after)
    # RQ retries after this callback when retries are left: this run is "retried", else "failed".
    count_job(connection, job_name(job), "retried" if job.retries_left else "failed")
    _log_job(
        "job_failed",
        job,
        error_type=exc_type.__name__ if exc_type else None,
        error=str(exc_value)[:300] if exc_value else None,
        permanent=permanent,
        retries_left=job.retries_left or 0,
    )
    if not job.retries_left:
        _tell_the_store_order(job, exc_value, attempts)


def _log_job(event: str, job, **fields) -> None:
    """One JSON log line about a job's run: which job, its store and order, then `fields`."""
    kwargs = job.kwargs or {}
    log_event(event, job=job_name(job), job_id=job.id, shop=kwargs.get("shop"), order_id=kwargs.get("order_id"), **fields)


def _account_to_wait_for(job, error: BaseException | None) -> str | None:
    """The account a failed job waits for: the one held (AccountPaused), or its store's while throttled; else None."""
    if isinstance(error, AccountPaused):
        return error.account
    shop = (job.kwargs or {}).get("shop")
    # A RateLimited that reaches here is Shopify's: a provider's is an AccountPaused by now (GuardedProvider).
    if isinstance(error, RateLimited) and error.retry_after and is_valid_shop_domain(shop):
        return store_account(shop)
    return None


def _hold(job, connection, account: str) -> bool:
    """Set the job aside until its account is back (jobs/account_health.py); False: it fails as any transient error.

    Waiting for an account is not an attempt: while the job is younger than its retry budget (the
    sum of its retry intervals, about 25 minutes by default) the retry RQ is about to spend is
    given back. Past the budget each hold spends one, so a job whose account never comes back
    still ends in the failed registry with its failure note, no earlier than it did before.
    """
    refund = job.retries_left is not None and _age_seconds(job) < sum(job.retry_intervals or ())
    if refund:
        job.retries_left += 1  # RQ's retry takes it back
    if not job.retries_left:
        return False
    job.hold_seconds = HELD_RECHECK_SECONDS  # read by HoldableJob; a plain Job retries at its interval
    hold_job(connection, account, job.id)
    count_job(connection, job_name(job), "held" if refund else "retried")
    return True


def _age_seconds(job) -> float:
    """Seconds since the job was first enqueued (its retries keep its creation time)."""
    if job.created_at is None:
        return 0.0
    created = job.created_at if job.created_at.tzinfo else job.created_at.replace(tzinfo=now().tzinfo)
    return (now() - created).total_seconds()


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
