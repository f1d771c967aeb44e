"""Jobs for Shopify's privacy webhooks: report what the app holds about a customer's orders, redact it,
redact a shop. What the app holds: activity records, note-ledger entries, Redis keys, and the RQ jobs
(with their results) whose arguments name the orders or the shop."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import redis
from rq import get_current_job
from rq.exceptions import DeserializationError
from rq.job import Job, JobStatus
from sqlalchemy import delete, func, select

from jobs.queueing import make_queues
from plugin.errors import TransientError
from plugin.logs import log_event
from plugin.store import keys, provider_accounts
from plugin.store.models import Activity, NoteEntry, Shop

from .arguments import check_order_ids, check_shop
from .runtime import services
from .uninstall import KEPT, NO_TOKEN, confirm_uninstalled

KEY_PREFIX = keys.PREFIX
# Order locks and token locks: deleting one under a running job would break its fence.
LOCK_KEY_PREFIX = f"{KEY_PREFIX}lock:"
# Large IN lists (and job fetches) are split so no database or pipeline grows without bound.
_CHUNK = 500
# A job of the redacted data still running: the redaction runs again once it has ended.
RUNNING_JOB_RETRY_SECONDS = 10
# Jobs that serve a privacy request themselves: a pending or failed one is a request still owed
# to a customer, so a redaction leaves it to run (it keeps no record once it has).
_PRIVACY_JOBS = frozenset(f"{__name__}.{name}" for name in ("report_customer_data", "redact_customer", "redact_shop"))
# Where RQ keeps a job while a worker holds it: never deleted from under that worker.
_RUNNING_PLACES = frozenset({"started", "starting"})

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeldJob:
    """An RQ job of the app whose arguments name the data in question, and where RQ keeps it."""

    job: Job
    place: str  # queued, scheduled, deferred, failed, finished, canceled, started, starting


def report_customer_data(
    shop: str,
    order_ids: list[str],
    customer_id: str | None = None,
    data_request_id: str | None = None,
    webhook_id: str | None = None,
) -> dict:
    """customers/data_request: log everything the app holds about the customer's orders."""
    _check_args(shop, order_ids)
    _keep_no_record()
    svc = services()
    wanted = set(order_ids)
    records = []
    note_entries = 0
    with svc.database.session() as session:
        for chunk in _chunks(order_ids):
            rows = session.scalars(
                select(Activity).where(Activity.shop == shop, Activity.store_order_id.in_(chunk)).order_by(Activity.id)
            )
            records.extend(
                {
                    "id": row.id,
                    "order_id": row.store_order_id,
                    "print_order_id": row.print_order_id,
                    "topic": row.topic,
                    "action": row.action,
                    "outcome": row.outcome,
                    "created_at": row.created_at,
                }
                for row in rows
            )
            note_entries += session.scalar(
                select(func.count()).select_from(NoteEntry).where(NoteEntry.shop == shop, NoteEntry.store_order_id.in_(chunk))
            )
    jobs = [
        {
            "id": held.job.id,
            "function": held.job.func_name,
            "place": held.place,
            "order_ids": sorted(_orders_named(held.job.kwargs) & wanted),
        }
        for held in held_jobs(svc.redis, _naming_orders(shop, wanted))
    ]
    order_keys = _order_keys(svc.redis, shop, wanted)
    # The log line is the report (the app holds no names, addresses or e-mails; the notes it
    # wrote live on the orders in Shopify, its jobs carry ids only).
    log_event(
        "privacy_data_request",
        shop=shop,
        data_request_id=data_request_id,
        customer_id=customer_id,
        orders_requested=order_ids,
        activity_records=records,
        note_entries=note_entries,
        rq_jobs=jobs,
        redis_keys=order_keys,
        webhook_id=webhook_id,
    )
    return {"activity_records": len(records), "note_entries": note_entries, "rq_jobs": len(jobs), "redis_keys": len(order_keys)}


def redact_customer(shop: str, order_ids: list[str], customer_id: str | None = None, webhook_id: str | None = None) -> dict:
    """customers/redact: delete the orders' activity records, ledger entries, Redis keys and RQ jobs."""
    _check_args(shop, order_ids)
    _keep_no_record()
    svc = services()
    wanted = set(order_ids)
    activity_deleted = notes_deleted = 0
    with svc.database.session() as session:
        for chunk in _chunks(order_ids):
            activity_deleted += session.execute(
                delete(Activity).where(Activity.shop == shop, Activity.store_order_id.in_(chunk))
            ).rowcount
            notes_deleted += session.execute(
                delete(NoteEntry).where(NoteEntry.shop == shop, NoteEntry.store_order_id.in_(chunk))
            ).rowcount
    jobs_deleted, running = _delete_jobs(held_jobs(svc.redis, _naming_orders(shop, wanted)))
    keys_deleted = _delete_keys(svc.redis, _order_keys(svc.redis, shop, wanted), keep_locks=bool(running))
    counts = {
        "activity_deleted": activity_deleted,
        "note_entries_deleted": notes_deleted,
        "redis_keys_deleted": keys_deleted,
        "jobs_deleted": jobs_deleted,
    }
    log_event(
        "privacy_customer_redacted",
        shop=shop,
        customer_id=customer_id,
        orders_redacted=order_ids,
        jobs_running=len(running) or None,
        webhook_id=webhook_id,
        **counts,
    )
    _retry_after_running(running, f"orders of {shop}")
    return counts


def redact_shop(shop: str, webhook_id: str | None = None) -> dict:
    """shop/redact: erase an uninstalled shop (confirmed with Shopify): its row, history, Redis keys and jobs."""
    _check_args(shop, [])
    _keep_no_record()
    svc = services()
    # Only the body is signed: a replayed shop/redact must not erase a shop Shopify still serves.
    # An installed shop is erased only once Shopify refuses its token (then it is uninstalled first).
    confirmation = confirm_uninstalled(svc, shop, topic="shop/redact", webhook_id=webhook_id)
    if confirmation in (KEPT, NO_TOKEN):
        log_event("privacy_shop_redacted", shop=shop, result="skipped_installed", reason=confirmation, webhook_id=webhook_id)
        return {"result": "skipped_installed"}
    with svc.database.session() as session:
        # One transaction: the shop row, its activity and its ledger go together or not at all.
        activity_deleted = session.execute(delete(Activity).where(Activity.shop == shop)).rowcount
        notes_deleted = session.execute(delete(NoteEntry).where(NoteEntry.shop == shop)).rowcount
        shop_deleted = session.execute(delete(Shop).where(Shop.domain == shop)).rowcount > 0
        provider_account_deleted = provider_accounts.forget(session, shop)
    jobs_deleted, running = _delete_jobs(held_jobs(svc.redis, lambda kwargs: kwargs.get("shop") == shop))
    keys_deleted = _delete_keys(svc.redis, _shop_keys(svc.redis, shop), keep_locks=bool(running))
    counts = {
        "shop_deleted": shop_deleted,
        "provider_account_deleted": provider_account_deleted,
        "activity_deleted": activity_deleted,
        "note_entries_deleted": notes_deleted,
        "redis_keys_deleted": keys_deleted,
        "jobs_deleted": jobs_deleted,
    }
    log_event(
        "privacy_shop_redacted", shop=shop, result="erased", jobs_running=len(running) or None, webhook_id=webhook_id, **counts
    )
    _retry_after_running(running, shop)
    return {"result": "erased", **counts}


def held_jobs(connection: redis.Redis, concerns: Callable[[dict], bool]) -> list[HeldJob]:
    """The app's RQ jobs, on any queue and wherever RQ keeps them, whose kwargs `concerns` accepts; never the calling job."""
    current = get_current_job()
    seen = {current.id} if current is not None else set()
    held = []
    for queue in make_queues(connection):
        # Read-only listings (cleanup=False): registry cleanup would move abandoned jobs around.
        places = {
            "queued": queue.get_job_ids,
            "scheduled": lambda q=queue: q.scheduled_job_registry.get_job_ids(cleanup=False),
            "deferred": lambda q=queue: q.deferred_job_registry.get_job_ids(cleanup=False),
            "failed": lambda q=queue: q.failed_job_registry.get_job_ids(cleanup=False),
            "finished": lambda q=queue: q.finished_job_registry.get_job_ids(cleanup=False),
            "canceled": lambda q=queue: q.canceled_job_registry.get_job_ids(cleanup=False),
            "started": lambda q=queue: q.started_job_registry.get_job_ids(cleanup=False),
            # Dequeued by a worker and not yet started: held by that worker already.
            "starting": queue.intermediate_queue.get_job_ids,
        }
        for place, list_ids in places.items():
            ids = [job_id for job_id in dict.fromkeys(list_ids()) if job_id not in seen]
            seen.update(ids)
            for chunk in _chunks(ids):
                for job in Job.fetch_many(chunk, connection=connection, serializer=queue.serializer):
                    if job is None:
                        continue  # expired since it was listed
                    try:
                        kwargs = job.kwargs
                    except DeserializationError:
                        log.warning("job %s cannot be read; a privacy job cannot tell what it names", job.id)
                        continue
                    if isinstance(kwargs, dict) and concerns(kwargs):
                        held.append(HeldJob(job, place))
    return held


def _delete_jobs(held: list[HeldJob]) -> tuple[int, list[HeldJob]]:
    """Delete each held job with its results; returns (deleted, still running under a worker)."""
    deleted = 0
    running = []
    for item in held:
        status = item.job.get_status(refresh=True)
        if item.place in _RUNNING_PLACES or status == JobStatus.STARTED:
            running.append(item)
            continue
        if item.job.func_name in _PRIVACY_JOBS and status != JobStatus.FINISHED:
            continue
        item.job.delete(remove_from_queue=True)
        deleted += 1
    return deleted, running


def _retry_after_running(running: list[HeldJob], what: str) -> None:
    """Raise TransientError while jobs of the redacted data run: their results and records come after us."""
    if running:
        raise TransientError(
            f"{len(running)} job(s) about {what} still running; the redaction repeats once they end",
            retry_after=RUNNING_JOB_RETRY_SECONDS,
        )


def _naming_orders(shop: str, wanted: set[str]) -> Callable[[dict], bool]:
    """A job-kwargs test: the shop's job naming one of the wanted orders (order_id or order_ids)."""
    return lambda kwargs: kwargs.get("shop") == shop and bool(_orders_named(kwargs) & wanted)


def _orders_named(kwargs: dict) -> set[str]:
    named = set()
    if kwargs.get("order_id") is not None:
        named.add(str(kwargs["order_id"]))
    order_ids = kwargs.get("order_ids")
    if isinstance(order_ids, (list, tuple)):
        named.update(str(order_id) for order_id in order_ids)
    return named


def _app_keys(connection: redis.Redis) -> Iterable[tuple[str, list[str]]]:
    """Every key of this app (print-mirror:<kind>:...) with its colon-separated segments."""
    for raw in connection.scan_iter(match=f"{KEY_PREFIX}*", count=1000):
        key = raw.decode() if isinstance(raw, bytes) else raw
        yield key, key.split(":")


def _order_keys(connection: redis.Redis, shop: str, wanted: set[str]) -> list[str]:
    """Keys naming the shop and one of the orders as segments (every kind that holds anything about
    a shop names it: plugin.store.keys)."""
    return [key for key, segments in _app_keys(connection) if shop in segments and not wanted.isdisjoint(segments)]


def _shop_keys(connection: redis.Redis, shop: str) -> list[str]:
    """Keys naming the shop as one segment (print-mirror:<kind>:<shop>[:<order>...])."""
    return [key for key, segments in _app_keys(connection) if shop in segments]


def _delete_keys(connection: redis.Redis, doomed_keys: list[str], *, keep_locks: bool) -> int:
    """Delete keys in chunks; with keep_locks, lock keys stay for the jobs still holding them."""
    doomed = [key for key in doomed_keys if not (keep_locks and key.startswith(LOCK_KEY_PREFIX))]
    for start in range(0, len(doomed), _CHUNK):
        connection.delete(*doomed[start : start + _CHUNK])
    return len(doomed)


def _keep_no_record() -> None:
    """Have RQ delete this job once it succeeds: its arguments name a customer's orders or a shop.

    The job's log line is its record. A failed run is still kept, so it can be retried.
    """
    job = get_current_job()
    if job is not None:
        job.result_ttl = 0


def _check_args(shop: object, order_ids: object) -> None:
    """Refuse arguments no retry can fix with a permanent error."""
    check_shop(shop)
    check_order_ids(order_ids)


def _chunks(values: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]
