"""Jobs for Shopify's privacy webhooks: report a customer's records, redact them, redact a shop."""

from __future__ import annotations

from collections.abc import Iterable

import redis
from sqlalchemy import delete, func, select

from plugin import shops
from plugin.errors import InvalidPayload
from plugin.logs import log_event
from plugin.models import Activity, NoteEntry, Shop
from plugin.shop_domain import is_valid_shop_domain

from .runtime import services

KEY_PREFIX = "print-mirror:"
# Large IN lists are split so no database hits its bound-parameter limit.
_CHUNK = 500


def report_customer_data(shop: str, order_ids: list[str], customer_id: str | None = None,
                         data_request_id: str | None = None, webhook_id: str | None = None) -> dict:
    """customers/data_request: log which activity records concern the customer's orders."""
    _check_args(shop, order_ids)
    svc = services()
    records = []
    note_entries = 0
    with svc.database.session() as session:
        for chunk in _chunks(order_ids):
            rows = session.scalars(
                select(Activity)
                .where(Activity.shop == shop, Activity.store_order_id.in_(chunk))
                .order_by(Activity.id)
            )
            records.extend(
                {"id": row.id, "order_id": row.store_order_id, "print_order_id": row.print_order_id,
                 "topic": row.topic, "action": row.action, "outcome": row.outcome, "created_at": row.created_at}
                for row in rows
            )
            note_entries += session.scalar(
                select(func.count()).select_from(NoteEntry)
                .where(NoteEntry.shop == shop, NoteEntry.store_order_id.in_(chunk))
            )
    # The log line is the report: what the app holds about these orders (it holds no names,
    # addresses or e-mails; the notes it wrote live on the orders in Shopify).
    log_event(
        "privacy_data_request", shop=shop, data_request_id=data_request_id, customer_id=customer_id,
        orders_requested=order_ids, activity_records=records, note_entries=note_entries, webhook_id=webhook_id,
    )
    return {"activity_records": len(records), "note_entries": note_entries}


def redact_customer(shop: str, order_ids: list[str], customer_id: str | None = None,
                    webhook_id: str | None = None) -> dict:
    """customers/redact: delete the activity records, note ledger entries and Redis keys of the orders."""
    _check_args(shop, order_ids)
    svc = services()
    activity_deleted = notes_deleted = 0
    with svc.database.session() as session:
        for chunk in _chunks(order_ids):
            activity_deleted += session.execute(
                delete(Activity).where(Activity.shop == shop, Activity.store_order_id.in_(chunk))
            ).rowcount
            notes_deleted += session.execute(
                delete(NoteEntry).where(NoteEntry.shop == shop, NoteEntry.store_order_id.in_(chunk))
            ).rowcount
    wanted = set(order_ids)
    keys_deleted = _delete_keys(svc.redis, shop, lambda rest: bool(rest) and rest[0] in wanted)
    log_event("privacy_customer_redacted", shop=shop, customer_id=customer_id, orders_redacted=order_ids,
              activity_deleted=activity_deleted, note_entries_deleted=notes_deleted, redis_keys_deleted=keys_deleted,
              webhook_id=webhook_id)
    return {"activity_deleted": activity_deleted, "note_entries_deleted": notes_deleted, "redis_keys_deleted": keys_deleted}


def redact_shop(shop: str, webhook_id: str | None = None) -> dict:
    """shop/redact: delete the shop row, its activity, its note ledger and its Redis keys."""
    _check_args(shop, [])
    svc = services()
    if shops.is_installed(svc.database, shop):
        # Shopify sends shop/redact 48 h after an uninstall; a shop installed again since then is
        # a live customer whose history and tokens the app still needs.
        log_event("privacy_shop_redacted", shop=shop, result="skipped_installed", webhook_id=webhook_id)
        return {"result": "skipped_installed"}
    with svc.database.session() as session:
        # One transaction: the shop row, its activity and its ledger go together or not at all.
        activity_deleted = session.execute(delete(Activity).where(Activity.shop == shop)).rowcount
        notes_deleted = session.execute(delete(NoteEntry).where(NoteEntry.shop == shop)).rowcount
        shop_deleted = session.execute(delete(Shop).where(Shop.domain == shop)).rowcount > 0
    keys_deleted = _delete_keys(svc.redis, shop, lambda rest: True)
    log_event("privacy_shop_redacted", shop=shop, result="erased", shop_deleted=shop_deleted,
              activity_deleted=activity_deleted, note_entries_deleted=notes_deleted, redis_keys_deleted=keys_deleted,
              webhook_id=webhook_id)
    return {"result": "erased", "shop_deleted": shop_deleted, "activity_deleted": activity_deleted,
            "note_entries_deleted": notes_deleted, "redis_keys_deleted": keys_deleted}


def _delete_keys(connection: redis.Redis, shop: str, select_rest) -> int:
    """Delete this app's keys that name the shop as one segment (print-mirror:<kind>:<shop>[:<order>]).

    select_rest gets the segments after the shop and says whether the key goes.
    """
    doomed = []
    for raw in connection.scan_iter(match=f"{KEY_PREFIX}*{shop}*", count=1000):
        key = raw.decode() if isinstance(raw, bytes) else raw
        segments = key.split(":")
        if shop in segments and select_rest(segments[segments.index(shop) + 1:]):
            doomed.append(key)
    for start in range(0, len(doomed), _CHUNK):
        connection.delete(*doomed[start:start + _CHUNK])
    return len(doomed)


def _check_args(shop: object, order_ids: object) -> None:
    """Refuse arguments no retry can fix with a permanent error."""
    if not is_valid_shop_domain(shop):
        raise InvalidPayload(f"job argument shop={str(shop)[:80]!r} is not a *.myshopify.com domain")
    if not isinstance(order_ids, list) or not all(
        isinstance(order_id, str) and order_id.isascii() and order_id.isdigit() for order_id in order_ids
    ):
        raise InvalidPayload("job argument order_ids must be a list of decimal order ids")


def _chunks(values: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]
