"""Stores take turns: one store's burst of jobs does not hold another store's jobs behind it."""

from __future__ import annotations

from datetime import timedelta

from rq import Queue
from rq.job import Job

from jobs.backlog import queue_waits
from jobs.lanes import LaneQueue, enqueue_in_lane, lane_key, requeue_from, ring_key, take, waiting_shops
from jobs.queueing import QUEUE_NAME, SWEEP_QUEUE, URGENT_QUEUE, job_options, make_queues
from tests.conftest import SHOP

OTHER = "neighbour.myshopify.com"
CANCEL = "jobs.cancellation.mirror_cancellation"


def _enqueue(app, queue_name: str, shop: str, order_id: str) -> Job:
    queue = LaneQueue(queue_name, connection=app.extensions["redis"])
    return enqueue_in_lane(queue, shop, CANCEL, kwargs={"shop": shop, "order_id": order_id}, **job_options(app.config))


def _taken_shops(app, count: int) -> list[str]:
    connection = app.extensions["redis"]
    queues = [(queue.key, queue.name) for queue in make_queues(connection)]
    shops = []
    for _ in range(count):
        taken = take(connection, queues)
        assert taken is not None
        shops.append(Job.fetch(taken[1], connection=connection).kwargs["shop"])
    return shops


def test_a_store_that_arrives_during_a_burst_is_served_next_then_turn_by_turn(app):
    for n in range(50):
        _enqueue(app, URGENT_QUEUE, SHOP, str(n))
    _enqueue(app, URGENT_QUEUE, OTHER, "900")
    _enqueue(app, URGENT_QUEUE, OTHER, "901")
    # Without lanes the neighbour's jobs would be 51st and 52nd.
    assert _taken_shops(app, 5) == [SHOP, OTHER, SHOP, OTHER, SHOP]
    assert waiting_shops(app.extensions["redis"], URGENT_QUEUE) == [SHOP]


def test_within_a_store_jobs_keep_their_order(app):
    for n in range(5):
        _enqueue(app, URGENT_QUEUE, SHOP, str(n))
    connection = app.extensions["redis"]
    queues = [(queue.key, queue.name) for queue in make_queues(connection)]
    taken = [Job.fetch(take(connection, queues)[1], connection=connection).kwargs["order_id"] for _ in range(5)]
    assert taken == ["0", "1", "2", "3", "4"]
    assert take(connection, queues) is None
    assert waiting_shops(connection, URGENT_QUEUE) == []


def test_urgency_comes_before_turns_and_rqs_own_requeues_come_first_in_their_queue(app):
    connection = app.extensions["redis"]
    _enqueue(app, SWEEP_QUEUE, OTHER, "1")
    _enqueue(app, QUEUE_NAME, SHOP, "2")
    # A retry RQ's scheduler puts back goes onto the queue's own list, not a lane.
    retried = Queue(QUEUE_NAME, connection=connection).enqueue_call(CANCEL, kwargs={"shop": OTHER, "order_id": "3"})
    _enqueue(app, URGENT_QUEUE, OTHER, "4")
    queues = [(queue.key, queue.name) for queue in make_queues(connection)]
    order = [Job.fetch(take(connection, queues)[1], connection=connection).kwargs["order_id"] for _ in range(4)]
    assert order == ["4", retried.kwargs["order_id"], "2", "1"]


def test_a_lane_erased_under_the_ring_heals(app):
    connection = app.extensions["redis"]
    _enqueue(app, URGENT_QUEUE, SHOP, "1")
    _enqueue(app, URGENT_QUEUE, OTHER, "2")
    connection.delete(lane_key(SHOP, URGENT_QUEUE))  # as shop/redact erases a store's keys
    assert _taken_shops(app, 1) == [OTHER]
    assert connection.zcard(ring_key(URGENT_QUEUE)) == 0


def test_the_queue_counts_lists_and_removes_jobs_waiting_in_lanes(app):
    connection = app.extensions["redis"]
    first = _enqueue(app, URGENT_QUEUE, SHOP, "1")
    second = _enqueue(app, URGENT_QUEUE, OTHER, "2")
    queue = LaneQueue(URGENT_QUEUE, connection=connection)
    assert queue.count == 2
    assert queue.get_job_ids() == [first.id, second.id]
    assert queue.get_job_ids(1, 1) == [second.id]
    queue.remove(first)
    assert queue.count == 1
    assert queue.job_ids == [second.id]


def test_workers_serve_a_neighbour_between_a_burst_of_webhooks(app, live_app, installed_shop, shopify, gelato, queue, drain):
    """Through the real door and worker: 30 cancellations of one store, then 2 of another store."""
    token = shopify.add_shop(OTHER)
    assert app.test_cli_runner().invoke(args=["shops", "add", OTHER, "--token", token]).exit_code == 0
    burst = []
    for shop, count in ((SHOP, 30), (OTHER, 2)):
        for _ in range(count):
            order_id = shopify.add_order(shop)
            print_id = gelato.add_order(str(order_id), status="passed")
            shopify.cancel_order(shop, order_id)
            answer = shopify.send_webhook(
                live_app.url + "/webhooks", shop, "orders/cancelled", shopify.order_payload(shop, order_id)
            )
            assert answer.json()["message"] == "enqueued", answer.text
            burst.append((shop, print_id))
    assert queue.count == 32

    drain()

    cancel_order = [call.path.rsplit("/", 1)[-1].split(":")[0] for call in gelato.calls_matching("POST", r":cancel$")]
    assert sorted(cancel_order) == sorted(print_id for _, print_id in burst)
    neighbour_turns = [cancel_order.index(print_id) for shop, print_id in burst if shop == OTHER]
    assert neighbour_turns == [1, 3]  # second and fourth, not 31st and 32nd


def test_the_oldest_wait_is_found_in_whichever_lane_holds_it(app):
    connection = app.extensions["redis"]
    # Both stores are new to the ring (score 0): ties go by name, so the younger job's store is first in turn.
    old = _enqueue(app, URGENT_QUEUE, "zz-older.myshopify.com", "1")
    _enqueue(app, URGENT_QUEUE, "aa-newer.myshopify.com", "2")
    old.enqueued_at = old.enqueued_at - timedelta(seconds=60)
    old.save()
    assert waiting_shops(connection, URGENT_QUEUE)[0] == "aa-newer.myshopify.com"
    waiting, oldest_wait = queue_waits(connection)[URGENT_QUEUE]
    assert waiting == 2 and oldest_wait >= 60


def test_a_job_leaves_the_scheduled_registry_for_its_lane_once(app):
    connection = app.extensions["redis"]
    queue = LaneQueue(URGENT_QUEUE, connection=connection)
    job = _enqueue(app, URGENT_QUEUE, SHOP, "1")
    assert take(connection, [(queue.key, queue.name)]) is not None  # a worker took it; it failed and RQ scheduled it
    queue.schedule_job(job, job.enqueued_at + timedelta(minutes=5))
    registry = queue.scheduled_job_registry.key

    moved = [requeue_from(queue, job, SHOP, registry) for _ in range(2)]

    assert moved == [True, False]  # two workers releasing it: one moves it
    assert connection.lrange(lane_key(SHOP, URGENT_QUEUE), 0, -1) == [job.id.encode()]
    assert queue.scheduled_job_registry.get_job_ids() == []
    assert job.get_status(refresh=True) == "queued" and waiting_shops(connection, URGENT_QUEUE) == [SHOP]
