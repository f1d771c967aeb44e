"""A shop's own provider account over its life: kept through a replayed uninstall, deleted by a genuine one,
rotated with TOKEN_ENCRYPTION_KEY, and one client (one keep-alive session) per account."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from plugin import create_app
from plugin.errors import ConfigurationError
from plugin.providers.catalog import ProviderClients
from plugin.store import provider_accounts
from plugin.store.models import ProviderAccount
from tests.conftest import SHOP, app_config
from tests.test_uninstall_confirmed import deliver_uninstall

MERCHANT_KEY = "merchant-key-0123456789-beef"


@pytest.fixture
def connected_shop(app, installed_shop, gelato):
    """SHOP with its own Gelato account, connected through the real CLI (live check included)."""
    gelato.add_account(MERCHANT_KEY)
    result = app.test_cli_runner().invoke(args=["shops", "connect", SHOP], env={"PROVIDER_API_KEY": MERCHANT_KEY})
    assert result.exit_code == 0, result.output
    return SHOP


def stored_keys(app) -> list[str]:
    with app.extensions["database"].session() as session:
        return list(session.scalars(select(ProviderAccount.api_key)))


def test_the_key_is_stored_encrypted_and_shown_only_as_a_hint(app, connected_shop):
    [stored] = stored_keys(app)
    assert MERCHANT_KEY not in stored
    summary = provider_accounts.summary(app.extensions["database"], SHOP)
    assert summary.key_hint == "…beef" and summary.connected_at is not None and summary.last_checked_at is not None
    assert MERCHANT_KEY not in repr(app.extensions["services"].provider_account(SHOP))


def test_a_replayed_uninstall_keeps_the_account_and_a_genuine_one_deletes_it(app, live_app, connected_shop, shopify, drain):
    deliver_uninstall(shopify, live_app)  # Shopify still serves the shop: a replay
    drain()
    assert len(stored_keys(app)) == 1
    shopify.uninstall(SHOP)
    deliver_uninstall(shopify, live_app, name="Demo again")
    drain()
    assert stored_keys(app) == []


def test_tokens_reencrypt_rotates_provider_keys_too(app, connected_shop, shopify, gelato, redis_url, database_url):
    old_key = app.config["TOKEN_ENCRYPTION_KEY"]
    new_key = Fernet.generate_key().decode()
    rotating = create_app(app_config(redis_url, database_url, gelato, shopify, TOKEN_ENCRYPTION_KEY=f"{new_key},{old_key}"))
    result = rotating.test_cli_runner().invoke(args=["tokens", "reencrypt"])
    assert result.exit_code == 0, result.output
    new_only = create_app(app_config(redis_url, database_url, gelato, shopify, TOKEN_ENCRYPTION_KEY=new_key))
    services = new_only.extensions["services"]
    assert provider_accounts.load_account(services.database, services.cipher, SHOP).api_key == MERCHANT_KEY
    with pytest.raises(ConfigurationError):
        provider_accounts.load_account(app.extensions["database"], app.extensions["services"].cipher, SHOP)


def test_one_client_per_account_and_the_least_recent_is_closed_past_the_limit(app):
    clients = ProviderClients(app.config, (1.0, 1.0), limit=2)
    first = clients.client("gelato", "key-a-000000", None)
    assert clients.client("gelato", "key-a-000000", None) is first
    assert clients.client("gelato", "key-a-000000", "store-1") is not first  # another store is another account
    clients.client("gelato", "key-b-000000", None)
    assert len(clients) == 2
    assert clients.client("gelato", "key-a-000000", None) is not first  # evicted, built anew
