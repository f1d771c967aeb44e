"""The long-lived collaborators of one app: database, Redis, token cipher, HTTP clients."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import redis
import requests
from flask import Flask, current_app
from rq import get_current_job

from plugin.http import make_session
from plugin.providers import PrintProvider
from plugin.providers.catalog import ProviderClients
from plugin.shopify.admin_api import MAX_INLINE_THROTTLE_WAIT, AdminClient, graphql_url
from plugin.shopify.token_endpoint import TokenEndpoint
from plugin.shopify.tokens import ShopTokens
from plugin.store import provider_accounts
from plugin.store.crypto import TokenCipher
from plugin.store.db import Database
from plugin.store.provider_accounts import Account

# Where a shop's print-provider account comes from: its own, or the deployment-wide GELATO_API_KEY.
OWN_ACCOUNT = "shop"
DEFAULT_ACCOUNT = "default"


@dataclass
class Services:
    """Everything a request or a job needs, built once per process and reused (keep-alive)."""

    config: dict
    database: Database
    redis: redis.Redis
    cipher: TokenCipher
    http: requests.Session = field(default_factory=make_session)

    @property
    def timeout(self) -> tuple[float, float]:
        """(connect, read) timeout of every outgoing HTTP call."""
        return (self.config["HTTP_CONNECT_TIMEOUT"], self.config["HTTP_READ_TIMEOUT"])

    @cached_property
    def provider_clients(self) -> ProviderClients:
        """The process's provider clients, one per account."""
        return ProviderClients(self.config, self.timeout)

    def provider_account(self, shop: str) -> tuple[str, Account] | None:
        """The account the shop's jobs use and where it comes from (OWN_ACCOUNT, DEFAULT_ACCOUNT); None: neither."""
        own = provider_accounts.load_account(self.database, self.cipher, shop)
        if own is not None:
            return OWN_ACCOUNT, own
        if self.config["GELATO_API_KEY"]:
            return DEFAULT_ACCOUNT, Account(provider="gelato", api_key=self.config["GELATO_API_KEY"], store_id=None)
        return None

    def provider_name(self, shop: str) -> str:
        """The name of the provider the shop's orders go to (for notes); "gelato" when it has no account yet."""
        chosen = self.provider_account(shop)
        return "gelato" if chosen is None else chosen[1].provider

    def provider_client(self, account: Account) -> PrintProvider:
        """The (reused) client of a provider account."""
        return self.provider_clients.client(account.provider, account.api_key, account.store_id)

    def admin_client(self, shop: str, max_inline_wait: float | None = None) -> AdminClient:
        """An Admin GraphQL client for the installed shop; expiring tokens refresh themselves.

        max_inline_wait: the longest throttle the client waits out in place (0: raise RateLimited at
        once). By default 0 inside a job, whose worker thread must not sleep on one store's bucket
        (the job is held for it instead, jobs/failure.py), and a short wait elsewhere (a web request).
        """
        if max_inline_wait is None:
            max_inline_wait = 0.0 if get_current_job() is not None else MAX_INLINE_THROTTLE_WAIT
        url = graphql_url(self.config["SHOPIFY_ADMIN_URL"], shop, self.config["SHOPIFY_API_VERSION"])
        endpoint = TokenEndpoint.from_config(self.config, self.http, self.timeout)
        tokens = ShopTokens(shop, self.database, self.cipher, self.redis, endpoint)
        return AdminClient(
            shop,
            url,
            access_token=tokens.current,
            session=self.http,
            timeout=self.timeout,
            on_unauthorized=tokens.after_unauthorized,
            max_inline_wait=max_inline_wait,
        )


def init_app(app: Flask) -> Services:
    """Build the app's Services from its config and extensions."""
    services = Services(
        config=app.config,
        database=app.extensions["database"],
        redis=app.extensions["redis"],
        cipher=TokenCipher(app.config["TOKEN_ENCRYPTION_KEY"]),
        http=make_session(app.config["WORKER_CONCURRENCY"]),
    )
    app.extensions["services"] = services
    return services


def get_services() -> Services:
    """The current app's Services."""
    return current_app.extensions["services"]
