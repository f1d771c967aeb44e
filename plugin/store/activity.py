"""The activity log: every decision and outcome of a job, queryable by shop and order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select

from plugin.orders.timestamps import as_utc
from plugin.store.db import Database
from plugin.store.models import Activity


@dataclass(frozen=True)
class Outcome:
    """What happened to one print order (or to the store order when print_order_id is None)."""

    print_order_id: str | None
    status_seen: str | None
    action: str
    outcome: str
    error: str | None = None
    detail: str | None = None


def record(
    database: Database, shop: str, order_id: str, topic: str | None, outcomes: list[Outcome], order_name: str | None = None
) -> None:
    """Store each outcome as one activity row (order_name: the order's name, when the job read it)."""
    rows = [
        dict(
            shop=shop,
            store_order_id=order_id,
            order_name=order_name[:64] if order_name else None,
            print_order_id=o.print_order_id,
            topic=topic,
            status_seen=o.status_seen,
            action=o.action,
            outcome=str(o.outcome),  # a PrintOutcome is stored as its word, whatever the driver does with enums
            error=o.error,
            detail=o.detail,
        )
        for o in outcomes
    ]
    if not rows:
        return
    # A bulk INSERT, not the ORM's unit of work: nothing is read back, and every job pays this.
    with database.session() as session:
        session.execute(insert(Activity), rows)


def query(
    database: Database,
    *,
    shop: str | None = None,
    order_id: str | None = None,
    since: datetime | None = None,
    limit: int = 500,
) -> list[Activity]:
    """Activity rows, oldest first, filtered by shop, store order and time."""
    statement = _filtered(select(Activity), shop, order_id, since).order_by(Activity.created_at, Activity.id).limit(limit)
    with database.session() as session:
        return list(session.scalars(statement))


def latest(
    database: Database,
    *,
    shop: str | None = None,
    order_id: str | None = None,
    since: datetime | None = None,
    outcome: str | None = None,
    limit: int = 100,
) -> list[Activity]:
    """The newest `limit` rows matching the filters, returned oldest first (what a table shows)."""
    statement = _filtered(select(Activity), shop, order_id, since, outcome)
    statement = statement.order_by(Activity.created_at.desc(), Activity.id.desc()).limit(limit)
    with database.session() as session:
        return list(reversed(session.scalars(statement).all()))


def _filtered(statement, shop: str | None, order_id: str | None, since: datetime | None, outcome: str | None = None):
    if outcome:
        statement = statement.where(Activity.outcome == outcome)
    if shop:
        statement = statement.where(Activity.shop == shop)
    if order_id:
        statement = statement.where(Activity.store_order_id == order_id)
    if since:
        # Stored times are UTC and SQLite keeps them without an offset: compare in UTC everywhere.
        statement = statement.where(Activity.created_at >= as_utc(since))
    return statement
