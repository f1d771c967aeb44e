"""Metrics in Prometheus text format (GET /metrics); counters live in Redis so web and worker add up."""

from __future__ import annotations

import hmac
import logging
import math
from datetime import UTC, datetime

import redis
from flask import Blueprint, Response, current_app, request
from rq import Queue, Worker, get_current_job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from jobs.account_health import AccountHealth, HeldAccount
from jobs.backlog import queue_waits
from jobs.queueing import make_queues
from plugin.orders.timestamps import as_utc
from plugin.store import keys

log = logging.getLogger(__name__)

bp = Blueprint("metrics", __name__)

# One hash holds every counter: a scrape is one HGETALL, a webhook one HINCRBY.
METRICS_KEY = keys.METRICS.prefix
# Fields are "<family>|<label>|<label>"; Shopify topics and outcome names never contain "|".
_SEP = "|"
WEBHOOKS = "webhooks"
JOBS = "jobs"
PRINT_ORDERS = "print_orders"
LATENCY = "webhook_to_provider"
# Seconds from webhook receipt to the cancel call at the provider: the print window is minutes,
# so the interesting range runs from tens of milliseconds (healthy) to minutes (retries, backlog).
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
# Any topic outside this set is counted as "other", so a caller cannot grow the label set.
OTHER = "other"
# Requests whose signature was never verified: the topic they claim is unsigned, so it names nothing.
UNVERIFIED = "unverified"
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def count_webhook(connection: redis.Redis, topic: str, result: str, known_topics) -> None:
    """Count one webhook delivery by topic and result; best effort (one round trip, never raises)."""
    _best_effort(lambda: connection.hincrby(METRICS_KEY, webhook_field_prefix(topic, known_topics) + result, 1))


def webhook_field_prefix(topic: str, known_topics) -> str:
    """The METRICS_KEY field of a webhook count, less the result (the enqueue script appends it)."""
    label = topic if topic in known_topics or topic == UNVERIFIED else OTHER
    return _field(WEBHOOKS, label, "")


def count_job(connection: redis.Redis, job_name: str, outcome: str, print_order_outcomes=()) -> None:
    """Count one job run by outcome (succeeded/retried/failed) and its print-order outcomes."""

    def write():
        with connection.pipeline(transaction=False) as pipe:
            pipe.hincrby(METRICS_KEY, _field(JOBS, job_name, outcome), 1)
            for print_outcome in print_order_outcomes:
                pipe.hincrby(METRICS_KEY, _field(PRINT_ORDERS, job_name, str(print_outcome)), 1)
            pipe.execute()

    _best_effort(write)


def observe_provider_call() -> None:
    """Inside a job: record the seconds since its webhook arrived, right before a provider call."""
    job = get_current_job()
    if job is None or job.created_at is None:
        return
    # created_at is set when the web process enqueued the job for the webhook, and survives retries.
    created = as_utc(job.created_at)
    seconds = max(0.0, (datetime.now(UTC) - created).total_seconds())
    observe_latency(job.connection, seconds)


def observe_latency(connection: redis.Redis, seconds: float) -> None:
    """Add one observation to the webhook→provider histogram (one pipelined round trip)."""
    bucket = next((str(bound) for bound in LATENCY_BUCKETS if seconds <= bound), "+Inf")

    def write():
        with connection.pipeline(transaction=False) as pipe:
            pipe.hincrby(METRICS_KEY, _field(LATENCY, "bucket", bucket), 1)
            pipe.hincrbyfloat(METRICS_KEY, _field(LATENCY, "sum"), seconds)
            pipe.hincrby(METRICS_KEY, _field(LATENCY, "count"), 1)
            pipe.execute()

    _best_effort(write)


def on_job_success(job, connection, result, *args, **kwargs) -> None:
    """RQ success callback: count the job and the outcome of each print order it reports."""
    print_orders = result.get("print_orders") if isinstance(result, dict) else None
    outcomes = list(print_orders.values()) if isinstance(print_orders, dict) else []
    count_job(connection, job_name(job), "succeeded", outcomes)


def job_name(job) -> str:
    """The job's function name without its module (mirror_cancellation)."""
    return (job.func_name or "unknown").rsplit(".", 1)[-1]


def _best_effort(write) -> None:
    # A metric must never fail a webhook or a job: a lost count is better than a lost cancellation.
    try:
        write()
    except redis.RedisError as exc:
        log.warning("metric not recorded: %s", type(exc).__name__)


def _field(*parts: str) -> str:
    return _SEP.join(parts)


# -- exposition -----------------------------------------------------------------------------------


@bp.get("/metrics")
def metrics():
    """Every counter, the queue depth and the webhook→provider histogram, in Prometheus text format."""
    token = current_app.config.get("METRICS_TOKEN")
    if token and not _bearer_matches(request.headers.get("Authorization"), token):
        # Checked before Redis is touched: an unauthenticated caller costs the app nothing.
        return Response(
            "# metrics need Authorization: Bearer <METRICS_TOKEN>\n",
            401,
            content_type=PROMETHEUS_CONTENT_TYPE,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    connection = current_app.extensions["redis"]
    try:
        waits = queue_waits(connection)
        body = render(
            read_counters(connection),
            queue_depth(make_queues(connection), queued=sum(count for count, _ in waits.values())),
            Worker.count(connection=connection),
            waits=waits,
            held=AccountHealth(connection).held(),
        )
    except redis.RedisError as exc:
        return Response(f"# metrics unavailable: Redis {type(exc).__name__}\n", 503, content_type=PROMETHEUS_CONTENT_TYPE)
    return Response(body, 200, content_type=PROMETHEUS_CONTENT_TYPE)


def _bearer_matches(header: str | None, token: str) -> bool:
    """True when the Authorization header is "Bearer <token>" (compared in constant time)."""
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def read_counters(connection: redis.Redis) -> dict[tuple[str, ...], float]:
    """The counters hash as {(family, label, …): value}."""
    raw = connection.hgetall(METRICS_KEY)
    return {tuple(_text(key).split(_SEP)): float(_text(value)) for key, value in raw.items()}


def queue_depth(queues: list[Queue], queued: int) -> dict[str, int]:
    """Jobs per state over the app's queues: waiting (`queued`, counted with each queue's wait), running,
    scheduled for a retry or held, failed."""
    # cleanup=False: a scrape only reads; the worker does RQ's registry maintenance.
    return {
        "queued": queued,
        "started": sum(StartedJobRegistry(queue=queue).get_job_count(cleanup=False) for queue in queues),
        "scheduled": sum(ScheduledJobRegistry(queue=queue).get_job_count(cleanup=False) for queue in queues),
        "failed": sum(FailedJobRegistry(queue=queue).get_job_count(cleanup=False) for queue in queues),
    }


def render(
    counters: dict[tuple[str, ...], float],
    depth: dict[str, int],
    workers: int,
    *,
    waits: dict[str, tuple[int, float]] | None = None,
    held: dict[str, HeldAccount] | None = None,
) -> str:
    """The Prometheus text exposition of the counters, the queue depth and wait (per queue too), held accounts, workers.

    waits: per queue, jobs waiting and the oldest one's wait (jobs/backlog.py), whose longest is the
    overall oldest wait; held: per account held as down or paused, its state and the jobs held for
    it (jobs/account_health.py).
    """
    lines: list[str] = []
    waits = waits or {}

    def family(name: str, kind: str, help_text: str, samples: list[tuple[dict, float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            lines.append(f"{name}{_labels(labels)} {_number(value)}")

    def by(prefix: str, *names: str) -> list[tuple[dict, float]]:
        return sorted(
            (
                (dict(zip(names, key[1:])), value)
                for key, value in counters.items()
                if key[0] == prefix and len(key) == len(names) + 1
            ),
            key=lambda sample: sorted(sample[0].items()),
        )

    webhooks = by(WEBHOOKS, "topic", "result")
    family("print_mirror_webhooks_total", "counter", "Webhook deliveries received, by topic and result.", webhooks)
    family(
        "print_mirror_webhook_duplicates_total",
        "counter",
        "Deliveries already seen (same X-Shopify-Webhook-Id), answered 200 without a second job.",
        [({"topic": labels["topic"]}, value) for labels, value in webhooks if labels["result"] == "duplicate"],
    )
    family(
        "print_mirror_jobs_total",
        "counter",
        "Job runs by job and outcome (succeeded, retried, failed).",
        by(JOBS, "job", "outcome"),
    )
    family(
        "print_mirror_print_orders_total",
        "counter",
        "Print orders handled by jobs, by outcome (cancelled, too_late, …).",
        by(PRINT_ORDERS, "job", "outcome"),
    )
    family(
        "print_mirror_queue_jobs",
        "gauge",
        "Jobs on the queue by state.",
        [({"state": state}, count) for state, count in depth.items()],
    )
    family(
        "print_mirror_queue_oldest_job_age_seconds",
        "gauge",
        "How long the oldest waiting job has waited (0: none waits); growing means the workers fall behind.",
        [({}, round(max((age for _, age in waits.values()), default=0.0), 3))],
    )
    family(
        "print_mirror_queue_waiting_jobs",
        "gauge",
        "Jobs waiting per queue, most urgent first: cancellations, then changes, then sweeps.",
        [({"queue": name}, count) for name, (count, _) in waits.items()],
    )
    family(
        "print_mirror_queue_oldest_wait_seconds",
        "gauge",
        "How long the oldest waiting job of each queue has waited (0: none waits).",
        [({"queue": name}, round(age, 3)) for name, (_, age) in waits.items()],
    )
    family(
        "print_mirror_accounts_held_jobs",
        "gauge",
        "Remote accounts held as down (probed until back) or paused (Retry-After), and the jobs waiting for each.",
        [({"account": account, "state": one.state}, one.jobs) for account, one in sorted((held or {}).items())],
    )
    family("print_mirror_workers", "gauge", "RQ workers alive on this Redis (0: scale the worker process).", [({}, workers)])
    _token_refresh_failures(lines, counters)
    _histogram(lines, counters)
    return "\n".join(lines) + "\n"


def _histogram(lines: list[str], counters: dict[tuple[str, ...], float]) -> None:
    name = "print_mirror_webhook_to_provider_seconds"
    lines.append(f"# HELP {name} Seconds from a webhook's arrival to the job's cancel call at the print provider.")
    lines.append(f"# TYPE {name} histogram")
    cumulative = 0.0
    for bound in (*[str(b) for b in LATENCY_BUCKETS], "+Inf"):
        cumulative += counters.get((LATENCY, "bucket", bound), 0.0)
        lines.append(f'{name}_bucket{{le="{bound}"}} {_number(cumulative)}')
    lines.append(f"{name}_sum {_number(counters.get((LATENCY, 'sum'), 0.0))}")
    lines.append(f"{name}_count {_number(counters.get((LATENCY, 'count'), 0.0))}")


def _labels(labels: dict) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_escape(str(value))}"' for key, value in labels.items()) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isfinite(value) and value == int(value):
        return str(int(value))
    return repr(float(value))


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# -- token refreshes ------------------------------------------------------------------------------

TOKEN_REFRESH_FAILURES = "token_refresh_failures"
# "refused": Shopify refused the refresh token (the shop needs re-authorisation); "transient":
# anything else (timeouts, 5xx, other 4xx, unreadable answers), retried with both tokens kept.
TOKEN_REFRESH_FAILURE_KINDS = ("refused", "transient")


def count_token_refresh_failure(connection: redis.Redis, kind: str) -> None:
    """Count one failed token refresh by kind (refused/transient); best effort, never raises."""
    _best_effort(lambda: connection.hincrby(METRICS_KEY, _field(TOKEN_REFRESH_FAILURES, kind), 1))


def _token_refresh_failures(lines: list[str], counters: dict[tuple[str, ...], float]) -> None:
    # Both kinds are always exposed (0 until the first failure), so an alert on either has a series.
    name = "print_mirror_token_refresh_failures_total"
    lines.append(
        f"# HELP {name} Failed Shopify token refreshes: refused (shop needs re-authorisation) "
        "or transient (tokens kept, job retried)."
    )
    lines.append(f"# TYPE {name} counter")
    for kind in TOKEN_REFRESH_FAILURE_KINDS:
        lines.append(f'{name}{{kind="{kind}"}} {_number(counters.get((TOKEN_REFRESH_FAILURES, kind), 0.0))}')
