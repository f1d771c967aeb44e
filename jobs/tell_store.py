"""Job: tell the store order what its cancellation did (note and tag), after the provider call, paced by the store's bucket.

Save first, tell later: the provider cancel decides whether a print is saved, so the cancellation
job makes it and queues this job for the Shopify writes (jobs/cancellation.py). Shopify limits
each store to a leaky bucket of query cost (https://shopify.dev/docs/api/usage/rate-limits): during
a store's bulk cancel its notes and tags would drain it and then throttle the cancellation jobs'
own reads. So these writes leave half the bucket to the reads: when an answer shows the bucket
below that reserve, the store's notes pause until it refills (a pause of the store's account in
jobs/account_health.py, shared by every worker), and a throttled write pauses them for the
bucket's restore time. A paused store's notes are held, not slept on: no worker thread waits
for one store while other work is ready.
"""

from __future__ import annotations

from plugin.errors import InvalidPayload, RateLimited
from plugin.logs import log_event
from plugin.providers.catalog import require_provider
from plugin.store.activity import Outcome

from .account_health import AccountHealth, store_account
from .arguments import check_order_id, check_shop
from .cancellation import report_cancellation
from .failure_notes import note_recovery
from .ledger import OrderLedger
from .locks import order_lock
from .runtime import services

# The share of a store's bucket notes and tags leave to the cancellations' reads.
BUCKET_RESERVE = 0.5


def notes_account(shop: str) -> str:
    """The account a store's notes and tags are paced on: apart from its reads, which a pause of notes never holds."""
    return "notes-" + store_account(shop)


def tell_cancellation(shop: str, order_id: str, provider_name: str, outcomes: list[dict]) -> dict:
    """Note and tag a cancelled store order with what its print orders' cancellation did."""
    check_shop(shop)
    check_order_id(order_id)
    require_provider(provider_name)
    told = _outcomes(outcomes)
    svc = services()
    health = AccountHealth(svc.redis)
    account = notes_account(shop)
    health.admit(account, probe=False)  # paused: AccountPaused holds this job until the bucket refilled
    with order_lock(svc.redis, shop, order_id, svc.config["ORDER_LOCK_SECONDS"]):
        admin = svc.admin_client(shop)  # in a job it never sleeps on a throttle: the notes pause and hold instead
        ledger = OrderLedger(svc.database, shop, order_id)
        try:
            report = report_cancellation(admin, ledger, provider_name, told)
            note_recovery(admin, ledger, provider_name, {o.print_order_id or "": o.outcome for o in told})
        except RateLimited as exc:
            raise health.went_down(account, exc) from exc
    if admin.bucket is not None:
        available, maximum, restore_rate = admin.bucket
        short = maximum * BUCKET_RESERVE - available
        if short > 0 and restore_rate > 0:
            health.pause(account, short / restore_rate)
    log_event("job", job="tell_cancellation", shop=shop, order_id=order_id, store_order=report)
    return {"order_id": order_id, "store_order": report}


def _outcomes(arguments: object) -> list[Outcome]:
    """The outcomes from the job's arguments (Outcome fields, as the cancellation job queued them); else InvalidPayload."""
    if not isinstance(arguments, list) or not all(isinstance(argument, dict) for argument in arguments):
        raise InvalidPayload("outcomes must be a list of objects")
    if not all(value is None or isinstance(value, str) for argument in arguments for value in argument.values()):
        raise InvalidPayload("outcomes: every field must be a string or null")
    try:
        return [Outcome(**argument) for argument in arguments]
    except TypeError as exc:
        raise InvalidPayload(f"outcomes: {exc}") from exc
