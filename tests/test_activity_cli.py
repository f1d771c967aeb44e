"""`flask --app plugin activity` and `jobs failed`: what the app did, after real webhooks and a real worker."""

import re
from datetime import UTC, datetime, timedelta

import click
import pytest

from plugin.cli.activity import parse_since
from tests.conftest import SHOP


def cancel(shopify, live_app, order_id):
    shopify.cancel_order(SHOP, order_id)
    response = shopify.send_webhook(live_app.url + "/webhooks", SHOP, "orders/cancelled", shopify.order_payload(SHOP, order_id))
    assert response.status_code == 200, response.text


def table(output: str) -> list[dict]:
    """Parse the CLI's table (columns start where their header starts) into dicts."""
    header, *rows = [line for line in output.splitlines() if line.strip()]
    names = re.split(r"\s{2,}", header.strip())
    starts = [header.index(name) for name in names]
    bounds = list(zip(starts, [*starts[1:], None]))
    return [{name: line[a:b].strip() for name, (a, b) in zip(names, bounds)} for line in rows if line[:4].isdigit()]


def test_activity_shows_the_outcomes_of_an_end_to_end_run(app, live_app, installed_shop, shopify, gelato, drain):
    in_time = shopify.add_order(SHOP)
    cancelled_id = gelato.add_order(str(in_time), status="passed")
    split = shopify.add_order(SHOP)
    passed_id, shipped_id = gelato.add_split_order(str(split), statuses=["passed", "shipped"])
    cancel(shopify, live_app, in_time)
    cancel(shopify, live_app, split)
    drain()
    runner = app.test_cli_runner()

    result = runner.invoke(args=["activity"])
    assert result.exit_code == 0, result.output
    rows = {row["print order"]: row for row in table(result.output)}
    assert {key: (row["store order"], row["status seen"], row["outcome"]) for key, row in rows.items()} == {
        cancelled_id: (str(in_time), "passed", "cancelled"),
        passed_id: (str(split), "passed", "cancelled"),
        shipped_id: (str(split), "shipped", "too_late"),
    }
    assert all(row["shop"] == SHOP and row["topic"] == "orders/cancelled" for row in rows.values())

    only_split = table(runner.invoke(args=["activity", "--order", str(split), "--shop", SHOP.upper()]).output)
    assert sorted(row["print order"] for row in only_split) == sorted([passed_id, shipped_id])
    assert len(table(runner.invoke(args=["activity", "--since", "1h"]).output)) == 3
    assert len(table(runner.invoke(args=["activity", "--limit", "1"]).output)) == 1
    assert "no activity recorded" in runner.invoke(args=["activity", "--shop", "other.myshopify.com"]).output
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert "no activity recorded" in runner.invoke(args=["activity", "--since", tomorrow]).output
    assert runner.invoke(args=["activity", "--since", "last tuesday"]).exit_code != 0


def test_parse_since_accepts_durations_and_iso_times():
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert parse_since("30m", now) == now - timedelta(minutes=30)
    assert parse_since("2h", now) == now - timedelta(hours=2)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("2026-11-27T10:00", now) == datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    assert parse_since("2026-11-27T11:00+01:00", now) == datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    with pytest.raises(click.BadParameter):
        parse_since("yesterday", now)


def test_jobs_failed_lists_and_requeues(app, live_app, installed_shop, shopify, gelato, drain, queue):
    orders = [shopify.add_order(SHOP) for _ in range(3)]
    prints = [gelato.add_order(str(order_id), status="passed") for order_id in orders]
    # A refused API key is permanent: each job fails at once and lands in the failed registry.
    gelato.fail_next("POST", r"orders:search", 401, times=3, body={"code": "unauthorized", "message": "bad key"})
    for order_id in orders:
        cancel(shopify, live_app, order_id)
    drain()
    runner = app.test_cli_runner()

    listed = runner.invoke(args=["jobs", "failed"])
    assert listed.exit_code == 0, listed.output
    header, *lines = listed.output.splitlines()
    assert header.split()[:2] == ["job", "id"]
    failed = [line.split()[0] for line in lines if str(orders[0]) in line or str(orders[1]) in line or str(orders[2]) in line]
    assert len(failed) == 3
    assert all("ProviderError" in line and "HTTP 401" in line and SHOP in line for line in lines[:3])

    # The cause is fixed (the fault is used up): requeue one, then all the others.
    first = next(line.split()[0] for line in lines if str(orders[0]) in line)
    assert runner.invoke(args=["jobs", "failed", "--requeue", first]).output.strip() == f"requeued {first}"
    assert queue.count == 1 and queue.failed_job_registry.count == 2
    drain()
    assert gelato.order(prints[0])["fulfillmentStatus"] == "canceled"
    assert gelato.order(prints[1])["fulfillmentStatus"] == "passed"
    assert runner.invoke(args=["jobs", "failed", "--all"]).output.strip() == "requeued 2 failed jobs"
    drain()
    assert all(gelato.order(p)["fulfillmentStatus"] == "canceled" for p in prints)
    assert runner.invoke(args=["jobs", "failed"]).output.strip() == "no failed jobs"

    unknown = runner.invoke(args=["jobs", "failed", "--requeue", first])
    assert unknown.exit_code != 0 and "is not a failed job" in unknown.output
    assert runner.invoke(args=["jobs", "failed", "--requeue", first, "--all"]).exit_code != 0
