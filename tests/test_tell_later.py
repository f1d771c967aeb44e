"""Save first, tell later: the provider cancel comes first; notes and tags follow, paced by the store's Shopify bucket."""

from __future__ import annotations

import logging
import time

from rq.job import Job

from jobs.account_health import AccountHealth
from jobs.queueing import QUEUE_NAME, URGENT_QUEUE, make_queue
from jobs.tell_store import notes_account
from plugin.store.keys import ACCOUNT_DOWN, ACCOUNT_HELD
from tests.conftest import SHOP, paragraphs_in
from tests.support.cancellations import cancel_with_webhook
from tests.support.records import events


def test_the_print_order_is_cancelled_before_the_store_order_is_told(app, live_app, installed_shop, shopify, gelato, drain):
    moments: dict[str, float] = {}
    gelato.before("POST", r":cancel$", lambda *_: moments.setdefault("provider cancel", time.monotonic()))
    shopify.before_graphql("tagsAdd", lambda *_: moments.setdefault("tag", time.monotonic()))
    order_id, print_id = cancel_with_webhook(shopify, gelato, live_app)

    drain()

    assert gelato.status_of(print_id) == "canceled"
    assert "print-cancelled" in shopify.order(SHOP, order_id)["tags"]
    assert moments["provider cancel"] < moments["tag"]
    connection = app.extensions["redis"]
    [cancelled] = Job.fetch_many(make_queue(connection, URGENT_QUEUE).finished_job_registry.get_job_ids(), connection)
    assert cancelled.return_value()["store_order"] == "to_tell"
    # The telling ran as a job of its own, on the changes queue: never ahead of a cancellation.
    told = Job.fetch(cancelled.return_value()["tell_job"], connection=connection)
    assert told.origin == QUEUE_NAME and told.return_value() == {"order_id": str(order_id), "store_order": "tagged_cancelled"}


def test_a_store_low_on_its_bucket_keeps_cancelling_while_its_notes_wait(app, live_app, installed_shop, shopify, gelato, drain):
    shopify.drain_bucket = True
    # Below the half of the bucket (1,000 of 2,000 points) notes leave to the reads: refilling at
    # 100 points/s, it is back above it in about 4 s.
    shopify.set_bucket(SHOP, 600)
    first, first_print = cancel_with_webhook(shopify, gelato, live_app)
    drain()
    assert "print-cancelled" in shopify.order(SHOP, first)["tags"]  # told, then its store's notes paused

    second, second_print = cancel_with_webhook(shopify, gelato, live_app)
    drain()  # a burst worker does not sleep out a pause: it ends with the note held

    assert gelato.status_of(second_print) == "canceled"  # the cancellation itself did not wait
    assert "print-cancelled" not in shopify.order(SHOP, second)["tags"]
    connection = app.extensions["redis"]
    assert connection.zcard(ACCOUNT_HELD.key(notes_account(SHOP))) == 1
    assert AccountHealth(connection).held()[notes_account(SHOP)].state == "paused"

    time.sleep(connection.pttl(ACCOUNT_DOWN.key(notes_account(SHOP))) / 1000 + 0.05)  # the pause ends
    drain()
    assert "print-cancelled" in shopify.order(SHOP, second)["tags"]
    assert make_queue(connection, QUEUE_NAME).failed_job_registry.count == 0


def test_a_throttled_note_is_held_for_the_restore_time_not_slept_on(
    app, live_app, installed_shop, shopify, gelato, drain, caplog
):
    order_id, print_id = cancel_with_webhook(shopify, gelato, live_app, status="printed")
    # The cancellation's last call re-reads the printed order at Gelato; the next Shopify call, the
    # telling's first, is throttled.
    gelato.before("GET", rf"/v4/orders/{print_id}$", lambda *_: shopify.throttle_next(times=1))

    with caplog.at_level(logging.INFO, logger="print_mirror.events"):
        drain()

    order = shopify.order(SHOP, order_id)
    assert "print-cancel-too-late" in order["tags"] and len(paragraphs_in(order["note"])) == 1
    # No thread waited out the throttle: the job was held for the store's notes, then released.
    [held] = events(caplog, "job_held")
    assert (held["job"], held["account"]) == ("tell_cancellation", notes_account(SHOP))
    assert app.extensions["redis"].zcard(ACCOUNT_HELD.key(notes_account(SHOP))) == 0
