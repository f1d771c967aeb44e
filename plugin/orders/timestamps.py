"""Timestamps of orders: ISO 8601 with an offset in, aware UTC datetimes and epoch microseconds out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from plugin.errors import InvalidOrder

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_timestamp(value: object, where: str = "timestamp") -> datetime:
    """An ISO 8601 timestamp with an offset as an aware datetime; InvalidOrder otherwise."""
    if not isinstance(value, str) or len(value) > 64:
        raise InvalidOrder(f"{where}: timestamp must be ISO 8601 text")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise InvalidOrder(f"{where}: {exc}") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        # Comparing without an offset would be off by the shop's timezone.
        raise InvalidOrder(f"{where}: timestamp has no UTC offset")
    return parsed


def as_utc(value: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken as UTC (SQLite hands stored UTC times back naive)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def as_micros(moment: datetime) -> int:
    """An aware instant as integer microseconds since the epoch: compares as instants, in Lua too."""
    return (moment - EPOCH) // timedelta(microseconds=1)


def from_micros(value: bytes | str | int | None) -> datetime | None:
    """The instant stored as epoch microseconds, or None when absent or unreadable."""
    if value is None:
        return None
    try:
        return EPOCH + timedelta(microseconds=int(value))
    except (ValueError, OverflowError):
        return None
