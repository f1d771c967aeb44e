"""Helpers driving the public-app install over real HTTP: signed install request → /auth → the fake's
authorize page → signed 302 to /auth/callback → installed page."""

from __future__ import annotations

import base64
import time
from urllib.parse import parse_qs, urlsplit

import requests
from sqlalchemy import select

from plugin.store.models import Shop
from tests.conftest import SHOP

TOKEN_PATH = r"/admin/oauth/access_token$"


def install_query(shopify, shop: str = SHOP, secret: str | None = None, **overrides) -> dict:
    """The signed query Shopify sends to the app URL when a merchant installs."""
    store = shop.split(".")[0]
    params = {
        "shop": shop,
        "timestamp": str(int(time.time())),
        "host": base64.b64encode(f"admin.shopify.com/store/{store}".encode()).decode(),
        **overrides,
    }
    return shopify.signed_query(params, secret)


def start_install(live_app, shopify, shop: str = SHOP) -> str:
    """GET /auth without following redirects; returns the authorize URL the app redirected to."""
    response = requests.get(live_app.url + "/auth", params=install_query(shopify, shop), allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def state_of(authorize_url: str) -> str:
    """The state nonce inside an authorize URL."""
    return parse_qs(urlsplit(authorize_url).query)["state"][0]


def install_via_oauth(live_app, shopify, shop: str = SHOP) -> requests.Response:
    """The whole install, following every redirect like a browser; returns the final response."""
    return requests.get(live_app.url + "/auth", params=install_query(shopify, shop), timeout=10)


def token_calls(shopify, grant_type: str | None = None) -> list:
    """POSTs the fake received at the token endpoint, only refreshes when grant_type='refresh_token'."""
    calls = shopify.calls_matching("POST", TOKEN_PATH)
    if grant_type is None:
        return calls
    return [call for call in calls if (call.json or {}).get("grant_type", "authorization_code") == grant_type]


def shop_row(app, shop: str = SHOP) -> Shop | None:
    """The shop's database row (detached), or None."""
    with app.extensions["database"].session() as session:
        return session.scalar(select(Shop).where(Shop.domain == shop))
