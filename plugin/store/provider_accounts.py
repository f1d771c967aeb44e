"""Each shop's own print-provider account: stored with its API key encrypted, read back for jobs and the status page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from plugin.errors import ConfigurationError
from plugin.orders.timestamps import as_utc
from plugin.store.crypto import TokenCipher
from plugin.store.db import Database
from plugin.store.models import ProviderAccount, utcnow

# How many of the key's last characters the status page may show.
HINT_LENGTH = 4


@dataclass(frozen=True)
class Account:
    """A usable provider account: the decrypted key for a job's client (never shown, never logged)."""

    provider: str
    api_key: str
    store_id: str | None

    def __repr__(self) -> str:
        # The key must never reach a log line or a traceback through repr().
        return f"Account(provider={self.provider!r}, store_id={self.store_id!r})"


@dataclass(frozen=True)
class AccountSummary:
    """What the status page may show of a connected account: no key, only its hint."""

    provider: str
    key_hint: str
    store_id: str | None
    connected_at: datetime | None
    last_checked_at: datetime | None


def key_hint(api_key: str) -> str:
    """The key's last characters behind an ellipsis, e.g. '…f00d' (the whole key is never shown)."""
    return "…" + api_key[-HINT_LENGTH:] if len(api_key) > HINT_LENGTH * 2 else "…"


def connect(database: Database, cipher: TokenCipher, shop: str, provider: str, api_key: str, store_id: str | None) -> None:
    """Store (or replace) the shop's account; call only after the provider accepted the key."""
    now = utcnow()
    with database.session() as session:
        account = session.scalar(select(ProviderAccount).where(ProviderAccount.shop == shop))
        if account is None:
            account = ProviderAccount(shop=shop)
            session.add(account)
        account.provider = provider
        account.api_key = cipher.encrypt(api_key)
        account.key_hint = key_hint(api_key)
        account.store_id = store_id
        account.connected_at = now
        account.last_checked_at = now


def disconnect(database: Database, shop: str) -> bool:
    """Forget the shop's account and its key; False when it had none."""
    with database.session() as session:
        return forget(session, shop)


def forget(session: Session, shop: str) -> bool:
    """Delete the shop's account in the caller's transaction (disconnect, uninstall, removal); False when none."""
    return session.execute(delete(ProviderAccount).where(ProviderAccount.shop == shop)).rowcount > 0


def load_account(database: Database, cipher: TokenCipher, shop: str) -> Account | None:
    """The shop's own account with its key decrypted; None when it connected none."""
    # A plain connection, not an ORM session: every job reads this once.
    with database.engine.connect() as connection:
        row = connection.execute(
            select(ProviderAccount.provider, ProviderAccount.api_key, ProviderAccount.store_id).where(
                ProviderAccount.shop == shop
            )
        ).first()
    if row is None:
        return None
    return Account(provider=row.provider, api_key=cipher.decrypt(row.api_key), store_id=row.store_id)


def summary(database: Database, shop: str) -> AccountSummary | None:
    """What may be shown of the shop's own account; None when it connected none."""
    with database.engine.connect() as connection:
        row = connection.execute(
            select(
                ProviderAccount.provider,
                ProviderAccount.key_hint,
                ProviderAccount.store_id,
                ProviderAccount.connected_at,
                ProviderAccount.last_checked_at,
            ).where(ProviderAccount.shop == shop)
        ).first()
    if row is None:
        return None
    return AccountSummary(row.provider, row.key_hint, row.store_id, as_utc(row.connected_at), as_utc(row.last_checked_at))


def mark_checked(database: Database, shop: str) -> None:
    """Record that the provider accepted the shop's key just now."""
    with database.session() as session:
        session.execute(update(ProviderAccount).where(ProviderAccount.shop == shop).values(last_checked_at=utcnow()))


def rotate_keys(session: Session, cipher: TokenCipher) -> int:
    """Re-encrypt every stored provider key with the cipher's first key, in the caller's transaction; how many.

    A key no configured TOKEN_ENCRYPTION_KEY can read raises ConfigurationError naming its shop.
    """
    rewritten = 0
    for account in session.scalars(select(ProviderAccount).order_by(ProviderAccount.shop)):
        try:
            account.api_key = cipher.rotate(account.api_key)
        except ConfigurationError as exc:
            raise ConfigurationError(
                f"{account.shop}: its print-provider key cannot be decrypted with any TOKEN_ENCRYPTION_KEY key;"
                " nothing was changed"
            ) from exc
        rewritten += 1
    return rewritten
