"""The order ledger against the real database: one read per job, writes kept in step, stale snapshots dropped."""

import pytest
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from jobs.ledger import STORE_ORDER, OrderLedger
from tests.conftest import SHOP
from tests.test_cancellation_e2e import cancel_order


@pytest.fixture
def database(app):
    return app.extensions["database"]


def ledger_reads(database):
    """A list that collects every SELECT on note_entries run through the app's engine."""
    reads = []

    def collect(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("SELECT") and "note_entries" in statement:
            reads.append(statement)

    event.listen(database.engine, "before_cursor_execute", collect)
    return reads


def test_answers_from_one_read_and_keeps_its_own_writes(database):
    ledger = OrderLedger(database, SHOP, "1001")
    reads = ledger_reads(database)
    assert ledger.pending([("p1", "a"), (STORE_ORDER, "tag:x")]) == [("p1", "a"), (STORE_ORDER, "tag:x")]
    ledger.remember([("p1", "a"), (STORE_ORDER, "mirror-failed:j1"), (STORE_ORDER, "mirror-failed:j2")], "pm-1")
    assert ledger.pending([("p1", "a"), ("p2", "a")]) == [("p2", "a")]
    assert ledger.store_order_keys("mirror-failed:") == ["mirror-failed:j1", "mirror-failed:j2"]
    assert ledger.store_order_keys("mirror-recovered:") == []
    ledger.forget((STORE_ORDER, "mirror-failed:j1"))
    assert ledger.store_order_keys("mirror-failed:") == ["mirror-failed:j2"]
    assert len(reads) == 1
    # A later job's ledger sees exactly what this one wrote and forgot.
    fresh = OrderLedger(database, SHOP, "1001")
    assert fresh.pending([("p1", "a"), (STORE_ORDER, "mirror-failed:j1"), (STORE_ORDER, "mirror-failed:j2")]) == [
        (STORE_ORDER, "mirror-failed:j1")
    ]
    # Other orders and shops are not mixed in.
    assert OrderLedger(database, SHOP, "1002").pending([("p1", "a")]) == [("p1", "a")]
    assert OrderLedger(database, "other.myshopify.com", "1001").pending([("p1", "a")]) == [("p1", "a")]


def test_a_write_refused_because_another_writer_got_there_reads_again(database):
    ours = OrderLedger(database, SHOP, "2001")
    assert ours.pending([("p1", "intent")]) == [("p1", "intent")]
    OrderLedger(database, SHOP, "2001").remember([("p1", "intent")], "intent")  # e.g. a run whose lock lapsed
    with pytest.raises(IntegrityError):
        ours.remember([("p1", "intent")], "intent")
    assert ours.pending([("p1", "intent")]) == []


def test_a_cancellation_job_reads_the_ledger_once(app, live_app, installed_shop, shopify, gelato, drain):
    # Too late, with an earlier failure note open: the job asks the ledger about the paragraph,
    # the tag and the failure notes to recover, and the database is read once for all three.
    order_id = shopify.add_order(SHOP)
    gelato.add_order(str(order_id), status="in_production")
    database = app.extensions["database"]
    OrderLedger(database, SHOP, str(order_id)).remember([(STORE_ORDER, "mirror-failed:earlier-job")], "pm-0")
    reads = ledger_reads(database)
    cancel_order(shopify, live_app, order_id)
    drain()
    note = shopify.order(SHOP, order_id)["note"]
    assert "in_production" in note and "print-cancel-too-late" in shopify.order(SHOP, order_id)["tags"]
    assert len(reads) == 1
    assert OrderLedger(database, SHOP, str(order_id)).store_order_keys("mirror-recovered:") == ["mirror-recovered:earlier-job"]
