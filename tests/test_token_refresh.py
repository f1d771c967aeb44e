"""Expiring tokens over real HTTP: refreshed before expiry, after a 401 (once), once across concurrent
workers; a refused refresh token marks the shop needs_reauth and stops its jobs, any other failure keeps
both tokens and retries; custom tokens never refresh; `tokens reencrypt` moves every token to a new key."""

import json
import threading
from datetime import timedelta

import pytest
import requests
from cryptography.fernet import Fernet
from rq.job import JobStatus

from plugin import create_app
from plugin.errors import ConfigurationError, TransientError
from plugin.http import make_session
from plugin.shopify.token_endpoint import TokenEndpoint
from plugin.shopify.tokens import REFRESH_MARGIN, ShopTokens
from plugin.store import shops
from plugin.store.models import Shop, utcnow
from tests.conftest import SHOP, app_config, paragraphs_in
from tests.oauth_flow import TOKEN_PATH, install_via_oauth, shop_row, token_calls
from tests.support.records import events

# Answers of the token endpoint that do not refuse the grant: a proxy's or WAF's 403, a 404 while
# Shopify deploys, a request timeout, a server error, a 200 that is not the token answer.
NOT_A_REFUSAL = {
    "403": (403, None),
    "404": (404, None),
    "408": (408, None),
    "500": (500, None),
    "200-not-json": (200, "<html><body>upstream busy</body></html>"),
    "400-not-oauth": (400, "<html><body>Bad Request</body></html>"),
}
# Answers that do refuse it: RFC 6749's invalid_grant, and the answer Shopify has been seen giving
# a refresh token that is no longer active.
REFUSALS = {
    "invalid_grant": (400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}),
    "inactive_refresh_token": (
        401,
        {"error": "invalid_request", "error_description": "This request requires an active refresh_token"},
    ),
}


@pytest.fixture
def oauth_shop(app, live_app, shopify):
    """SHOP installed through the public-app OAuth flow (expiring token + refresh token)."""
    response = install_via_oauth(live_app, shopify)
    assert response.status_code == 200, response.text
    return SHOP


def cancel_too_late(shopify, gelato, live_app, status="in_production"):
    """A cancelled store order whose print order is already past cancelling: the job must write a note."""
    order_id = shopify.add_order(SHOP)
    gelato.add_order(str(order_id), status=status)
    shopify.cancel_order(SHOP, order_id)
    response = shopify.send_webhook(live_app.url + "/webhooks", SHOP, "orders/cancelled", shopify.order_payload(SHOP, order_id))
    assert response.status_code == 200, response.text
    assert response.json()["message"] == "enqueued"
    return order_id


def move_stored_expiry(app, delta: timedelta, refresh: bool = False) -> None:
    """Shift the stored access-token (and refresh-token) expiry, as if our clock had moved by -delta."""
    with app.extensions["database"].session() as session:
        shop = session.get(Shop, shop_row(app).id)
        shop.access_token_expires_at = shops.as_utc(shop.access_token_expires_at) + delta
        if refresh:
            shop.refresh_token_expires_at = shops.as_utc(shop.refresh_token_expires_at) + delta


def stored_tokens(app) -> tuple[str, str]:
    """The shop's access and refresh tokens, read back from the database and decrypted."""
    row = shop_row(app)
    cipher = app.extensions["services"].cipher
    return cipher.decrypt(row.access_token), cipher.decrypt(row.refresh_token)


def shop_tokens(app) -> ShopTokens:
    services = app.extensions["services"]
    return ShopTokens(
        SHOP,
        services.database,
        services.cipher,
        services.redis,
        TokenEndpoint.from_config(services.config, make_session(), services.timeout),
    )


def metric_lines(live_app) -> list[str]:
    response = requests.get(live_app.url + "/metrics", timeout=5)
    assert response.status_code == 200, response.text
    return response.text.splitlines()


def ran_once_and_failed(live_app, job: str = "mirror_cancellation") -> bool:
    """/metrics counts one failed run of the job and no retried one."""
    lines = metric_lines(live_app)
    return f'print_mirror_jobs_total{{job="{job}",outcome="failed"}} 1' in lines and not any(
        line.startswith(f'print_mirror_jobs_total{{job="{job}",outcome="retried"}}') for line in lines
    )


def graphql_401s(shopify) -> list:
    return [call for call in shopify.graphql_calls() if call.status == 401]


def failed_jobs(queue):
    return [queue.fetch_job(job_id) for job_id in queue.failed_job_registry.get_job_ids()]


def test_token_expiring_between_two_jobs_is_refreshed_once_before_the_call(app, live_app, oauth_shop, shopify, gelato, drain):
    first = cancel_too_late(shopify, gelato, live_app)
    drain()
    assert len(paragraphs_in(shopify.order(SHOP, first)["note"])) == 1
    assert token_calls(shopify, "refresh_token") == []
    old_token = shop_row(app).access_token

    # 57 minutes pass, for Shopify and for us: the token has 3 minutes left.
    shopify.advance_clock(57 * 60)
    move_stored_expiry(app, -timedelta(minutes=57))
    second = cancel_too_late(shopify, gelato, live_app)
    drain()

    assert len(token_calls(shopify, "refresh_token")) == 1
    assert graphql_401s(shopify) == []  # refreshed before the call, not after a refusal
    assert len(paragraphs_in(shopify.order(SHOP, second)["note"])) == 1
    row = shop_row(app)
    assert row.access_token != old_token
    assert app.extensions["services"].cipher.decrypt(row.access_token) == shopify.access_tokens(SHOP)[0]
    assert shops.as_utc(row.access_token_expires_at) - utcnow() > REFRESH_MARGIN


def test_a_failing_refresh_keeps_using_a_token_that_has_minutes_left(app, live_app, oauth_shop, shopify, gelato, drain, queue):
    move_stored_expiry(app, -timedelta(minutes=57))  # 3 minutes left by our clock
    shopify.fail_next(503, times=1, path_regex=r"/admin/oauth/access_token$")
    order_id = cancel_too_late(shopify, gelato, live_app)
    drain()

    assert [call.status for call in token_calls(shopify, "refresh_token")][:1] == [503]
    assert len(paragraphs_in(shopify.order(SHOP, order_id)["note"])) == 1
    assert failed_jobs(queue) == []
    assert len(gelato.calls_matching("POST", r"orders:search$")) == 1  # done in one run, no retry needed
    assert shop_row(app).status == "installed"


@pytest.mark.parametrize("status, body", list(NOT_A_REFUSAL.values()), ids=list(NOT_A_REFUSAL))
def test_a_refresh_failure_that_is_no_refusal_keeps_both_tokens_and_the_job_retries(
    app, live_app, oauth_shop, shopify, gelato, drain, queue, caplog, status, body
):
    before = stored_tokens(app)
    # Expired by our clock: nothing can be sent to Shopify without a refresh.
    move_stored_expiry(app, -timedelta(minutes=61))

    shopify.fail_next(status, path_regex=TOKEN_PATH, body=body)
    with pytest.raises(TransientError):
        shop_tokens(app).current()
    row = shop_row(app)
    assert row.status == "installed"
    assert stored_tokens(app) == before  # both tokens kept, still readable with the app's key

    # A job meeting the same answer fails this run only; its retry refreshes with the kept refresh token.
    shopify.fail_next(status, path_regex=TOKEN_PATH, body=body)
    order_id = cancel_too_late(shopify, gelato, live_app)
    drain()
    refreshes = token_calls(shopify, "refresh_token")
    assert [call.status for call in refreshes] == [status, status, 200]
    assert {call.json["refresh_token"] for call in refreshes} == {before[1]}
    assert failed_jobs(queue) == []
    assert len(paragraphs_in(shopify.order(SHOP, order_id)["note"])) == 1
    assert shop_row(app).status == "installed"
    assert stored_tokens(app)[0] == shopify.access_tokens(SHOP)[0]

    lines = metric_lines(live_app)
    assert 'print_mirror_token_refresh_failures_total{kind="transient"} 2' in lines
    assert 'print_mirror_token_refresh_failures_total{kind="refused"} 0' in lines
    assert 'print_mirror_jobs_total{job="mirror_cancellation",outcome="retried"} 1' in lines
    failures = events(caplog, "token_refresh_failed")
    assert [(e["shop"], e["kind"], e["tokens_kept"]) for e in failures] == [(SHOP, "transient", True)] * 2
    assert events(caplog, "shop_needs_reauth") == []
    assert all(token not in caplog.text for token in before)


@pytest.mark.parametrize("status, body", list(REFUSALS.values()), ids=list(REFUSALS))
def test_a_refused_refresh_token_marks_needs_reauth_without_retrying(
    app, live_app, oauth_shop, shopify, gelato, drain, queue, caplog, status, body
):
    before = stored_tokens(app)
    move_stored_expiry(app, -timedelta(minutes=61))
    shopify.fail_next(status, path_regex=TOKEN_PATH, body=body)
    cancel_too_late(shopify, gelato, live_app)
    drain()

    row = shop_row(app)
    assert row.status == "needs_reauth"
    assert row.access_token is None and row.refresh_token is None
    [job] = failed_jobs(queue)
    assert "ReauthorizationRequired" in job.latest_result().exc_string
    assert len(token_calls(shopify, "refresh_token")) == 1  # no second refresh
    assert ran_once_and_failed(live_app)  # permanent: no retry
    lines = metric_lines(live_app)
    assert 'print_mirror_token_refresh_failures_total{kind="refused"} 1' in lines
    assert 'print_mirror_token_refresh_failures_total{kind="transient"} 0' in lines
    assert [e["shop"] for e in events(caplog, "shop_needs_reauth")] == [SHOP]
    assert all(token not in caplog.text for token in before)


def test_a_401_triggers_exactly_one_refresh_and_the_call_is_repeated(app, live_app, oauth_shop, shopify, gelato, drain, queue):
    shopify.expire_access_token(SHOP)  # Shopify refuses it; our stored expiry still says it is fine
    order_id = cancel_too_late(shopify, gelato, live_app)
    drain()

    assert len(graphql_401s(shopify)) == 1
    assert len(token_calls(shopify, "refresh_token")) == 1
    assert len(paragraphs_in(shopify.order(SHOP, order_id)["note"])) == 1
    assert "print-cancel-too-late" in shopify.order(SHOP, order_id)["tags"]
    assert failed_jobs(queue) == []


def test_a_second_401_after_refreshing_fails_the_job_without_another_refresh(
    app, live_app, oauth_shop, shopify, gelato, drain, queue
):
    shopify.fail_next(401, times=2, path_regex=r"/graphql\.json$", body={"errors": "Invalid API key or access token"})
    cancel_too_late(shopify, gelato, live_app)
    drain()

    assert len(token_calls(shopify, "refresh_token")) == 1
    [job] = failed_jobs(queue)
    assert "AdminUnauthorized" in job.latest_result().exc_string
    assert ran_once_and_failed(live_app)  # permanent: no retry


def test_concurrent_refreshes_make_one_call_and_share_the_new_token(app, live_app, oauth_shop, shopify):
    move_stored_expiry(app, -timedelta(minutes=58))
    shopify.latency = 0.2  # every call is slow, so the workers really overlap
    services = app.extensions["services"]
    workers = 4
    barrier = threading.Barrier(workers)
    results: list = []
    errors: list = []

    def worker():
        endpoint = TokenEndpoint.from_config(services.config, make_session(), services.timeout)
        tokens = ShopTokens(SHOP, services.database, services.cipher, services.redis, endpoint)
        barrier.wait()
        try:
            results.append(tokens.current())
        except Exception as exc:  # collected: an assertion in a thread would go unseen
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(token_calls(shopify, "refresh_token")) == 1
    assert len(set(results)) == 1 and results[0] == shopify.access_tokens(SHOP)[0]
    assert shop_row(app).status == "installed"


def test_dead_refresh_token_marks_needs_reauth_and_stops_jobs(app, live_app, oauth_shop, shopify, gelato, drain, queue, caplog):
    shopify.revoke_refresh_token(SHOP)
    shopify.expire_access_token(SHOP)
    order_id = cancel_too_late(shopify, gelato, live_app)
    drain()

    row = shop_row(app)
    assert row.status == "needs_reauth"
    assert row.access_token is None and row.refresh_token is None
    [job] = failed_jobs(queue)
    assert job.get_status() == JobStatus.FAILED
    assert "ReauthorizationRequired" in job.latest_result().exc_string
    assert ran_once_and_failed(live_app)  # permanent: no retry
    assert len(token_calls(shopify, "refresh_token")) == 1
    events = [json.loads(r.getMessage()) for r in caplog.records if r.name == "print_mirror.events"]
    assert any(e["event"] == "shop_needs_reauth" and e["shop"] == SHOP for e in events)
    assert paragraphs_in(shopify.order(SHOP, order_id)["note"]) == []

    # Nothing is cancelled that Shopify cannot confirm: without a token the shop's later
    # cancellations stop at the confirming read, at once, without calling the token endpoint again.
    in_time = shopify.add_order(SHOP)
    print_id = gelato.add_order(str(in_time), status="passed")
    shopify.cancel_order(SHOP, in_time)
    response = shopify.send_webhook(live_app.url + "/webhooks", SHOP, "orders/cancelled", shopify.order_payload(SHOP, in_time))
    assert response.json()["message"] == "enqueued"
    drain()
    assert gelato.order(print_id)["fulfillmentStatus"] == "passed"
    assert gelato.calls_matching("POST", r":cancel$") == []
    assert len(token_calls(shopify, "refresh_token")) == 1
    assert len(failed_jobs(queue)) == 2

    # Opening the app again re-authorises it: the next job writes its note.
    assert install_via_oauth(live_app, shopify).status_code == 200
    assert shop_row(app).status == "installed"
    again = cancel_too_late(shopify, gelato, live_app)
    drain()
    assert len(paragraphs_in(shopify.order(SHOP, again)["note"])) == 1


def test_custom_app_tokens_never_refresh(app, live_app, installed_shop, shopify, gelato, drain, queue):
    stored = shop_row(app).access_token
    shopify.expire_access_token(SHOP)  # whatever happens to it, a custom token is never refreshed
    cancel_too_late(shopify, gelato, live_app)
    drain()

    assert token_calls(shopify) == []
    assert len(graphql_401s(shopify)) == 1
    [job] = failed_jobs(queue)
    assert "AdminUnauthorized" in job.latest_result().exc_string
    row = shop_row(app)
    assert (row.status, row.token_kind, row.access_token) == ("installed", "custom", stored)


def test_refresh_that_finds_the_shop_uninstalled_stores_nothing(app, live_app, oauth_shop, shopify):
    services = app.extensions["services"]
    move_stored_expiry(app, -timedelta(minutes=58))
    tokens = ShopTokens(
        SHOP,
        services.database,
        services.cipher,
        services.redis,
        TokenEndpoint.from_config(services.config, make_session(), services.timeout),
    )
    shops.uninstall_shop(services.database, SHOP)
    with pytest.raises(shops.ShopNotInstalled):
        tokens.current()
    assert token_calls(shopify, "refresh_token") == []
    assert shop_row(app).access_token is None


def test_tokens_reencrypt_moves_every_token_to_the_new_key(app, live_app, oauth_shop, shopify, redis_url, database_url, gelato):
    old_key = app.config["TOKEN_ENCRYPTION_KEY"]
    new_key = Fernet.generate_key().decode()
    before = shop_row(app)
    live_token = app.extensions["services"].cipher.decrypt(before.access_token)

    def app_with(keys: str):
        return create_app(app_config(redis_url, database_url, gelato, shopify, TOKEN_ENCRYPTION_KEY=keys))

    new_only = app_with(new_key)
    with pytest.raises(ConfigurationError):
        shops.load_credentials(new_only.extensions["database"], new_only.extensions["services"].cipher, SHOP)

    rotating = app_with(f"{new_key},{old_key}")
    result = rotating.test_cli_runner().invoke(args=["tokens", "reencrypt"])
    assert result.exit_code == 0, result.output
    assert "re-encrypted 2 token(s) of 1 shop(s)" in result.output
    assert live_token not in result.output

    after = shop_row(app)
    assert after.access_token != before.access_token and after.refresh_token != before.refresh_token
    credentials = shops.load_credentials(new_only.extensions["database"], new_only.extensions["services"].cipher, SHOP)
    assert credentials.access_token == live_token
    with pytest.raises(ConfigurationError):
        app.extensions["services"].cipher.decrypt(after.access_token)  # the old key alone no longer reads it

    stranger = app_with(Fernet.generate_key().decode())
    refused = stranger.test_cli_runner().invoke(args=["tokens", "reencrypt"])
    assert refused.exit_code != 0
    assert SHOP in refused.output and "nothing was changed" in refused.output
    assert shop_row(app).access_token == after.access_token
    for application in (new_only, rotating, stranger):
        application.extensions["database"].dispose()


def test_tokens_refresh_renews_refresh_tokens_before_they_lapse(app, live_app, oauth_shop, shopify):
    custom = "custom.myshopify.com"
    token = shopify.add_shop(custom)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["shops", "add", custom, "--token", token, "--skip-webhooks"]).exit_code == 0

    fresh = runner.invoke(args=["tokens", "refresh"])
    assert fresh.exit_code == 0 and "0 of 0 shop(s) refreshed" in fresh.output
    assert token_calls(shopify, "refresh_token") == []

    # 70 quiet days: no job has called the Admin API, the refresh token has 20 days left.
    shopify.advance_clock(70 * 24 * 3600)
    move_stored_expiry(app, -timedelta(days=70), refresh=True)
    result = runner.invoke(args=["tokens", "refresh"])
    assert result.exit_code == 0, result.output
    assert f"{SHOP}: refreshed" in result.output and custom not in result.output
    assert len(token_calls(shopify, "refresh_token")) == 1
    row = shop_row(app)
    assert shops.as_utc(row.refresh_token_expires_at) > utcnow() + timedelta(days=89)
    assert app.extensions["services"].cipher.decrypt(row.access_token) == shopify.access_tokens(SHOP)[0]
    assert "shprt_" not in result.output and "shpua_" not in result.output

    shopify.revoke_refresh_token(SHOP)
    move_stored_expiry(app, -timedelta(days=80), refresh=True)
    dead = runner.invoke(args=["tokens", "refresh"])
    assert dead.exit_code == 1
    assert f"{SHOP}: refresh token refused; marked needs_reauth" in dead.output
    assert shop_row(app).status == "needs_reauth"
