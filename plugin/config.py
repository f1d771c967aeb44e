"""Configuration from the environment: the operator contract's names and their defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping

DEFAULT_API_VERSION = "2026-10"
DEFAULT_SCOPES = "read_orders,write_orders"
DEFAULT_ADMIN_URL = "https://{shop}"
DEFAULT_GELATO_API_URL = "https://order.gelatoapis.com"
DEFAULT_PRINTFUL_API_URL = "https://api.printful.com"
DEFAULT_PRINTIFY_API_URL = "https://api.printify.com"
DEFAULT_APP_URL = "http://127.0.0.1:5000"

# Shopify sends order payloads of a few KiB; anything near a MiB is abuse or a bug.
DEFAULT_WEBHOOK_MAX_BYTES = 1024 * 1024
# Shopify retries a delivery for 4 hours; keep delivery ids well past that.
DEFAULT_WEBHOOK_DEDUPE_TTL = 48 * 3600
# Empty: exponential backoff with jitter (plugin/retry_policy.py); a list pins exact intervals.
DEFAULT_RETRY_INTERVALS = ""
# Connect fast-fail (a provider that does not answer in 3 s is down), read longer.
DEFAULT_HTTP_CONNECT_TIMEOUT = 3.05
DEFAULT_HTTP_READ_TIMEOUT = 15.0
# Lease of the per-order lock, renewed while the job runs: a killed worker frees it this fast.
DEFAULT_ORDER_LOCK_SECONDS = 15
DEFAULT_JOB_TIMEOUT = 90
# A worker killed mid-job is noticed within JOB_HEARTBEAT_TTL + WORKER_MAINTENANCE_INTERVAL seconds, and its
# scheduler's lock taken over within SCHEDULER_STALE_SECONDS (jobs/worker.py) + WORKER_MAINTENANCE_INTERVAL.
# Measured by `manage.py bench --only crash` (docs/benchmarks.md).
DEFAULT_JOB_HEARTBEAT_TTL = 10
DEFAULT_WORKER_MAINTENANCE_INTERVAL = 5
# Jobs one worker process runs at once, each in a thread: a job mostly waits on Shopify and the
# provider (about 1 s at real API speeds, ~18 ms of CPU), so one process keeps many in flight.
# Measured (docs/benchmarks.md): 32 gives 28 cancellations/s a process at real API speeds in 95 MiB;
# 16 gave 15/s. A small dyno (512 MiB, one core) holds it easily.
DEFAULT_WORKER_CONCURRENCY = 32
# How often a provider account held as down is probed (one held job released to call it): seconds.
DEFAULT_PROVIDER_PROBE_INTERVAL = 1.5
# Reconciliation: sweep every installed shop this often (0 turns it off), at most this many orders a sweep.
DEFAULT_RECONCILE_INTERVAL = 15 * 60
DEFAULT_RECONCILE_MAX_ORDERS = 250

# (config key, environment name, default, parser)
_SETTINGS = (
    ("SHOPIFY_API_KEY", "SHOPIFY_API_KEY", "", str),
    ("SHOPIFY_API_SECRET", "SHOPIFY_API_SECRET", "", str),
    ("SHOPIFY_API_SECRET_OLD", "SHOPIFY_API_SECRET_OLD", "", str),
    ("SHOPIFY_API_VERSION", "SHOPIFY_API_VERSION", DEFAULT_API_VERSION, str),
    ("SHOPIFY_SCOPES", "SHOPIFY_SCOPES", DEFAULT_SCOPES, str),
    ("SHOPIFY_ADMIN_URL", "SHOPIFY_ADMIN_URL", DEFAULT_ADMIN_URL, str),
    ("GELATO_API_KEY", "GELATO_API_KEY", "", str),
    ("GELATO_API_URL", "GELATO_API_URL", DEFAULT_GELATO_API_URL, str),
    ("PRINTFUL_API_URL", "PRINTFUL_API_URL", DEFAULT_PRINTFUL_API_URL, str),
    ("PRINTIFY_API_URL", "PRINTIFY_API_URL", DEFAULT_PRINTIFY_API_URL, str),
    ("APP_URL", "APP_URL", DEFAULT_APP_URL, str),
    ("WEBHOOK_SUBSCRIPTIONS", "WEBHOOK_SUBSCRIPTIONS", "app", str),  # "app" registers on install; "toml": shopify.app.toml does
    ("SECRET_KEY", "SECRET_KEY", "", str),
    ("TOKEN_ENCRYPTION_KEY", "TOKEN_ENCRYPTION_KEY", "", str),
    ("REDIS_URL", "REDIS_URL", "", str),
    ("REDIS_SSL_CERT_REQS", "REDIS_SSL_CERT_REQS", "required", str),
    ("DATABASE_URL", "DATABASE_URL", "", str),
    ("WEBHOOK_MAX_BYTES", "WEBHOOK_MAX_BYTES", DEFAULT_WEBHOOK_MAX_BYTES, int),
    ("WEBHOOK_DEDUPE_TTL", "WEBHOOK_DEDUPE_TTL", DEFAULT_WEBHOOK_DEDUPE_TTL, int),
    ("RETRY_INTERVALS", "RETRY_INTERVALS", DEFAULT_RETRY_INTERVALS, str),
    ("HTTP_CONNECT_TIMEOUT", "HTTP_CONNECT_TIMEOUT", DEFAULT_HTTP_CONNECT_TIMEOUT, float),
    ("HTTP_READ_TIMEOUT", "HTTP_READ_TIMEOUT", DEFAULT_HTTP_READ_TIMEOUT, float),
    ("ORDER_LOCK_SECONDS", "ORDER_LOCK_SECONDS", DEFAULT_ORDER_LOCK_SECONDS, int),
    ("JOB_TIMEOUT", "JOB_TIMEOUT", DEFAULT_JOB_TIMEOUT, int),
    ("LOG_LEVEL", "LOG_LEVEL", "INFO", str),
    ("JOB_HEARTBEAT_TTL", "JOB_HEARTBEAT_TTL", DEFAULT_JOB_HEARTBEAT_TTL, int),
    ("WORKER_MAINTENANCE_INTERVAL", "WORKER_MAINTENANCE_INTERVAL", DEFAULT_WORKER_MAINTENANCE_INTERVAL, int),
    ("WORKER_CONCURRENCY", "WORKER_CONCURRENCY", DEFAULT_WORKER_CONCURRENCY, int),
    ("PROVIDER_PROBE_INTERVAL", "PROVIDER_PROBE_INTERVAL", DEFAULT_PROVIDER_PROBE_INTERVAL, float),
    ("RECONCILE_INTERVAL", "RECONCILE_INTERVAL", DEFAULT_RECONCILE_INTERVAL, int),
    ("RECONCILE_MAX_ORDERS", "RECONCILE_MAX_ORDERS", DEFAULT_RECONCILE_MAX_ORDERS, int),
    ("METRICS_TOKEN", "METRICS_TOKEN", "", str),  # empty: /metrics is open, as Prometheus scrapes it by default
    # Set only by `manage.py run` in sandbox mode: the admin page's stand-in for App Bridge mints ID tokens for this shop.
    ("SANDBOX_SHOP", "SANDBOX_SHOP", "", str),
)


def load_config(environ: Mapping[str, str] | None = None) -> dict:
    """Read every setting from the environment, applying defaults and types."""
    environ = os.environ if environ is None else environ
    config = {}
    for key, env_name, default, parse in _SETTINGS:
        raw = environ.get(env_name, "")
        if raw.strip() == "":
            config[key] = default
            continue
        try:
            config[key] = parse(raw.strip())
        except ValueError as exc:
            raise ValueError(f"{env_name}={raw!r} is not a valid {parse.__name__}") from exc
    return config


def retry_intervals(config: Mapping) -> list[int]:
    """The pinned retry intervals in seconds from RETRY_INTERVALS ("2,5,15"); [] means backoff with jitter."""
    raw = config["RETRY_INTERVALS"]
    if isinstance(raw, (list, tuple)):
        return [int(value) for value in raw]
    try:
        intervals = [int(part) for part in str(raw).split(",") if part.strip()]
    except ValueError as exc:
        raise ValueError(f"RETRY_INTERVALS={raw!r}: expected comma-separated seconds") from exc
    if any(value < 0 for value in intervals):
        raise ValueError(f"RETRY_INTERVALS={raw!r}: expected non-negative seconds")
    return intervals


def webhook_secrets(config: Mapping) -> list[str]:
    """The secrets a webhook or OAuth signature may be made with: current first, then old."""
    return [s for s in (config["SHOPIFY_API_SECRET"], config["SHOPIFY_API_SECRET_OLD"]) if s]


def webhook_address(config: Mapping) -> str:
    """Where Shopify delivers webhooks: APP_URL + /webhooks."""
    return config["APP_URL"].rstrip("/") + "/webhooks"
