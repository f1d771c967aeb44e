"""The long-lived collaborators of one app: database, Redis, token cipher, HTTP clients."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis
import requests
from flask import Flask, current_app

from plugin.http import make_session
from plugin.providers.gelato import GelatoClient
from plugin.shopify.admin_api import AdminClient, graphql_url
from plugin.shopify.token_endpoint import TokenEndpoint
from plugin.shopify.tokens import ShopTokens
from plugin.store.crypto import TokenCipher
from plugin.store.db import Database


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

    def provider(self) -> GelatoClient:
        """The print provider client."""
        return GelatoClient(self.config["GELATO_API_URL"], self.config["GELATO_API_KEY"], self.http, self.timeout)

    def admin_client(self, shop: str) -> AdminClient:
        """An Admin GraphQL client for the installed shop; expiring tokens refresh themselves."""
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
        )


def init_app(app: Flask) -> Services:
    """Build the app's Services from its config and extensions."""
    services = Services(
        config=app.config,
        database=app.extensions["database"],
        redis=app.extensions["redis"],
        cipher=TokenCipher(app.config["TOKEN_ENCRYPTION_KEY"]),
    )
    app.extensions["services"] = services
    return services


def get_services() -> Services:
    """The current app's Services."""
    return current_app.extensions["services"]
