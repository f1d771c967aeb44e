"""app/uninstalled over real HTTP forgets a shop only once Shopify refuses its token: a replayed signed
body (any headers, Triggered-At included) cannot uninstall a live shop; no answer is retried, not taken."""

from datetime import UTC, datetime, timedelta

from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, FinishedJobRegistry

from jobs.queueing import QUEUE_NAME, job_options
from plugin.store import shops
from plugin.store.installed_marks import installed_key
from tests.conftest import SHOP
from tests.oauth_flow import install_via_oauth, shop_row, token_calls
from tests.support.records import events

FORGET = "jobs.uninstall.forget_uninstalled_shop"
GRAPHQL = r"/graphql\.json$"


def deliver_uninstall(shopify, live_app, name="Demo", **kwargs):
    """A correctly signed app/uninstalled for SHOP (the body Shopify sends, abridged); a new name, a new body."""
    payload = {"id": 548380009, "name": name, "domain": "shop.example.com", "myshopify_domain": SHOP}
    response = shopify.send_webhook(live_app.url + "/webhooks", SHOP, "app/uninstalled", payload, **kwargs)
    assert response.status_code == 200 and response.json()["message"] == "enqueued", response.text
    return response


def probes(shopify):
    """The shop-id questions the app asked Shopify."""
    # By the document sent: a refused or failed call is recorded before the fake parses it.
    return [call for call in shopify.calls_matching("POST", GRAPHQL) if "query ShopId" in str((call.json or {}).get("query"))]


def job_results(queue):
    """The return values of the finished forget jobs."""
    registry = FinishedJobRegistry(QUEUE_NAME, connection=queue.connection)
    jobs = [Job.fetch(job_id, connection=queue.connection) for job_id in registry.get_job_ids()]
    return [job.return_value() for job in jobs if job.func_name == FORGET]


def assert_still_installed(app, shopify, token):
    row = shop_row(app)
    assert row.status == "installed" and row.uninstalled_at is None and row.access_token is not None
    credentials = shops.load_credentials(app.extensions["database"], app.extensions["services"].cipher, SHOP)
    assert credentials.access_token == token and token in shopify.access_tokens(SHOP)


def test_a_genuine_uninstall_forgets_the_shop_and_its_tokens(app, live_app, installed_shop, shopify, drain, queue):
    shopify.uninstall(SHOP)
    deliver_uninstall(shopify, live_app)
    drain()
    row = shop_row(app)
    assert row.status == "uninstalled" and row.uninstalled_at is not None
    assert (row.access_token, row.refresh_token) == (None, None)
    assert not app.extensions["redis"].exists(installed_key(SHOP))
    assert job_results(queue) == [{"shop": SHOP, "result": "uninstalled"}]
    assert len(probes(shopify)) == 1


def test_a_genuine_uninstall_of_an_oauth_shop_tries_the_refresh_first(app, live_app, shopify, drain, queue):
    assert install_via_oauth(live_app, shopify).status_code == 200
    shopify.uninstall(SHOP)
    deliver_uninstall(shopify, live_app)
    drain()
    # 401, then the refresh token refused as a dead grant: that is Shopify's refusal too.
    assert len(token_calls(shopify, "refresh_token")) == 1
    row = shop_row(app)
    assert row.status == "uninstalled" and (row.access_token, row.refresh_token) == (None, None)
    assert job_results(queue) == [{"shop": SHOP, "result": "uninstalled"}]


def test_a_replayed_uninstall_keeps_a_shop_whose_token_works(app, live_app, installed_shop, shopify, drain, queue, caplog):
    token = shopify.access_tokens(SHOP)[0]
    deliver_uninstall(shopify, live_app, triggered_at=datetime.now(UTC) + timedelta(days=1))
    drain()
    assert_still_installed(app, shopify, token)
    assert app.extensions["redis"].exists(installed_key(SHOP))
    assert job_results(queue) == [{"shop": SHOP, "result": "kept"}]
    [refused] = events(caplog, "shop_uninstall_refused")
    assert refused["shop"] == SHOP and "accepts" in refused["reason"]
    assert token not in caplog.text  # the token was used, never logged


def test_a_replayed_uninstall_keeps_an_oauth_shop_and_its_refresh_token(app, live_app, shopify, drain, queue):
    assert install_via_oauth(live_app, shopify).status_code == 200
    before = shop_row(app)
    deliver_uninstall(shopify, live_app)
    drain()
    after = shop_row(app)
    assert after.status == "installed" and after.refresh_token == before.refresh_token
    assert after.access_token == before.access_token and token_calls(shopify, "refresh_token") == []


def test_triggered_at_in_a_queued_job_decides_nothing(app, live_app, installed_shop, shopify, drain, queue):
    # Jobs queued before this change still carry triggered_at: it is accepted and ignored both ways.
    token = shopify.access_tokens(SHOP)[0]
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    queue.enqueue_call(FORGET, kwargs={"shop": SHOP, "triggered_at": future, "webhook_id": "w-1"}, **job_options(app.config))
    drain()
    assert_still_installed(app, shopify, token)

    shopify.uninstall(SHOP)
    long_ago = (datetime.now(UTC) - timedelta(days=30)).isoformat()  # before the installation
    queue.enqueue_call(FORGET, kwargs={"shop": SHOP, "triggered_at": long_ago, "webhook_id": "w-2"}, **job_options(app.config))
    drain()
    assert shop_row(app).status == "uninstalled" and shop_row(app).access_token is None


def test_a_403_is_a_refusal_too(app, live_app, installed_shop, shopify, drain, queue):
    shopify.fail_next(403, path_regex=GRAPHQL)
    deliver_uninstall(shopify, live_app)
    drain()
    assert shop_row(app).status == "uninstalled" and shop_row(app).access_token is None


def test_a_500_during_the_probe_is_retried_and_decides_nothing(app, live_app, installed_shop, shopify, drain, queue):
    token = shopify.access_tokens(SHOP)[0]
    shopify.fail_next(500, path_regex=GRAPHQL)
    deliver_uninstall(shopify, live_app)
    drain()
    # First answer 500: retried (not failed for good), and the retry's working token keeps the shop.
    assert len(probes(shopify)) == 2
    assert_still_installed(app, shopify, token)
    assert FailedJobRegistry(QUEUE_NAME, connection=queue.connection).get_job_ids() == []
    assert job_results(queue) == [{"shop": SHOP, "result": "kept"}]

    shopify.uninstall(SHOP)
    shopify.fail_next(503, path_regex=GRAPHQL)
    deliver_uninstall(shopify, live_app, name="Demo, later")
    drain()
    assert len(probes(shopify)) == 4
    assert shop_row(app).status == "uninstalled"


def test_a_shopify_that_never_answers_leaves_the_shop_alone(app, live_app, installed_shop, shopify, drain, queue):
    token = shopify.access_tokens(SHOP)[0]
    shopify.uninstall(SHOP)  # even a genuine uninstall waits until Shopify says so
    shopify.fail_next(500, times=100, path_regex=GRAPHQL)
    deliver_uninstall(shopify, live_app)
    drain()
    [failed_id] = FailedJobRegistry(QUEUE_NAME, connection=queue.connection).get_job_ids()
    failed = Job.fetch(failed_id, connection=queue.connection)
    assert failed.get_status() == JobStatus.FAILED and failed.retries_left == 0
    assert len(probes(shopify)) == 1 + len(app.config["RETRY_INTERVALS"].split(","))
    row = shop_row(app)
    assert row.status == "installed" and row.access_token is not None
    assert token not in shopify.access_tokens(SHOP)


def test_a_shop_waiting_for_reauthorisation_is_forgotten(app, live_app, shopify, drain, queue):
    # Its refresh token was already refused by Shopify as a dead grant: that refusal stands.
    assert install_via_oauth(live_app, shopify).status_code == 200
    assert shops.mark_needs_reauth(app.extensions["database"], SHOP)
    deliver_uninstall(shopify, live_app)
    drain()
    assert shop_row(app).status == "uninstalled"
    assert probes(shopify) == []  # no token left to ask with; the earlier refusal is the answer


def test_nothing_to_forget_for_an_unknown_or_uninstalled_shop(app, installed_shop, shopify):
    from jobs.uninstall import forget_uninstalled_shop

    with app.app_context():
        assert forget_uninstalled_shop("unknown.myshopify.com")["result"] == "unknown"
        shops.uninstall_shop(app.extensions["database"], SHOP)
        assert forget_uninstalled_shop(SHOP)["result"] == "not_installed"
    assert probes(shopify) == []


def test_a_late_uninstall_job_after_a_reinstall_keeps_the_new_installation(app, live_app, shopify, drain, queue):
    # Uninstalled in Shopify, reinstalled before the worker got to the old delivery's job.
    assert install_via_oauth(live_app, shopify).status_code == 200
    shopify.uninstall(SHOP)
    deliver_uninstall(shopify, live_app)
    assert install_via_oauth(live_app, shopify).status_code == 200
    drain()
    row = shop_row(app)
    assert row.status == "installed" and row.access_token is not None and row.refresh_token is not None
    assert job_results(queue) == [{"shop": SHOP, "result": "kept"}]


def test_a_second_uninstall_after_a_reinstall_is_not_taken_for_a_replay(app, live_app, installed_shop, shopify, drain):
    shopify.uninstall(SHOP)
    deliver_uninstall(shopify, live_app)  # Shopify's Shop body: the same bytes next time
    drain()
    assert shop_row(app).status == "uninstalled"
    token = shopify.add_shop(SHOP)
    assert (
        app.test_cli_runner().invoke(args=["shops", "add", SHOP, "--skip-webhooks"], env={"SHOPIFY_ADMIN_TOKEN": token}).exit_code
        == 0
    )
    shopify.uninstall(SHOP)
    deliver_uninstall(shopify, live_app)  # enqueued again, not "duplicate"
    drain()
    assert shop_row(app).status == "uninstalled"
