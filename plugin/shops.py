"""Installed shops and their Admin API tokens (encrypted at rest)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .crypto import TokenCipher
from .db import Database
from .errors import ShopNotInstalled
from .models import Shop, utcnow
from .shop_domain import require_shop_domain

INSTALLED = "installed"
UNINSTALLED = "uninstalled"
NEEDS_REAUTH = "needs_reauth"


def find_shop(session: Session, domain: str) -> Shop | None:
    """The shop row for domain, whatever its status."""
    return session.scalar(select(Shop).where(Shop.domain == domain))


def is_installed(database: Database, domain: str) -> bool:
    """True when the shop has an active installation."""
    with database.session() as session:
        status = session.scalar(select(Shop.status).where(Shop.domain == domain))
    return status == INSTALLED


def install_shop(
    database: Database,
    cipher: TokenCipher,
    domain: str,
    access_token: str,
    *,
    token_kind: str = "custom",
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


def uninstall_shop(database: Database, domain: str) -> bool:
    """Mark the shop uninstalled and delete its tokens; False when it was not known."""
    with database.session() as session:
        shop = find_shop(session, domain)
        if shop is None:
            return False
        shop.status = UNINSTALLED
        shop.uninstalled_at = utcnow()
        shop.access_token = None
        shop.refresh_token = None
        shop.access_token_expires_at = None
        shop.refresh_token_expires_at = None
    return True


def delete_shop(database: Database, domain: str) -> bool:
    """Forget the shop entirely; False when it was not known."""
    with database.session() as session:
        shop = find_shop(session, domain)
        if shop is None:
            return False
        session.delete(shop)
    return True


def list_shops(database: Database) -> list[Shop]:
    """Every known shop, by domain."""
    with database.session() as session:
        return list(session.scalars(select(Shop).order_by(Shop.domain)))


def access_token(database: Database, cipher: TokenCipher, domain: str) -> str:
    """The shop's decrypted Admin API access token; ShopNotInstalled when it has none."""
    with database.session() as session:
        shop = find_shop(session, domain)
        if shop is None or shop.status != INSTALLED or not shop.access_token:
            raise ShopNotInstalled(f"{domain} is not installed")
        return cipher.decrypt(shop.access_token)
