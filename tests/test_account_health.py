"""A provider account that fails transiently holds its own jobs, is probed, and releases them all when it is back."""

from __future__ import annotations

import time

import pytest
from rq.job import Job

from jobs.account_health import FAILURES_TO_HOLD, AccountHealth, GuardedProvider, HeldAccount, hold_job, provider_account
from jobs.queueing import URGENT_QUEUE, make_queue
from plugin.dev.procfile import process_env, start, stop, wait_until
from plugin.errors import AccountPaused, RateLimited, RemoteUnavailable
from plugin.providers.gelato import GelatoClient
from plugin.store.keys import ACCOUNT_HELD, ACCOUNTS_DOWN
from tests.conftest import SHOP
from tests.support.cancellations import cancel_with_webhook
from tests.test_metrics import scrape

GELATO_KEY = "test-gelato-key"  # the fake's default account, the deployment's GELATO_API_KEY in tests
OTHER_KEY = "other-gelato-account-key"


def _guarded(app, gelato, api_key: str, probe: bool = False) -> GuardedProvider:
    health = AccountHealth(app.extensions["redis"])
    client = GelatoClient(gelato.url, api_key, app.extensions["services"].http, (2.0, 5.0))
    return GuardedProvider(client, health, provider_account("gelato", api_key, None), probe)


def test_accounts_are_told_apart_by_provider_key_and_store_without_spelling_the_key():
    ids = {
        provider_account("gelato", GELATO_KEY, None),
        provider_account("gelato", OTHER_KEY, None),
        provider_account("gelato", GELATO_KEY, "store-2"),
        provider_account("printful", GELATO_KEY, None),
    }
    assert len(ids) == 4
    assert all(GELATO_KEY not in account and OTHER_KEY not in account for account in ids)


def test_a_failing_account_is_held_without_calling_it_while_another_account_goes_on(app, gelato):
    gelato.add_account(OTHER_KEY)
    mine, theirs = _guarded(app, gelato, GELATO_KEY), _guarded(app, gelato, OTHER_KEY)
    gelato.fail_next("POST", r"orders:search$", 503, times=FAILURES_TO_HOLD)

    for _ in range(FAILURES_TO_HOLD - 1):  # a failure or two: the job retries as usual
        with pytest.raises(RemoteUnavailable):
            mine.find_orders("1001")
    with pytest.raises(AccountPaused) as paused:  # one more in a row: the account is held
        mine.find_orders("1001")
    assert isinstance(paused.value.__cause__, RemoteUnavailable) and paused.value.account == mine.account
    assert theirs.find_orders("1002") == []  # the other account is not held back
    calls = len(gelato.calls)
    with pytest.raises(AccountPaused):
        mine.find_orders("1001")
    assert len(gelato.calls) == calls  # held: no call to an account known to be down

    # The job released as the probe calls; its success brings the account back for every job.
    assert _guarded(app, gelato, GELATO_KEY, probe=True).find_orders("1001") == []
    assert mine.find_orders("1001") == []


def test_an_answer_between_failures_starts_the_count_again(app, gelato):
    mine = _guarded(app, gelato, GELATO_KEY)
    for _ in range(3):
        gelato.fail_next("POST", r"orders:search$", 503, times=FAILURES_TO_HOLD - 1)
        for _ in range(FAILURES_TO_HOLD - 1):
            with pytest.raises(RemoteUnavailable):
                mine.find_orders("1001")
        assert mine.find_orders("1001") == []  # answered: never held, though it failed six times in all


def test_a_429_with_retry_after_pauses_the_account_for_that_long_only(app, redis_client):
    health = AccountHealth(redis_client)
    health.went_down("gelato:paused", RateLimited("Gelato: HTTP 429", retry_after=0.3))
    with pytest.raises(AccountPaused, match="paused"):
        health.admit("gelato:paused", probe=True)  # a pause is not probed: it ends by itself
    assert health.admit("gelato:other", probe=False).probing is False
    time.sleep(0.4)
    assert health.admit("gelato:paused", probe=False).probing is False
    assert health.held() == {"gelato:paused": HeldAccount("up", 0, 0.0)}
    health.release_round(probe_interval=0.0)
    assert health.held() == {}  # nothing was held: the account leaves the list


def test_a_provider_outage_holds_the_jobs_and_a_probe_releases_them_without_spending_retries(
    app, live_app, installed_shop, shopify, gelato, redis_client, tmp_path
):
    account = provider_account("gelato", GELATO_KEY, None)
    # Retries 30 s apart (set where the webhook enqueues the jobs): a job done sooner was released, not retried.
    app.config["RETRY_INTERVALS"] = "30,30,30"
    gelato.set_down(True)
    orders = [cancel_with_webhook(shopify, gelato, live_app) for _ in range(12)]
    log = tmp_path / "worker.log"
    env = process_env(app.config, PROVIDER_PROBE_INTERVAL="0.5", WORKER_CONCURRENCY="4")
    worker = start("worker", env, str(log))
    try:
        held_all = wait_until(lambda: redis_client.zcard(ACCOUNT_HELD.key(account)) >= 11, timeout=20)
        assert held_all, log.read_text()
        down_calls = [call for call in gelato.calls if call.down]
        window_start = time.monotonic()
        time.sleep(2.0)
        probes = [call for call in gelato.calls if call.down and call.time >= window_start]
        # One probe per interval (0.5 s) while down, not one call per job and retry.
        assert 1 <= len(probes) <= 2.0 / 0.5 + 1
        assert len(down_calls) < len(orders)
        assert redis_client.zrange(ACCOUNTS_DOWN.key(), 0, -1) == [account.encode()]
        # /metrics names the held account (never its key) and the jobs waiting for it.
        held = scrape(live_app.url)[("print_mirror_accounts_held_jobs", ("account", account), ("state", "down"))]
        assert len(orders) - 1 <= held <= len(orders)  # the probe may be out running

        gelato.set_down(False)
        back = wait_until(lambda: all(gelato.status_of(print_id) == "canceled" for _, print_id in orders), timeout=15)
        assert back, log.read_text()
        assert wait_until(lambda: not redis_client.zcard(ACCOUNTS_DOWN.key()), timeout=5)
        assert not [key for key in scrape(live_app.url) if key[0] == "print_mirror_accounts_held_jobs"]
        told = wait_until(lambda: all("print-cancelled" in shopify.order(SHOP, o)["tags"] for o, _ in orders), timeout=15)
        assert told, log.read_text()
    finally:
        assert stop(worker) == 0, log.read_text()
    queue = make_queue(redis_client, URGENT_QUEUE)
    finished = Job.fetch_many(queue.finished_job_registry.get_job_ids(), connection=redis_client)
    assert len(finished) == len(orders) and queue.failed_job_registry.count == 0
    # Waiting for the account spent no retry; only the failures that marked it down (and calls
    # already in flight beside them, up to WORKER_CONCURRENCY) spent one, and were released early too.
    spent = [job for job in finished if job.retries_left != 3]
    assert {job.retries_left for job in spent} <= {2} and len(spent) <= FAILURES_TO_HOLD + 3
    assert not [order_id for order_id, _ in orders if "print-mirror-failed" in shopify.order(SHOP, order_id)["tags"]]


def test_an_account_stays_listed_while_a_job_is_held_for_it(redis_client):
    health = AccountHealth(redis_client)
    health.pause("gelato:blip", 0.001)
    time.sleep(0.01)
    hold_job(redis_client, "gelato:blip", "job-that-failed-during-the-blip")
    health._unlist_if_empty("gelato:blip")  # the round's check: up, but a job is held
    assert redis_client.zrange(ACCOUNTS_DOWN.key(), 0, -1) == [b"gelato:blip"]
    health.release_round(probe_interval=0.0)  # the job is gone from RQ: dropped, then the account unlisted
    assert health.held() == {}
