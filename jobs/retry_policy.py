"""When a job is retried: exponential backoff with jitter, seconds first; Retry-After honoured."""

from __future__ import annotations

import math
import random

from rq import Retry

from plugin.config import retry_intervals

# The print window is minutes: 2 s, 4 s, 8 s … doubling to 10 min, ten tries, about 25 min in all.
DEFAULT_ATTEMPTS = 10
BASE_SECONDS = 2
MAX_SECONDS = 600


def backoff_intervals(
    attempts: int = DEFAULT_ATTEMPTS, base: float = BASE_SECONDS, cap: float = MAX_SECONDS, rng: random.Random | None = None
) -> list[float]:
    """Seconds before each retry: the n-th is drawn from [d/2, d] with d = min(cap, base·2ⁿ), fractions kept.

    The jitter spreads the retries of a burst of jobs that failed together, so they do not hit the
    remote side again in one wave. Fractions matter: rounded up, the first retry was always 2 s.
    RQ's scheduled registry keeps whole seconds and its scheduler looks once a second, so a retry
    runs within about a second of its drawn time. (A provider outage does not wait on retries at
    all: its jobs are held and released by a probe, jobs/account_health.py.)
    """
    rng = rng or random
    intervals = []
    for n in range(attempts):
        ceiling = min(cap, base * 2**n)
        intervals.append(round(rng.uniform(ceiling / 2, ceiling), 3))
    return intervals


def retry_for(config) -> Retry:
    """The Retry of one job: RETRY_INTERVALS when set (exact, no jitter), else fresh backoff with jitter."""
    intervals = retry_intervals(config) or backoff_intervals()
    return Retry(max=len(intervals), interval=intervals)


def stretch_next_interval(job, wait_seconds: float) -> None:
    """Make the job's next retry wait at least wait_seconds (e.g. Retry-After, a throttle's restore time)."""
    intervals = list(job.retry_intervals or [0])
    index = max(len(intervals) - (job.retries_left or 0), 0)
    index = min(index, len(intervals) - 1)
    intervals[index] = max(intervals[index], math.ceil(wait_seconds))
    job.retry_intervals = intervals
