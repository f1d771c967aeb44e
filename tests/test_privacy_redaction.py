"""Privacy webhooks over real HTTP against real jobs: customers/redact leaves no trace of the orders
anywhere in Redis (keys, values, RQ jobs and results); customers/data_request reports all of it;
shop/redact erases a shop only once Shopify confirms the uninstall."""

import base64
import binascii
import json
import zlib
from datetime import timedelta

import pytest
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from jobs.queueing import QUEUE_NAME, job_options, queue_for
from jobs.worker import build_worker
from tests.conftest import SHOP
from tests.oauth_flow import shop_row
from tests.support.all_queues import AllQueues
from tests.support.records import events, history

MIRROR_CANCELLATION = "jobs.cancellation.mirror_cancellation"
TELL_CANCELLATION = "jobs.tell_store.tell_cancellation"
OTHER_SHOP = "other.myshopify.com"
GRAPHQL = r"/graphql\.json$"


def deliver(shopify, live_app, topic, payload):
    response = shopify.send_webhook(live_app.url + "/webhooks", SHOP, topic, payload)
    assert response.status_code == 200 and response.json()["message"] == "enqueued", response.text
    return response


def cancel_for_real(shopify, gelato, live_app, status="printed"):
    """A store order with a print order already printed, cancelled in Shopify and delivered."""
    order_id = shopify.add_order(SHOP)
    gelato.add_order(str(order_id), status=status)
    shopify.cancel_order(SHOP, order_id)
    deliver(shopify, live_app, "orders/cancelled", shopify.order_payload(SHOP, order_id))
    return str(order_id)


def enqueue_later(queue, app, order_id, shop=SHOP):
    """A mirror job for the order, scheduled an hour from now (RQ's ScheduledJobRegistry)."""
    options = job_options(app.config)
    return queue.enqueue_in(
        timedelta(hours=1),
        MIRROR_CANCELLATION,
        kwargs={"shop": shop, "order_id": order_id, "topic": "orders/cancelled", "webhook_id": f"later-{order_id}"},
        description=f"orders/cancelled {shop} {order_id}",
        job_timeout=options["timeout"],
        result_ttl=options["result_ttl"],
        failure_ttl=options["failure_ttl"],
        retry=options["retry"],
    )


def enqueue_now(queue, app, order_id, webhook_id):
    return queue.enqueue_call(
        MIRROR_CANCELLATION,
        kwargs={"shop": SHOP, "order_id": order_id, "topic": "orders/cancelled", "webhook_id": webhook_id},
        description=f"orders/cancelled {SHOP} {order_id}",
        **job_options(app.config),
    )


@pytest.fixture
def two_orders(app, live_app, installed_shop, shopify, gelato, drain, queue):
    """Orders A (to redact) and B (to keep), each mirrored by a real job; then, for A, a job that
    failed for good and one scheduled for later; for B, one scheduled for later."""
    order_a = cancel_for_real(shopify, gelato, live_app)
    order_b = cancel_for_real(shopify, gelato, live_app)
    drain()
    # Gelato down for good: A's next job fails every attempt and lands in the failed registry.
    gelato.fail_next("*", r"/v4/orders", 500, times=1000)
    failed = enqueue_now(queue, app, order_a, "redelivered-a")
    drain()
    assert failed.get_status(refresh=True) == "failed"
    scheduled_a = enqueue_later(queue, app, order_a)
    scheduled_b = enqueue_later(queue, app, order_b)
    # A reconciliation sweep's dedupe key (its webhook id names the shop and the order).
    for order_id in (order_a, order_b):
        queue.connection.set(sweep_key(order_id), "a-job-id", ex=3600)
    done = Job.fetch_many(queue.finished_job_registry.get_job_ids(), connection=queue.connection)
    finished = {job.kwargs["order_id"]: job.id for job in done if job.func_name == MIRROR_CANCELLATION}
    told = {job.kwargs["order_id"]: job.id for job in done if job.func_name == TELL_CANCELLATION}
    assert set(finished) == set(told) == {order_a, order_b}
    return {
        "told": told,
        "a": order_a,
        "b": order_b,
        "failed_a": failed.id,
        "scheduled_a": scheduled_a.id,
        "scheduled_b": scheduled_b.id,
        "finished": finished,
    }


def sweep_key(order_id):
    return f"print-mirror:webhook:reconcile:reconcile:{SHOP}:{order_id}:2026-11-29T10:00:00+00:00"


def readable(value: bytes) -> list[bytes]:
    """value as stored, and as RQ encodes it inside (zlib-compressed pickles, base64 results)."""
    forms = [value]
    try:
        forms.append(zlib.decompress(value))
    except zlib.error:
        pass
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        decoded = None
    if decoded:
        forms.append(decoded)
        try:
            forms.append(zlib.decompress(decoded))
        except zlib.error:
            pass
    return forms


def everything_in_redis(client) -> list[tuple[bytes, bytes]]:
    """(key, readable form) for every key name and every value, field and member in the whole Redis."""
    found = []
    for key in client.scan_iter(match="*", count=1000):
        found.append((key, key))
        kind = client.type(key).decode()
        if kind == "string":
            values = [client.get(key)]
        elif kind == "hash":
            values = [item for pair in client.hgetall(key).items() for item in pair]
        elif kind == "list":
            values = client.lrange(key, 0, -1)
        elif kind == "set":
            values = list(client.smembers(key))
        elif kind == "zset":
            values = client.zrange(key, 0, -1)
        elif kind == "stream":
            values = [item for _id, fields in client.xrange(key) for pair in fields.items() for item in pair]
        else:
            raise AssertionError(f"unexpected Redis type {kind} for {key!r}")
        found.extend((key, form) for value in values if value is not None for form in readable(value))
    return found


def where(client, text: str) -> set[bytes]:
    """The keys whose name or content mentions text, in any readable form."""
    return {key for key, form in everything_in_redis(client) if text.encode() in form}


def test_customer_redact_leaves_no_trace_of_the_orders_in_redis(app, live_app, shopify, drain, queue, redis_client, two_orders):
    order_a, order_b = two_orders["a"], two_orders["b"]
    before = where(redis_client, order_a)
    # The scan sees the order inside RQ's compressed job data, not only in key names and descriptions.
    assert f"rq:job:{two_orders['failed_a']}".encode() in before
    assert any(key.startswith(b"print-mirror:") for key in before)
    assert ("activity", SHOP, order_a) in history(app) and ("note", SHOP, order_a) in history(app)

    deliver(
        shopify,
        live_app,
        "customers/redact",
        {"shop_id": 954889, "shop_domain": SHOP, "customer": {"id": 191167}, "orders_to_redact": [int(order_a)]},
    )
    # Queued behind the redaction: a job of the order still waiting in the queue goes too.
    queued_a = enqueue_now(queue, app, order_a, "late-a")
    drain()

    assert where(redis_client, order_a) == set()
    assert not Job.exists(queued_a.id, connection=redis_client)
    assert {row for row in history(app) if order_a in row} == set()
    # B's records, keys and jobs are all still there.
    assert {("activity", SHOP, order_b), ("note", SHOP, order_b)} <= history(app)
    assert any(key.startswith(b"print-mirror:fingerprint:") for key in where(redis_client, order_b))
    assert redis_client.exists(sweep_key(order_b))
    assert two_orders["scheduled_b"] in AllQueues(redis_client).scheduled_job_registry.get_job_ids()
    assert Job.fetch(two_orders["finished"][order_b], connection=redis_client).return_value()["order_id"] == order_b
    # The redaction job itself keeps no record: its arguments named the order.
    assert AllQueues(redis_client).failed_job_registry.get_job_ids() == []


def test_data_request_reports_the_records_jobs_and_keys_it_holds(
    app, live_app, shopify, drain, queue, redis_client, caplog, two_orders
):
    order_a, order_b = two_orders["a"], two_orders["b"]
    deliver(
        shopify,
        live_app,
        "customers/data_request",
        {
            "shop_id": 954889,
            "shop_domain": SHOP,
            "orders_requested": [int(order_a)],
            "customer": {"id": 191167, "email": "john@example.com"},
            "data_request": {"id": 9999},
        },
    )
    drain()

    [report] = events(caplog, "privacy_data_request")
    assert {record["order_id"] for record in report["activity_records"]} == {order_a}
    assert report["note_entries"] >= 1
    jobs = {job["id"]: job for job in report["rq_jobs"]}
    told_a = two_orders["told"][order_a]
    assert set(jobs) == {two_orders["finished"][order_a], told_a, two_orders["failed_a"], two_orders["scheduled_a"]}
    assert jobs[two_orders["finished"][order_a]]["place"] == jobs[told_a]["place"] == "finished"
    assert jobs[two_orders["failed_a"]]["place"] == "failed"
    assert jobs[two_orders["scheduled_a"]]["place"] == "scheduled"
    assert all(job["order_ids"] == [order_a] for job in jobs.values())
    assert {job["function"] for job in jobs.values()} == {MIRROR_CANCELLATION, TELL_CANCELLATION}
    assert {f"print-mirror:fingerprint:{SHOP}:{order_a}", sweep_key(order_a)} <= set(report["redis_keys"])
    # Every app key naming A is reported; nothing about B is.
    named_a = {
        key.decode() for key in where(redis_client, order_a) if key.startswith(b"print-mirror:") and order_a in key.decode()
    }
    assert set(report["redis_keys"]) == named_a
    assert order_b not in json.dumps(report) and "john@example.com" not in caplog.text
    # Reporting deletes nothing.
    assert ("activity", SHOP, order_a) in history(app)
    assert all(Job.exists(job_id, connection=redis_client) for job_id in jobs)


def test_shop_redact_of_an_installed_shop_whose_token_works_erases_nothing(
    app, live_app, shopify, drain, queue, redis_client, caplog, two_orders
):
    before_keys = {key for key, _ in everything_in_redis(redis_client) if key.startswith(b"print-mirror:")}
    before_history = history(app)
    deliver(shopify, live_app, "shop/redact", {"shop_id": 954889, "shop_domain": SHOP})
    drain()

    assert shop_row(app).status == "installed" and shop_row(app).access_token is not None
    assert history(app) == before_history
    after_keys = {key for key, _ in everything_in_redis(redis_client) if key.startswith(b"print-mirror:")}
    assert before_keys <= after_keys
    for job_id in (two_orders["failed_a"], two_orders["scheduled_a"], *two_orders["finished"].values()):
        assert Job.exists(job_id, connection=redis_client)
    [skipped] = events(caplog, "privacy_shop_redacted")
    assert skipped["result"] == "skipped_installed" and skipped["reason"] == "kept"


def test_shop_redact_erases_a_shop_shopify_has_uninstalled(app, live_app, shopify, drain, queue, redis_client, two_orders):
    # The app/uninstalled delivery never arrived: Shopify refusing the token is proof enough.
    other_job = enqueue_later(queue, app, "5550001", shop=OTHER_SHOP)
    redis_client.set(f"print-mirror:updated-at:{OTHER_SHOP}:5550001", "1")
    shopify.uninstall(SHOP)
    deliver(shopify, live_app, "shop/redact", {"shop_id": 954889, "shop_domain": SHOP})
    drain()

    assert shop_row(app) is None
    assert history(app) == set()
    assert where(redis_client, SHOP) == set()
    for order_id in (two_orders["a"], two_orders["b"]):
        assert where(redis_client, order_id) == set()
    # Another shop's job and keys are its own.
    assert Job.exists(other_job.id, connection=redis_client)
    assert redis_client.exists(f"print-mirror:updated-at:{OTHER_SHOP}:5550001")


def test_shop_redact_after_a_genuine_uninstall_erases_its_jobs_too(app, live_app, installed_shop, shopify, drain, redis_client):
    shopify.uninstall(SHOP)
    deliver(shopify, live_app, "app/uninstalled", {"id": 548380009, "myshopify_domain": SHOP})
    drain()
    assert shop_row(app).status == "uninstalled"
    assert where(redis_client, SHOP) != set()  # the finished app/uninstalled job names the shop

    deliver(shopify, live_app, "shop/redact", {"shop_id": 954889, "shop_domain": SHOP})
    drain()
    assert shop_row(app) is None
    assert where(redis_client, SHOP) == set()


def test_a_job_of_the_orders_running_elsewhere_is_left_to_its_worker_then_erased(
    app, live_app, installed_shop, shopify, gelato, drain, queue, redis_client
):
    order_a = cancel_for_real(shopify, gelato, live_app)
    order_b = cancel_for_real(shopify, gelato, live_app)
    drain()
    # Another worker has just taken a job of A (RQ's own bookkeeping: started, not yet run).
    running = enqueue_now(queue, app, order_a, "running-a")
    queue.remove(running)
    elsewhere = build_worker(app, name="elsewhere")
    execution = elsewhere.prepare_execution(running)
    elsewhere.prepare_job_execution(running)

    deliver(
        shopify,
        live_app,
        "customers/redact",
        {"shop_id": 954889, "shop_domain": SHOP, "customer": {"id": 191167}, "orders_to_redact": [int(order_a)]},
    )
    drain()
    # Not deleted from under its worker; the redaction is scheduled to run again, all else is gone.
    assert running.get_status(refresh=True) == "started"
    [redaction_id] = ScheduledJobRegistry(QUEUE_NAME, connection=redis_client).get_job_ids()
    assert Job.fetch(redaction_id, connection=redis_client).func_name == "jobs.privacy.redact_customer"
    assert where(redis_client, order_a) == {f"rq:job:{running.id}".encode(), f"rq:job:{redaction_id}".encode()}

    with app.app_context():
        elsewhere.perform_job(running, queue_for(redis_client, running.func_name), execution)
    assert running.get_status(refresh=True) == "finished" and ("activity", SHOP, order_a) in history(app)
    ScheduledJobRegistry(QUEUE_NAME, connection=redis_client).requeue(redaction_id)
    drain()
    assert where(redis_client, order_a) == set()
    assert ("activity", SHOP, order_b) in history(app)
