"""Installed shops and their Admin API tokens (encrypted at rest)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.errors import ConfigurationError, ShopNotInstalled
from plugin.orders import timestamps
from plugin.shopify.shop_domain import require_shop_domain
from plugin.store import provider_accounts
from plugin.store.crypto import TokenCipher
from plugin.store.db import Database
from plugin.store.models import Shop, utcnow

INSTALLED = "installed"
UNINSTALLED = "uninstalled"
NEEDS_REAUTH = "needs_reauth"
# A shop needing re-authorisation is still installed: its webhooks keep being mirrored to the
# print provider; only its Admin API writes wait for the merchant to open the app again.
ACTIVE_STATUSES = (INSTALLED, NEEDS_REAUTH)
CUSTOM = "custom"
OAUTH = "oauth"


@dataclass(frozen=True)
class Credentials:
    """A shop's decrypted tokens and their expiry times, read in one go."""

    domain: str
    status: str
    token_kind: str
    access_token: str | None
    access_token_expires_at: datetime | None
    refresh_token: str | None
    refresh_token_expires_at: datetime | None

    def __repr__(self) -> str:
        # Tokens must never reach a log line or a traceback through repr().
        return f"Credentials(domain={self.domain!r}, status={self.status!r}, token_kind={self.token_kind!r})"


def find_shop(session: Session, domain: str) -> Shop | None:
    """The shop row for domain, whatever its status."""
    return session.scalar(select(Shop).where(Shop.domain == domain))


def is_installed(database: Database, domain: str) -> bool:
    """True when the shop has an active installation (possibly waiting for re-authorisation)."""
    # A plain connection, not an ORM session: this runs on every webhook.
    with database.engine.connect() as connection:
        status = connection.scalar(select(Shop.status).where(Shop.domain == domain))
    return status in ACTIVE_STATUSES


def has_usable_token(database: Database, domain: str) -> bool:
    """True when the shop is installed with a stored access token (a refresh, if due, happens on use)."""
    with database.engine.connect() as connection:
        row = connection.execute(select(Shop.status, Shop.access_token).where(Shop.domain == domain)).first()
    return row is not None and row.status == INSTALLED and bool(row.access_token)


def install_shop(
    database: Database,
    cipher: TokenCipher,
    domain: str,
    access_token: str,
    *,
    token_kind: str = CUSTOM,
    scopes: str | None = None,
    access_token_expires_at: datetime | None = None,
    refresh_token: str | None = None,
    refresh_token_expires_at: datetime | None = None,
) -> Shop:
    """Create or restore the shop's installation and store its tokens encrypted."""
    domain = require_shop_domain(domain)
    if not access_token:
        raise ValueError("an access token is required")
    with database.session() as session:
        shop = find_shop(session, domain)
        if shop is None:
            shop = Shop(domain=domain)
            session.add(shop)
        shop.token_kind = token_kind
        shop.access_token = cipher.encrypt(access_token)
        shop.access_token_expires_at = access_token_expires_at
        shop.refresh_token = cipher.encrypt(refresh_token) if refresh_token else None
        shop.refresh_token_expires_at = refresh_token_expires_at
        shop.scopes = scopes
        shop.status = INSTALLED
        shop.installed_at = utcnow()
        shop.uninstalled_at = None
    return shop


def install_grant(database: Database, cipher: TokenCipher, domain: str, grant) -> Shop:
    """Install the shop with what Shopify's token endpoint granted (an expiring offline token and its refresh token)."""
    return install_shop(
        database,
        cipher,
        domain,
        grant.access_token,
        token_kind=OAUTH,
        scopes=grant.scopes,
        access_token_expires_at=grant.access_token_expires_at,
        refresh_token=grant.refresh_token,
        refresh_token_expires_at=grant.refresh_token_expires_at,
    )


def uninstall_shop(database: Database, domain: str, *, event_time: datetime | None = None) -> bool:
    """Mark the shop uninstalled and delete its tokens; False when it was not known.

    With event_time (when Shopify saw the uninstall), an installation made after it is kept:
    a late retry of an old app/uninstalled must not undo a reinstall.
    """
    with database.session() as session:
        shop = find_shop(session, domain)
        if shop is None:
            return False
        if event_time is not None and as_utc(shop.installed_at) > as_utc(event_time):
            return False
        shop.status = UNINSTALLED
        shop.uninstalled_at = utcnow()
        _forget_tokens(shop)
        # The merchant's print-provider key goes with the Shopify tokens: a shop that left keeps no secret here.
        provider_accounts.forget(session, domain)
    return True


def set_cancel_and_replace(database: Database, domain: str, enabled: bool) -> bool:
    """Turn cancel-and-replace on or off for the shop; False when the shop is not known."""
    with database.session() as session:
        shop = find_shop(session, domain)
        if shop is None:
            return False
        shop.cancel_and_replace = enabled
    return True


def delete_shop(database: Database, domain: str) -> bool:
    """Forget the shop entirely; False when it was not known."""
    with database.session() as session:
        shop = find_shop(session, domain)
        if shop is None:
            return False
        session.delete(shop)
        provider_accounts.forget(session, domain)
    return True


def list_shops(database: Database) -> list[Shop]:
    """Every known shop, by domain."""
    with database.session() as session:
        return list(session.scalars(select(Shop).order_by(Shop.domain)))


def load_credentials(database: Database, cipher: TokenCipher, domain: str) -> Credentials:
    """The shop's status and decrypted tokens; ShopNotInstalled when the shop is unknown."""
    with database.session() as session:
        shop = find_shop(session, domain)
        if shop is None:
            raise ShopNotInstalled(f"{domain} is not installed")
        return Credentials(
            domain=shop.domain,
            status=shop.status,
            token_kind=shop.token_kind,
            access_token=cipher.decrypt(shop.access_token) if shop.access_token else None,
            access_token_expires_at=as_utc(shop.access_token_expires_at),
            refresh_token=cipher.decrypt(shop.refresh_token) if shop.refresh_token else None,
            refresh_token_expires_at=as_utc(shop.refresh_token_expires_at),
        )


def store_refreshed_tokens(
    database: Database,
    cipher: TokenCipher,
    domain: str,
    access_token: str,
    access_token_expires_at: datetime | None,
    refresh_token: str | None,
    refresh_token_expires_at: datetime | None,
) -> bool:
    """Replace an installed OAuth shop's tokens after a refresh; False when it is no longer installed."""
    with database.session() as session:
        shop = find_shop(session, domain)
        # An uninstall that landed during the refresh wins: never resurrect its tokens.
        if shop is None or shop.status != INSTALLED or shop.token_kind != OAUTH:
            return False
        shop.access_token = cipher.encrypt(access_token)
        shop.access_token_expires_at = access_token_expires_at
        if refresh_token:
            shop.refresh_token = cipher.encrypt(refresh_token)
            shop.refresh_token_expires_at = refresh_token_expires_at
    return True


def refresh_due(database: Database, within: timedelta) -> list[str]:
    """Installed OAuth shops whose refresh token expires within `within` (or has no known expiry)."""
    horizon = utcnow() + within
    with database.session() as session:
        rows = session.execute(
            select(Shop.domain, Shop.refresh_token_expires_at)
            .where(Shop.status == INSTALLED, Shop.token_kind == OAUTH, Shop.refresh_token.is_not(None))
            .order_by(Shop.domain)
        ).all()
    # Compared here, not in SQL: SQLite hands the column back naive, Postgres aware.
    return [domain for domain, expires_at in rows if expires_at is None or as_utc(expires_at) <= horizon]


def mark_needs_reauth(database: Database, domain: str) -> bool:
    """Record that the shop's tokens are dead (deleted) until the merchant re-authorises the app."""
    with database.session() as session:
        shop = find_shop(session, domain)
        if shop is None or shop.status != INSTALLED:
            return False
        shop.status = NEEDS_REAUTH
        _forget_tokens(shop)
    return True


def reencrypt_tokens(database: Database, cipher: TokenCipher) -> tuple[int, int]:
    """Re-encrypt every stored token and print-provider key with the cipher's first key, in one transaction.

    Returns (shops, secrets) rewritten. A secret no configured key can read raises
    ConfigurationError naming its shop, and nothing is changed.
    """
    shops_done = tokens_done = 0
    with database.session() as session:
        for shop in session.scalars(select(Shop).order_by(Shop.domain)):
            rotated = 0
            for column in ("access_token", "refresh_token"):
                stored = getattr(shop, column)
                if not stored:
                    continue
                try:
                    setattr(shop, column, cipher.rotate(stored))
                except ConfigurationError as exc:
                    raise ConfigurationError(
                        f"{shop.domain}: its {column.replace('_', ' ')} cannot be decrypted with any"
                        " TOKEN_ENCRYPTION_KEY key; nothing was changed"
                    ) from exc
                rotated += 1
            if rotated:
                shops_done += 1
                tokens_done += rotated
        tokens_done += provider_accounts.rotate_keys(session, cipher)
    return shops_done, tokens_done


def as_utc(value: datetime | None) -> datetime | None:
    """value as an aware UTC datetime (SQLite hands timezone-aware columns back naive); None stays None."""
    return None if value is None else timestamps.as_utc(value)


def _forget_tokens(shop: Shop) -> None:
    """Delete the shop's tokens and their expiry times (uninstalled, or the grant is dead)."""
    shop.access_token = None
    shop.refresh_token = None
    shop.access_token_expires_at = None
    shop.refresh_token_expires_at = None
