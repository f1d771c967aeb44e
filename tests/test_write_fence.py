"""A job that lost its order lock stops before its next provider or Shopify write and is retried under the lock."""

import json
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from jobs.locks import LOCK_KEY_PREFIX, order_lock
from plugin import write_fence
from plugin.dev.redis_server import RedisServer
from plugin.errors import TransientError
from plugin.store.redis_lock import leased_lock
from tests.conftest import SHOP, paragraphs_in

ORDER_ID = "4503599627370497"
KEY = f"{LOCK_KEY_PREFIX}{SHOP}:{ORDER_ID}"
MUTATIONS = ("orderUpdate", "tagsAdd", "tagsRemove")


def take_over(client: redis.Redis, key: str, ttl_ms: int = 60_000) -> None:
    """Our lease ran out (a stall) and another worker acquired the lock with its own token."""
    client.delete(key)
    client.set(key, "another-worker", px=ttl_ms)


def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


# -- the fence itself, on a real Redis ---------------------------------------------------------


def test_check_outside_an_order_lock_does_nothing(redis_client):
    assert write_fence.current() is None
    write_fence.check()


def test_check_extends_the_lease_while_the_lock_is_ours(redis_client):
    with order_lock(redis_client, SHOP, ORDER_ID, lease_seconds=10):
        redis_client.pexpire(KEY, 300)  # almost run out
        write_fence.check()
        assert redis_client.pttl(KEY) > 5_000
    assert write_fence.current() is None
    assert not redis_client.exists(KEY)


def test_check_fails_once_another_worker_holds_the_lock_and_leaves_its_lock_alone(redis_client):
    with pytest.raises(TransientError, match="lost the lock"):
        with order_lock(redis_client, SHOP, ORDER_ID, lease_seconds=10) as lease:
            take_over(redis_client, KEY)
            try:
                write_fence.check()
            finally:
                assert lease.lost
    # Leaving the block neither deleted the other worker's lock nor left the fence set.
    assert redis_client.get(KEY) == b"another-worker"
    assert write_fence.current() is None
    write_fence.check()


def test_renewal_thread_records_a_definite_loss_so_check_fails_fast(redis_client):
    with order_lock(redis_client, SHOP, ORDER_ID, lease_seconds=1) as lease:  # renewed every 1/3 s
        ours = redis_client.get(KEY)
        take_over(redis_client, KEY)
        wait_until(lambda: lease.lost)
        # Even with our token back in place, a lease once lost is never trusted again.
        redis_client.set(KEY, ours, px=10_000)
        with pytest.raises(TransientError, match="lost the lock"):
            write_fence.check()


def test_a_nested_token_lock_does_not_replace_the_order_fence(redis_client):
    with order_lock(redis_client, SHOP, ORDER_ID, lease_seconds=10) as lease:
        with leased_lock(
            redis_client, f"print-mirror:lock:token:{SHOP}", lease_seconds=10, wait_seconds=1, what=f"the token of {SHOP}"
        ):
            assert write_fence.current() is lease
            take_over(redis_client, KEY)
            with pytest.raises(TransientError):
                write_fence.check()
        assert write_fence.current() is lease


def test_redis_unreachable_during_check_is_transient(tmp_path):
    server = RedisServer(str(tmp_path)).start()
    # No client-side retries: the outage shows at once instead of after redis-py's backoff.
    client = redis.Redis.from_url(server.url, socket_connect_timeout=0.2, socket_timeout=0.5, retry=Retry(NoBackoff(), 0))
    try:
        with order_lock(client, SHOP, ORDER_ID, lease_seconds=30) as lease:
            server.stop()
            with pytest.raises(TransientError, match="Redis unavailable") as raised:
                write_fence.check()
            assert isinstance(raised.value.__cause__, redis.RedisError)
            assert not lease.lost  # unknown is not lost: a retry may find it still ours
    finally:
        server.stop()
        client.close()


# -- end to end: webhook → RQ worker → fakes ------------------------------------------------------


def cancel_order(shopify, live_app, order_id):
    """Cancel the order in the fake store and deliver orders/cancelled like Shopify does."""
    shopify.cancel_order(SHOP, order_id)
    response = shopify.send_webhook(live_app.url + "/webhooks", SHOP, "orders/cancelled", shopify.order_payload(SHOP, order_id))
    assert response.status_code == 200, response.text


def writes_so_far(shopify, gelato) -> dict:
    return {
        "cancels": len(gelato.calls_matching("POST", r":cancel$")),
        "mutations": sum(len(shopify.graphql_calls(field)) for field in MUTATIONS),
    }


def job_failures(caplog) -> list[dict]:
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "print_mirror.events"]
    return [line for line in lines if line["event"] == "job_failed"]


def test_job_that_lost_its_lock_makes_no_cancel_and_its_retry_cancels_once(
    app, live_app, installed_shop, shopify, gelato, drain, redis_client, queue, caplog
):
    order_id = shopify.add_order(SHOP)
    print_id = gelato.add_order(str(order_id), status="passed")
    key = f"{LOCK_KEY_PREFIX}{SHOP}:{order_id}"
    at_search = []

    def on_search(call):
        at_search.append(writes_so_far(shopify, gelato))
        if len(at_search) == 1:
            # The job stalls past its lease after the search; another worker takes the order briefly.
            take_over(redis_client, key, ttl_ms=1500)

    gelato.before("POST", r"orders:search$", on_search)
    cancel_order(shopify, live_app, order_id)
    drain()

    # The run that lost its lock wrote nothing: when the retry searched, no cancel and no mutation had been made.
    assert at_search[1] == {"cancels": 0, "mutations": 0}
    [failure] = job_failures(caplog)
    assert failure["error_type"] == "TransientError" and "lost the lock" in failure["error"]
    assert not failure["permanent"]
    job = queue.fetch_job(failure["job_id"])
    assert job.get_status() == "finished" and job.retries_left == 2  # RQ retried it once
    # The retry, once the lock was free again, did the work exactly once.
    assert len(gelato.calls_matching("POST", r":cancel$")) == 1
    assert gelato.order(print_id)["fulfillmentStatus"] == "canceled"
    store_order = shopify.order(SHOP, order_id)
    assert "print-cancelled" in store_order["tags"]
    assert len(paragraphs_in(store_order["note"])) <= 1
    assert queue.failed_job_registry.count == 0


def test_job_that_lost_its_lock_makes_no_shopify_mutation_and_its_retry_notes_once(
    app, live_app, installed_shop, shopify, gelato, drain, redis_client, queue, caplog
):
    customer_note = "Leave it with the neighbour."
    order_id = shopify.add_order(SHOP, note=customer_note)
    gelato.add_order(str(order_id), status="in_production")
    key = f"{LOCK_KEY_PREFIX}{SHOP}:{order_id}"
    reads = []

    def on_order_read(call):
        reads.append(call)
        if len(reads) == 2:
            # The note job read the note and is about to write: it stalls past its lease, another
            # worker takes the order briefly. (The first read was the cancellation's confirmation.)
            take_over(redis_client, key, ttl_ms=1500)

    shopify.before_graphql("order", on_order_read)
    cancel_order(shopify, live_app, order_id)
    drain()

    [failure] = job_failures(caplog)
    assert failure["job"] == "tell_cancellation"
    assert failure["error_type"] == "TransientError" and "lost the lock" in failure["error"]
    note = shopify.order(SHOP, order_id)["note"]
    assert note.startswith(customer_note) and len(paragraphs_in(note)) == 1
    assert len(shopify.graphql_calls("orderUpdate")) == 1
    assert "print-cancel-too-late" in shopify.order(SHOP, order_id)["tags"]
    assert gelato.calls_matching("POST", r":cancel$") == []
    assert queue.failed_job_registry.count == 0
