"""Public-app install over real HTTP against the Shopify fake: /auth → authorize → signed callback →
expiring tokens stored encrypted → webhooks registered → installed page; every refused path stores nothing."""

import os
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import shopify as shopify_api
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from plugin import create_app
from plugin.dev.fakes.server import LocalServer
from plugin.shopify.oauth import missing_scopes
from plugin.shopify.oauth_signature import query_signature, verify_query
from plugin.shopify.oauth_state import STATE_KEY_PREFIX, STATE_TTL_SECONDS
from plugin.store.models import utcnow
from plugin.store.shops import as_utc
from tests.conftest import API_KEY, API_SECRET, SHOP, app_config
from tests.oauth_flow import (
    TOKEN_PATH,
    install_query,
    install_via_oauth,
    shop_row,
    start_install,
    state_of,
    token_calls,
)
from tests.test_shop_domain import HOSTILE

# The hostile strings that can travel in a query parameter (no None or ints).
HOSTILE_SHOPS = tuple(domain for domain in HOSTILE if isinstance(domain, str) and domain)


def callback(live_app, params: dict) -> requests.Response:
    return requests.get(live_app.url + "/auth/callback", params=params, allow_redirects=False, timeout=10)


def signed_callback(shopify, state: str | None, shop: str = SHOP, secret: str | None = None, **overrides) -> dict:
    """A callback query as Shopify would sign it (the code is one the fake never issued unless given)."""
    params = {"code": "0123456789abcdef", "shop": shop, "timestamp": str(int(time.time())), "host": "eA==", **overrides}
    if state is not None:
        params["state"] = state
    return shopify.signed_query(params, secret)


def database_text(app) -> bytes:
    """Everything the database holds about shops, as raw bytes: the SQLite files, or Postgres rows."""
    url = app.extensions["database"].url
    if url.startswith("sqlite"):
        path = url.split("sqlite:///", 1)[1]
        # WAL mode: recent writes may sit in the -wal file rather than the main file.
        return b"".join(open(p, "rb").read() for p in (path, path + "-wal", path + "-shm") if os.path.exists(p))
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT shops::text FROM shops")).scalars().all()
    engine.dispose()
    return "\n".join(rows).encode()


def test_install_end_to_end_stores_expiring_tokens_encrypted_and_registers_webhooks(app, live_app, shopify, caplog):
    response = install_via_oauth(live_app, shopify)

    assert response.status_code == 200, response.text
    assert f"Print-order mirror is installed on {SHOP}" in response.text
    assert "print-cancel-too-late" in response.text  # says what it will do
    # /auth → 302 to the fake's authorize page → 302 to our callback, all over real HTTP.
    assert [r.status_code for r in response.history] == [302, 302]
    assert urlsplit(response.url).path == "/auth/callback"

    [authorize] = shopify.authorize_requests
    assert authorize["shop"] == SHOP
    assert authorize["client_id"] == API_KEY
    assert authorize["scope"] == "read_orders,write_orders"
    assert authorize["redirect_uri"] == live_app.url + "/auth/callback"
    assert len(authorize["state"]) >= 43
    assert authorize["grant_options[]"] == []  # offline token, not per-user

    [exchange] = token_calls(shopify)
    assert exchange.json["expiring"] == 1
    assert exchange.json["client_id"] == API_KEY and exchange.json["client_secret"] == API_SECRET

    [live_token] = shopify.access_tokens(SHOP)
    row = shop_row(app)
    assert (row.status, row.token_kind, row.scopes) == ("installed", "oauth", "read_orders,write_orders")
    now = utcnow()
    assert now + timedelta(minutes=55) < as_utc(row.access_token_expires_at) <= now + timedelta(minutes=60)
    assert now + timedelta(days=89) < as_utc(row.refresh_token_expires_at) <= now + timedelta(days=90)
    cipher = app.extensions["services"].cipher
    assert cipher.decrypt(row.access_token) == live_token
    refresh_token = cipher.decrypt(row.refresh_token)
    assert refresh_token.startswith("shprt_")

    address = live_app.url + "/webhooks"
    assert sorted((s["topic"], s["uri"]) for s in shopify.subscriptions(SHOP)) == [
        ("APP_UNINSTALLED", address),
        ("ORDERS_CANCELLED", address),
        ("ORDERS_UPDATED", address),
    ]
    # Never in clear: not in the database, not in a log line, not on the page.
    stored = database_text(app)
    for secret in (live_token, refresh_token):
        assert secret.encode() not in stored
        assert secret not in caplog.text
        assert secret not in response.text


def test_state_expires_and_is_bound_to_the_shop(app, live_app, shopify, redis_client):
    state = state_of(start_install(live_app, shopify))
    ttl = redis_client.ttl(STATE_KEY_PREFIX + state)
    assert 0 < ttl <= STATE_TTL_SECONDS

    other = "other-shop.myshopify.com"
    response = callback(live_app, signed_callback(shopify, state, shop=other))
    assert response.status_code == 403
    assert "another store" in response.text
    assert token_calls(shopify) == []
    assert shop_row(app, other) is None


def test_replayed_callback_is_refused(app, live_app, shopify):
    first = install_via_oauth(live_app, shopify)
    assert first.status_code == 200
    token_before = shop_row(app).access_token

    replay = requests.get(first.url, timeout=10)  # the exact signed callback URL, a second time

    assert replay.status_code == 403
    assert "already used" in replay.text and "Nothing was installed" in replay.text
    assert len(token_calls(shopify)) == 1  # refused before any second code exchange
    assert shop_row(app).access_token == token_before


def test_missing_state_is_refused(app, live_app, shopify):
    response = callback(live_app, signed_callback(shopify, state=None))
    assert response.status_code == 400
    assert "state" in response.text
    assert token_calls(shopify) == [] and shop_row(app) is None


def test_forged_callback_is_refused_and_does_not_burn_the_state(app, live_app, shopify):
    authorize_url = start_install(live_app, shopify)
    state = state_of(authorize_url)
    forged = signed_callback(shopify, state, secret="guessed-secret")
    tampered = signed_callback(shopify, state)
    tampered["code"] = "another-code"  # changed after signing

    for params in (forged, tampered, {k: v for k, v in signed_callback(shopify, state).items() if k != "hmac"}):
        response = callback(live_app, params)
        assert response.status_code == 403, params
        assert "signature" in response.text
    assert token_calls(shopify) == [] and shop_row(app) is None

    # The merchant's real flow still completes: forged requests did not consume the state.
    finished = requests.get(authorize_url, timeout=10)
    assert finished.status_code == 200 and shop_row(app).status == "installed"


def test_stale_or_future_callback_timestamp_is_refused(app, live_app, shopify):
    state = state_of(start_install(live_app, shopify))
    for timestamp in (int(time.time()) - STATE_TTL_SECONDS - 600, int(time.time()) + 3600, "soon"):
        response = callback(live_app, signed_callback(shopify, state, timestamp=str(timestamp)))
        assert response.status_code == 403
        assert "too old" in response.text
    assert token_calls(shopify) == [] and shop_row(app) is None


def test_install_request_needs_a_valid_fresh_signature(app, live_app, shopify):
    cases = (
        install_query(shopify, secret="guessed-secret"),
        {k: v for k, v in install_query(shopify).items() if k != "hmac"},
        install_query(shopify, timestamp=str(int(time.time()) - 2 * 24 * 3600)),
    )
    for params in cases:
        response = requests.get(live_app.url + "/auth", params=params, allow_redirects=False, timeout=10)
        assert response.status_code == 403, params
        assert "Location" not in response.headers
    tampered = install_query(shopify)
    tampered["shop"] = "victim.myshopify.com"
    assert requests.get(live_app.url + "/auth", params=tampered, allow_redirects=False, timeout=10).status_code == 403
    assert shopify.calls == []


@pytest.mark.parametrize("hostile", HOSTILE_SHOPS)
def test_hostile_shop_domains_are_refused_before_any_url_is_built(app, live_app, shopify, hostile):
    # Correctly signed, so only the domain check stands between the value and a URL.
    start = requests.get(live_app.url + "/auth", params=install_query(shopify, shop=hostile), allow_redirects=False, timeout=10)
    assert start.status_code == 400
    assert "Location" not in start.headers and "myshopify.com" in start.text

    state = state_of(start_install(live_app, shopify))  # a live state, to be sure the shop check refuses
    shopify.reset()
    finish = callback(live_app, signed_callback(shopify, state, shop=hostile))
    assert finish.status_code == 400
    assert shopify.calls == []  # no authorize, no token exchange, nothing at all
    assert shop_row(app, hostile) is None


def test_refused_code_stores_nothing(app, live_app, shopify):
    state = state_of(start_install(live_app, shopify))
    response = callback(live_app, signed_callback(shopify, state))  # a code the fake never issued
    assert response.status_code == 400
    assert "refused" in response.text
    assert len(token_calls(shopify)) == 1
    assert shop_row(app) is None


def test_failed_webhook_registration_says_so_and_a_second_install_finishes_it(app, live_app, shopify):
    shopify.fail_next(500, times=10, path_regex=r"/graphql\.json$")
    response = install_via_oauth(live_app, shopify)
    assert response.status_code == 502
    assert "webhooks could not be registered" in response.text
    assert "Nothing was installed" not in response.text
    assert shop_row(app).status == "installed"
    assert shopify.subscriptions(SHOP) == []

    shopify.reset()
    again = install_via_oauth(live_app, shopify)
    assert again.status_code == 200
    assert len(shopify.subscriptions(SHOP)) == 3


def test_toml_mode_leaves_subscriptions_to_shopify_app_toml(app, live_app, shopify):
    app.config["WEBHOOK_SUBSCRIPTIONS"] = "toml"
    response = install_via_oauth(live_app, shopify)
    assert response.status_code == 200
    assert shopify.subscriptions(SHOP) == [] and shopify.graphql_calls() == []


def test_old_secret_signs_install_requests_during_rotation(redis_client, redis_url, database_url, gelato, shopify):
    config = app_config(
        redis_url, database_url, gelato, shopify, SHOPIFY_API_SECRET="rotated-new", SHOPIFY_API_SECRET_OLD=API_SECRET
    )
    application = create_app(config)
    with LocalServer(application) as server:
        for secret in (API_SECRET, "rotated-new"):
            response = requests.get(
                server.url + "/auth", params=install_query(shopify, secret=secret), allow_redirects=False, timeout=10
            )
            assert response.status_code == 302
            assert parse_qs(urlsplit(response.headers["Location"]).query)["client_id"] == [API_KEY]
        refused = requests.get(
            server.url + "/auth", params=install_query(shopify, secret="other"), allow_redirects=False, timeout=10
        )
        assert refused.status_code == 403
    application.extensions["database"].dispose()


def test_unconfigured_app_says_so(app, live_app, shopify):
    app.config["SHOPIFY_API_SECRET"] = ""
    response = requests.get(live_app.url + "/auth", params=install_query(shopify), allow_redirects=False, timeout=10)
    assert response.status_code == 500
    assert "SHOPIFY_API_SECRET" in response.text


_PARAM_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    params=st.dictionaries(_PARAM_TEXT.filter(lambda k: k != "hmac" and not k.endswith("[]")), _PARAM_TEXT, max_size=5),
    lists=st.dictionaries(st.sampled_from(["ids[]", "x[]"]), st.lists(_PARAM_TEXT, max_size=3), max_size=2),
    secret=st.text(min_size=1, max_size=20, alphabet=st.characters(min_codepoint=33, max_codepoint=126)),
)
def test_signature_matches_shopify_api_reference(params, lists, secret):
    # shopify.Session.calculate_hmac is Shopify's own implementation; it reads the secret from class state.
    query = {**params, **lists}
    shopify_api.Session.secret = secret
    try:
        expected = shopify_api.Session.calculate_hmac(query)
    finally:
        shopify_api.Session.secret = None
    assert query_signature(query, secret) == expected
    assert verify_query({**query, "hmac": expected}, ["old-secret", secret])
    assert not verify_query({**query, "hmac": expected}, ["old-secret"])


def test_callback_granting_fewer_scopes_stores_nothing_and_names_the_missing_scope(app, live_app, shopify):
    shopify.granted_scopes_override = "read_orders"  # the merchant's grant lacks write_orders
    response = install_via_oauth(live_app, shopify)

    assert response.status_code == 403
    assert "needs write_orders" in response.text
    assert "Nothing was installed" in response.text
    assert len(token_calls(shopify)) == 1  # the code was exchanged, the answer's scope then refused
    assert shop_row(app) is None
    assert shopify.subscriptions(SHOP) == [] and shopify.graphql_calls() == []


def test_a_granted_write_scope_covers_the_read_scope_it_implies(app, live_app, shopify):
    shopify.granted_scopes_override = "write_orders"  # Shopify may list only the write scope
    response = install_via_oauth(live_app, shopify)
    assert response.status_code == 200, response.text
    row = shop_row(app)
    assert (row.status, row.scopes) == ("installed", "write_orders")


def test_missing_scopes_allows_for_implied_read_scopes():
    required = "read_orders, write_orders,read_products"
    assert missing_scopes(required, "read_orders,write_orders,read_products") == []
    assert missing_scopes(required, "write_orders,write_products") == []
    assert missing_scopes(required, "read_orders,read_products") == ["write_orders"]
    assert missing_scopes(required, None) == ["read_orders", "write_orders", "read_products"]
    assert missing_scopes("unauthenticated_read_checkouts", "unauthenticated_write_checkouts") == []
    assert missing_scopes("write_orders", "read_orders") == ["write_orders"]  # read never implies write


@pytest.mark.parametrize("status", [403, 404, 408, 503])
def test_a_code_exchange_that_fails_without_refusing_says_try_again_and_stores_nothing(app, live_app, shopify, status):
    shopify.fail_next(status, path_regex=TOKEN_PATH)
    response = install_via_oauth(live_app, shopify)
    assert response.status_code == 502
    assert "Try again" in response.text and "refused" not in response.text
    assert "Nothing was installed" in response.text
    assert shop_row(app) is None

    again = install_via_oauth(live_app, shopify)  # the merchant simply tries again
    assert again.status_code == 200 and shop_row(app).status == "installed"
