"""Jobs: periodic reconciliation — mirror orders whose webhooks never arrived, through the same flows."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import redis
from sqlalchemy import select

from jobs.queueing import enqueue_for_shop, job_options, queue_for
from plugin.errors import TransientError
from plugin.intake.delivery import Delivery
from plugin.intake.door import admit
from plugin.intake.guards import fingerprint_key
from plugin.intake.topics import SWEEP_TOPIC, sweep_registry
from plugin.logs import log_event
from plugin.orders.timestamps import as_utc
from plugin.shopify.orders_sweep_api import orders_updated_since
from plugin.store import keys, shops
from plugin.store.models import Shop

from .arguments import check_shop
from .runtime import services

RECONCILE_SHOP = "jobs.reconcile.reconcile_shop"
RECONCILE_ALL = "jobs.reconcile.reconcile_all"
DUE_KEY = keys.RECONCILE_DUE.prefix
# Look a little before the last sweep: clocks differ and Shopify's search index lags by seconds.
OVERLAP = timedelta(minutes=5)


# Atomically: first sight sets the due time one interval ahead (a fresh deploy has missed
# nothing yet); once due, move it one interval on and tell exactly one caller to sweep.
_CLAIM_DUE_SWEEP = """
local due = tonumber(redis.call('GET', KEYS[1]))
local now = tonumber(ARGV[1])
if due ~= nil and now < due then return 0 end
redis.call('SET', KEYS[1], tostring(now + tonumber(ARGV[2])))
if due == nil then return 0 end
return 1
"""


def schedule_if_due(connection: redis.Redis, config, now: float | None = None) -> bool:
    """Enqueue a sweep of every shop when RECONCILE_INTERVAL has passed; one worker wins per interval."""
    interval = config["RECONCILE_INTERVAL"]
    if interval <= 0:
        return False
    now = time.time() if now is None else now
    if not connection.register_script(_CLAIM_DUE_SWEEP)(keys=[DUE_KEY], args=[now, interval]):
        return False
    queue_for(connection, RECONCILE_ALL).enqueue_call(RECONCILE_ALL, **job_options(config))
    return True


def reconcile_all() -> list[str]:
    """Enqueue one reconciliation job per installed shop."""
    svc = services()
    with svc.database.session() as session:
        domains = list(session.scalars(select(Shop.domain).where(Shop.status == shops.INSTALLED).order_by(Shop.domain)))
    for domain in domains:
        enqueue_for_shop(svc.redis, domain, RECONCILE_SHOP, svc.config, kwargs={"shop": domain})
    return domains


def reconcile_shop(shop: str) -> dict:
    """Queue a mirror job for each order updated since the shop's last sweep that no webhook has queued.

    The sweep lists only ids, update times and cancellation (the jobs read the rest when they run).
    An order whose webhook already queued this update, or a newer one, is refused by the same
    enqueue script and guard keys as a webhook, so it costs nothing.
    """
    check_shop(shop)
    svc = services()
    sweep_started = datetime.now(UTC)
    with svc.database.session() as session:
        row = shops.find_shop(session, shop)
        if row is None or row.status != shops.INSTALLED:
            return {"shop": shop, "skipped": "not installed"}
        since = as_utc(row.last_reconciled_at or row.installed_at)
    limit = svc.config["RECONCILE_MAX_ORDERS"]
    counts = {"seen": 0, "enqueued": 0}
    newest = since
    for change in orders_updated_since(svc.admin_client(shop), since - OVERLAP, limit):
        counts["seen"] += 1
        newest = max(newest, change.updated_at)
        stamp = change.updated_at.isoformat()
        delivery = Delivery(
            topic=SWEEP_TOPIC,
            shop=shop,
            webhook_id=f"{SWEEP_TOPIC}:{shop}:{change.order_id}:{stamp}",
            event_id=None,
            triggered_at=None,
            api_version=None,
            payload={"id": change.order_id, "updated_at": stamp, "cancelled": change.cancelled},
        )
        answer = admit(svc, delivery, sweep_registry)
        if answer.status != 200:
            # Redis or the database gave way mid-sweep: let RQ retry the sweep; the mark has not moved.
            raise TransientError(f"sweep of {shop}: order {change.order_id} not queued ({answer.detail})")
        if answer.result == "enqueued":
            counts["enqueued"] += 1
            # The sweep knows no fingerprint: forget the stored one, so the next webhook of this
            # order is compared with the print orders again instead of with a state now behind us.
            svc.redis.delete(fingerprint_key(shop, change.order_id))
    # A full sweep covers everything up to its start; a truncated one resumes after its newest order.
    mark = newest if counts["seen"] >= limit else sweep_started
    with svc.database.session() as session:
        shops.find_shop(session, shop).last_reconciled_at = mark
    log_event("reconcile", shop=shop, since=since.isoformat(), until=mark.isoformat(), **counts)
    return {"shop": shop, **counts, "until": mark.isoformat()}
