"""Token exchange (Shopify managed install) over real HTTP against the Shopify fake: an ID token buys an
expiring offline token and refresh token that work on the Admin API; a forged, expired or foreign ID token
is refused; a 5xx or a timeout is transient."""

import time
from datetime import timedelta

import pytest

from plugin.dev.fakes.shopify.id_tokens import mint_id_token
from plugin.errors import TokenGrantRefused, TransientError
from plugin.http import make_session
from plugin.shopify.admin_api import AdminClient, graphql_url
from plugin.shopify.token_endpoint import TokenEndpoint
from plugin.store.models import utcnow
from tests.conftest import API_KEY, API_SECRET, SHOP
from tests.oauth_flow import TOKEN_PATH, token_calls

# The test secrets are shorter than Shopify's real ones (shpss_ + 32 hex), which PyJWT notes in a warning.

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
API_VERSION = "2026-10"
TIMEOUT = (5.0, 5.0)


def endpoint(shopify, timeout=TIMEOUT) -> TokenEndpoint:
    config = {"SHOPIFY_ADMIN_URL": shopify.url + "/{shop}", "SHOPIFY_API_KEY": API_KEY, "SHOPIFY_API_SECRET": API_SECRET}
    return TokenEndpoint.from_config(config, make_session(), timeout)


def shop_name(shopify, access_token: str) -> str:
    """The shop's name read through our Admin API client with this access token."""
    url = graphql_url(shopify.url + "/{shop}", SHOP, API_VERSION)
    client = AdminClient(SHOP, url, lambda: access_token, make_session(), TIMEOUT)
    return client.execute("query ShopName { shop { name } }")["shop"]["name"]


def test_exchange_buys_an_expiring_offline_token_that_works_on_the_admin_api(shopify):
    before = utcnow()
    grant = endpoint(shopify).exchange_id_token(SHOP, mint_id_token(SHOP, API_KEY, API_SECRET))

    assert grant.access_token and grant.refresh_token
    assert grant.scopes == "read_orders,write_orders"
    assert before + timedelta(minutes=59) < grant.access_token_expires_at <= utcnow() + timedelta(hours=1)
    assert grant.refresh_token_expires_at > utcnow() + timedelta(days=89)
    assert shopify.access_tokens(SHOP) == [grant.access_token]
    assert shop_name(shopify, grant.access_token) == "Demo"

    [call] = token_calls(shopify, EXCHANGE)
    assert call.status == 200
    assert call.json["subject_token_type"] == "urn:ietf:params:oauth:token-type:id_token"
    assert call.json["requested_token_type"] == "urn:shopify:params:oauth:token-type:offline-access-token"
    assert call.json["expiring"] == 1
    assert call.json["client_id"] == API_KEY
    assert len(token_calls(shopify)) == 1


def test_the_refresh_token_from_an_exchange_refreshes(shopify):
    tokens = endpoint(shopify)
    grant = tokens.exchange_id_token(SHOP, shopify.id_token(SHOP))
    refreshed = tokens.refresh(SHOP, grant.refresh_token)
    assert refreshed.access_token != grant.access_token
    assert shop_name(shopify, refreshed.access_token) == "Demo"


def test_exchange_for_an_installed_shop_replaces_its_expiring_token(shopify):
    # Opening the app again exchanges again: only one expiring offline token is active per app and shop.
    tokens = endpoint(shopify)
    first = tokens.exchange_id_token(SHOP, shopify.id_token(SHOP))
    second = tokens.exchange_id_token(SHOP, shopify.id_token(SHOP))
    assert shopify.access_tokens(SHOP) == [second.access_token]
    assert first.access_token != second.access_token


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda shopify: mint_id_token(SHOP, API_KEY, "not-the-app-secret"), id="forged-signature"),
        pytest.param(lambda shopify: mint_id_token(SHOP, "another-app-key", API_SECRET), id="another-app"),
        pytest.param(lambda shopify: shopify.id_token("other.myshopify.com"), id="another-shop"),
        pytest.param(lambda shopify: "not-a-jwt", id="garbage"),
    ],
)
def test_an_invalid_id_token_is_refused_and_nothing_is_issued(shopify, forge):
    with pytest.raises(TokenGrantRefused) as refused:
        endpoint(shopify).exchange_id_token(SHOP, forge(shopify))
    assert "invalid_subject_token" in str(refused.value) or "Subject token is invalid" in str(refused.value)
    assert SHOP not in shopify.shops()
    [call] = token_calls(shopify, EXCHANGE)
    assert call.status == 400


def test_an_id_token_expired_on_shopifys_clock_is_refused(shopify):
    id_token = shopify.id_token(SHOP)
    shopify.advance_clock(61)
    with pytest.raises(TokenGrantRefused):
        endpoint(shopify).exchange_id_token(SHOP, id_token)


def test_the_refusal_never_shows_the_id_token(shopify):
    id_token = mint_id_token(SHOP, API_KEY, "not-the-app-secret")
    with pytest.raises(TokenGrantRefused) as refused:
        endpoint(shopify).exchange_id_token(SHOP, id_token)
    assert id_token not in str(refused.value) and id_token not in repr(refused.value)


def test_a_503_is_transient_and_the_next_try_succeeds(shopify):
    shopify.fail_next(503, path_regex=TOKEN_PATH, headers={"Retry-After": "2"})
    tokens = endpoint(shopify)
    with pytest.raises(TransientError) as failed:
        tokens.exchange_id_token(SHOP, shopify.id_token(SHOP))
    assert not isinstance(failed.value, TokenGrantRefused)
    assert failed.value.retry_after == 2.0
    grant = tokens.exchange_id_token(SHOP, shopify.id_token(SHOP))
    assert shop_name(shopify, grant.access_token) == "Demo"


def test_a_timeout_is_transient(shopify):
    shopify.latency = 1.0
    with pytest.raises(TransientError, match="timed out"):
        endpoint(shopify, timeout=(5.0, 0.2)).exchange_id_token(SHOP, shopify.id_token(SHOP))
    # The fake still answers the abandoned request after its latency: let it finish here, or the grant it
    # issues would land in the next test's shop (the fake is shared) and revoke that shop's tokens.
    deadline = time.monotonic() + 10
    while any(call.status is None for call in shopify.calls) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(call.status is not None for call in shopify.calls)


def test_grant_repr_shows_no_token(shopify):
    grant = endpoint(shopify).exchange_id_token(SHOP, shopify.id_token(SHOP))
    assert grant.access_token not in repr(grant) and grant.refresh_token not in repr(grant)
