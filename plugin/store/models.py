"""Database tables: installed shops, their print-provider accounts, the activity log, and the ledger of note paragraphs."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Boolean, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of every table."""


class Shop(Base):
    """A store that installed the app, with its (encrypted) Admin API tokens."""

    __tablename__ = "shops"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    # "custom": a custom app's fixed admin token; "oauth": an expiring offline token.
    token_kind: Mapped[str] = mapped_column(String(16), nullable=False, default="custom")
    access_token: Mapped[str | None] = mapped_column(Text)
    access_token_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refresh_token: Mapped[str | None] = mapped_column(Text)
    refresh_token_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    scopes: Mapped[str | None] = mapped_column(String(1024))
    # "installed", "uninstalled" or "needs_reauth".
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="installed")
    cancel_and_replace: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    installed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    uninstalled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_reconciled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ProviderAccount(Base):
    """A shop's own print-provider account: which provider, its API key (encrypted at rest), where to search."""

    __tablename__ = "provider_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    provider: Mapped[str] = mapped_column(String(16), nullable=False)
    api_key: Mapped[str] = mapped_column(Text, nullable=False)
    # The key's last characters, the only part ever shown back (the status page).
    key_hint: Mapped[str] = mapped_column(String(8), nullable=False)
    # The provider's store to search in (Gelato: storeIds); None searches the whole account.
    store_id: Mapped[str | None] = mapped_column(String(64))
    connected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    last_checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Activity(Base):
    """One decision or outcome of the app about a store order and print order."""

    __tablename__ = "activity"
    __table_args__ = (Index("ix_activity_shop_order", "shop", "store_order_id"), Index("ix_activity_created", "created_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
    shop: Mapped[str] = mapped_column(String(255), nullable=False)
    store_order_id: Mapped[str] = mapped_column(String(32), nullable=False)
    # The order's name as the merchant knows it (#1001), when the job read it from Shopify.
    order_name: Mapped[str | None] = mapped_column(String(64))
    print_order_id: Mapped[str | None] = mapped_column(String(64))
    topic: Mapped[str | None] = mapped_column(String(64))
    status_seen: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    outcome: Mapped[str] = mapped_column(String(32), nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)


class NoteEntry(Base):
    """A fact already written to a store order's note: the guard that makes paragraphs exactly-once."""

    __tablename__ = "note_entries"
    __table_args__ = (UniqueConstraint("shop", "store_order_id", "print_order_id", "entry_key", name="uq_note_entry"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop: Mapped[str] = mapped_column(String(255), nullable=False)
    store_order_id: Mapped[str] = mapped_column(String(32), nullable=False)
    print_order_id: Mapped[str] = mapped_column(String(64), nullable=False)
    # What the paragraph said about that print order, e.g. "cancel-too-late".
    entry_key: Mapped[str] = mapped_column(String(128), nullable=False)
    ref: Mapped[str] = mapped_column(String(32), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, default=utcnow)
