"""ID tokens (App Bridge session tokens) minted like Shopify's: the valid ones yield shop, user and session
(also under the previous secret); forged, expired, premature, foreign, mismatched and malformed ones raise
InvalidIdToken with a reason that never contains the token."""

import json
import time
from datetime import UTC, datetime

import jwt
import pytest

from plugin.admin.id_tokens import LEEWAY_SECONDS, IdToken, verify_id_token
from plugin.dev.fakes.shopify.id_tokens import mint_id_token
from plugin.errors import ConfigurationError, InvalidIdToken
from tests.conftest import API_KEY, API_SECRET, SHOP

# The test secrets are shorter than Shopify's real ones (shpss_ + 32 hex), which PyJWT notes in a warning.

OLD_SECRET = "test-api-secret-old"
SECRETS = [API_SECRET, OLD_SECRET]


def bearer(token: str) -> str:
    return f"Bearer {token}"


def mint(**overrides) -> str:
    return mint_id_token(SHOP, API_KEY, overrides.pop("secret", API_SECRET), **overrides)


def rejected(authorization, secrets=SECRETS) -> InvalidIdToken:
    """The InvalidIdToken raised for this header, checked to say nothing of the token."""
    with pytest.raises(InvalidIdToken) as caught:
        verify_id_token(authorization, API_KEY, secrets)
    reason = str(caught.value)
    assert reason
    token = authorization.removeprefix("Bearer ").removeprefix("Basic ") if isinstance(authorization, str) else ""
    if len(token) > 8:
        assert token not in reason
        # Not even one of the JWT's segments (a payload alone would give the claims away).
        assert not any(len(part) > 8 and part in reason for part in token.split("."))
    return caught.value


def test_valid_token_yields_shop_user_session_and_expiry():
    now = time.time()
    token = mint(now=now, user="7001")
    verified = verify_id_token(bearer(token), API_KEY, SECRETS)
    assert verified.shop == SHOP
    assert verified.user == "7001"
    assert verified.session and len(verified.session) == 32
    assert verified.token == token
    assert verified.expires_at == datetime.fromtimestamp(int(now) + 60, UTC)


def test_repr_and_str_never_show_the_token():
    token = mint()
    verified = verify_id_token(bearer(token), API_KEY, SECRETS)
    assert token not in repr(verified) and token not in str(verified)
    assert SHOP in repr(verified)


def test_id_token_is_immutable():
    verified = verify_id_token(bearer(mint()), API_KEY, SECRETS)
    with pytest.raises(AttributeError):
        verified.shop = "other.myshopify.com"  # type: ignore[misc]
    assert isinstance(verified, IdToken)


def test_token_signed_with_the_previous_secret_is_accepted_during_a_rotation():
    verified = verify_id_token(bearer(mint(secret=OLD_SECRET)), API_KEY, SECRETS)
    assert verified.shop == SHOP


def test_previous_secret_is_not_accepted_once_removed():
    error = rejected(bearer(mint(secret=OLD_SECRET)), secrets=[API_SECRET, ""])
    assert "signature" in str(error)


def test_forged_signature_is_rejected():
    error = rejected(bearer(mint(secret="not-the-app-secret")))
    assert "signature" in str(error)


def test_expired_token_is_rejected():
    error = rejected(bearer(mint(now=time.time() - 60 - LEEWAY_SECONDS - 5)))
    assert "expired" in str(error)


def test_token_expired_within_the_leeway_is_accepted():
    # App Bridge and our host disagree by a few seconds at most: exp 3 s ago still counts.
    verified = verify_id_token(bearer(mint(now=time.time() - 63)), API_KEY, SECRETS)
    assert verified.shop == SHOP


def test_token_not_yet_valid_is_rejected():
    error = rejected(bearer(mint(not_before=time.time() + 60 + LEEWAY_SECONDS)))
    assert "not yet valid" in str(error)


def test_nbf_a_few_seconds_ahead_is_accepted():
    # App Bridge is known to send an nbf slightly in the future.
    verified = verify_id_token(bearer(mint(not_before=time.time() + 3)), API_KEY, SECRETS)
    assert verified.shop == SHOP


def test_token_for_another_app_is_rejected():
    error = rejected(bearer(mint(audience="another-app-key")))
    assert "aud" in str(error)


def test_token_of_another_app_signed_with_its_own_secret_is_rejected():
    rejected(bearer(mint_id_token(SHOP, "another-app-key", "another-app-secret")))


def test_audience_list_containing_ours_is_rejected():
    # PyJWT accepts a list of audiences containing ours; Shopify always sends the key alone.
    token = jwt.encode(_claims(aud=[API_KEY, "another-app-key"]), API_SECRET, algorithm="HS256")
    rejected(bearer(token))


def test_dest_of_another_shop_than_the_issuer_is_rejected():
    error = rejected(bearer(mint(dest="https://other.myshopify.com", issuer=f"https://{SHOP}/admin")))
    assert "differ" in str(error)


def test_issuer_on_the_same_host_but_not_the_admin_is_rejected():
    # The library compares hosts only; the contract says iss is exactly {dest}/admin.
    error = rejected(bearer(mint(issuer=f"https://{SHOP}/somewhere-else")))
    assert "iss" in str(error)


@pytest.mark.parametrize(
    "dest",
    [
        "https://evil.example.com",
        "https://demo.myshopify.com.evil.example.com",
        "http://demo.myshopify.com",  # right host, wrong scheme
        "https://demo.myshopify.com/",  # not exactly https://{shop}
        "https://-demo.myshopify.com",
    ],
)
def test_dest_that_is_not_a_shop_domain_is_rejected(dest):
    # iss follows dest so only the dest check can catch it.
    rejected(bearer(mint(dest=dest, issuer=f"{dest.rstrip('/')}/admin")))


def test_token_without_exp_is_rejected():
    claims = _claims()
    del claims["exp"]
    error = rejected(bearer(jwt.encode(claims, API_SECRET, algorithm="HS256")))
    assert "exp" in str(error)


def test_token_without_a_required_claim_is_rejected():
    claims = _claims()
    del claims["dest"]
    rejected(bearer(jwt.encode(claims, API_SECRET, algorithm="HS256")))


def test_other_algorithms_are_rejected():
    rejected(bearer(jwt.encode(_claims(), API_SECRET, algorithm="HS512")))
    unsigned = jwt.encode(_claims(), None, algorithm="none")
    rejected(bearer(unsigned))


@pytest.mark.parametrize("claim, value", [("iss", 12345), ("dest", ["https://demo.myshopify.com"]), ("exp", "soon"), ("sub", {})])
def test_claims_of_the_wrong_type_are_rejected(claim, value):
    # PyJWT refuses to encode some of these, so sign the raw JSON.
    payload = json.dumps(_claims(**{claim: value})).encode()
    rejected(bearer(jwt.api_jws.PyJWS().encode(payload, API_SECRET, algorithm="HS256")))


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer "])
def test_missing_header_or_token_is_rejected(authorization):
    rejected(authorization)


def test_basic_authorization_is_rejected():
    error = rejected(f"Basic {mint()}")
    assert "Bearer" in str(error)


@pytest.mark.parametrize(
    "authorization",
    ["random text", "Bearer random text", "Bearer a.b.c", "Bearer eyJhbGciOiJIUzI1NiJ9.e30", "bearer " + "x" * 40],
)
def test_garbage_is_rejected(authorization):
    rejected(authorization)


def test_token_lowercase_bearer_scheme_is_rejected():
    # ShopifyAPI reads the header exactly as App Bridge writes it.
    rejected("bearer " + mint())


def test_missing_app_credentials_are_a_configuration_error_not_a_bad_token():
    with pytest.raises(ConfigurationError):
        verify_id_token(bearer(mint()), API_KEY, ["", ""])
    with pytest.raises(ConfigurationError):
        verify_id_token(bearer(mint()), "", [API_SECRET])


def test_error_is_chained_to_its_cause():
    error = rejected(bearer(mint(secret="not-the-app-secret")))
    assert error.__cause__ is not None


def _claims(**overrides) -> dict:
    now = int(time.time())
    claims = {
        "iss": f"https://{SHOP}/admin",
        "dest": f"https://{SHOP}",
        "aud": API_KEY,
        "sub": "42",
        "exp": now + 60,
        "nbf": now,
        "iat": now,
        "jti": "00000000-0000-4000-8000-000000000000",
        "sid": "0" * 32,
    }
    claims.update(overrides)
    return claims
