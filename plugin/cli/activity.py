"""`flask --app plugin activity`: what the app did, as a table of outcomes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import click
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from plugin.orders.timestamps import as_utc
from plugin.services import get_services
from plugin.store import activity

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
COLUMNS = ("time (UTC)", "shop", "store order", "print order", "topic", "status seen", "action", "outcome", "error / detail")


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """A UTC datetime from "30m", "2h", "7d" (ago) or an ISO date/time (UTC unless it has an offset)."""
    text = value.strip()
    now = now or datetime.now(UTC)
    relative = _RELATIVE.match(text.lower())
    if relative:
        amount, unit = relative.groups()
        return now - timedelta(**{_UNITS[unit]: int(amount)})
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(f"{value!r}: use e.g. 30m, 2h, 7d or 2026-11-27T10:00") from exc
    return as_utc(moment)


def activity_rows(rows) -> list[tuple[str, ...]]:
    """Table cells for activity rows: one line per row, empty cells as "-"."""

    def cell(value) -> str:
        return "-" if value in (None, "") else str(value).replace("\n", " ")

    cells = []
    for row in rows:
        moment = as_utc(row.created_at)
        detail = " ".join(part for part in (row.error, row.detail) if part)
        cells.append(
            (
                moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                cell(row.shop),
                cell(row.store_order_id),
                cell(row.print_order_id),
                cell(row.topic),
                cell(row.status_seen),
                cell(row.action),
                cell(row.outcome),
                cell(detail[:120]),
            )
        )
    return cells


def format_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Left-aligned columns separated by two spaces."""
    widths = [max(len(str(line[i])) for line in (header, *rows)) for i in range(len(header))]
    lines = ["  ".join(str(value).ljust(width) for value, width in zip(line, widths)).rstrip() for line in (header, *rows)]
    return "\n".join(lines)


@click.command("activity")
@with_appcontext
@click.option("--shop", help="Only this shop (e.g. your-store.myshopify.com).")
@click.option("--order", "order_id", help="Only this store order id (the number in the order's admin URL).")
@click.option("--since", help="Only newer rows: 30m, 2h, 7d, or an ISO date/time (UTC).")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000), help="Newest rows to show.")
def activity_command(shop: str | None, order_id: str | None, since: str | None, limit: int) -> None:
    """Show what the app did to print orders and store orders, oldest first."""
    since_at = parse_since(since) if since else None
    try:
        rows = activity.latest(
            get_services().database,
            shop=shop.strip().lower() if shop else None,
            order_id=order_id.strip() if order_id else None,
            since=since_at,
            limit=limit,
        )
    except SQLAlchemyError as exc:
        raise click.ClickException(
            f"cannot read the activity log ({type(exc).__name__}); is DATABASE_URL right and "
            "`flask --app plugin db upgrade` done?"
        ) from exc
    if not rows:
        click.echo("no activity recorded" + (" for these filters" if shop or order_id or since else ""))
        return
    click.echo(format_table(COLUMNS, activity_rows(rows)))
    if len(rows) == limit:
        click.echo(f"(the newest {limit} rows; use --limit or --since to see others)")
