"""GET /metrics: Prometheus text from counters in Redis, filled by the real receiver and the real worker."""

import json
import re
import time

import requests

from jobs.account_health import HeldAccount
from plugin import create_app
from plugin.dev.fakes.server import LocalServer
from plugin.metrics import LATENCY_BUCKETS, render, webhook_field_prefix
from tests.conftest import SHOP, app_config

SAMPLE = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(url: str) -> dict[tuple, float]:
    """GET /metrics and parse each sample into {(name, (label, value), …): number}."""
    response = requests.get(url + "/metrics", timeout=5)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for line in response.text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a Prometheus sample: {line!r}"
        labels = tuple(sorted(LABEL.findall(match["labels"] or "")))
        samples[(match["name"], *labels)] = float(match["value"])
    return samples


def send_cancel(shopify, url, order_id, webhook_id=None):
    shopify.cancel_order(SHOP, order_id)
    response = shopify.send_webhook(
        url + "/webhooks", SHOP, "orders/cancelled", shopify.order_payload(SHOP, order_id), webhook_id=webhook_id
    )
    assert response.status_code == 200, response.text


def test_webhooks_jobs_and_provider_latency_are_counted(live_app, installed_shop, shopify, gelato, drain):
    in_time = shopify.add_order(SHOP)
    gelato.add_order(str(in_time), status="passed")
    too_late = shopify.add_order(SHOP)
    gelato.add_order(str(too_late), status="printed")
    flaky = shopify.add_order(SHOP)
    gelato.add_order(str(flaky), status="created")
    send_cancel(shopify, live_app.url, in_time, webhook_id="delivery-1")
    send_cancel(shopify, live_app.url, in_time, webhook_id="delivery-1")  # Shopify delivers it again
    send_cancel(shopify, live_app.url, too_late)
    drain()
    gelato.fail_next("POST", r"orders:search", 502, times=1)  # one transient failure, then a retry
    send_cancel(shopify, live_app.url, flaky)
    drain()
    forged = shopify.send_webhook(live_app.url + "/webhooks", SHOP, 'evil"topic{x}', {"id": 1}, secret="guessed")
    assert forged.status_code == 401

    samples = scrape(live_app.url)
    webhooks = "print_mirror_webhooks_total"
    assert samples[(webhooks, ("result", "enqueued"), ("topic", "orders/cancelled"))] == 3
    assert samples[(webhooks, ("result", "duplicate"), ("topic", "orders/cancelled"))] == 1
    # A forged request cannot invent label values: unsigned, it is counted as "unverified".
    assert samples[(webhooks, ("result", "rejected"), ("topic", "unverified"))] == 1
    assert samples[("print_mirror_webhook_duplicates_total", ("topic", "orders/cancelled"))] == 1
    jobs = "print_mirror_jobs_total"
    assert samples[(jobs, ("job", "mirror_cancellation"), ("outcome", "succeeded"))] == 3
    assert samples[(jobs, ("job", "mirror_cancellation"), ("outcome", "retried"))] == 1
    print_orders = "print_mirror_print_orders_total"
    assert samples[(print_orders, ("job", "mirror_cancellation"), ("outcome", "cancelled"))] == 2
    assert samples[(print_orders, ("job", "mirror_cancellation"), ("outcome", "too_late"))] == 1
    # Two cancel calls reached the provider (the printed order needed none).
    histogram = "print_mirror_webhook_to_provider_seconds"
    assert samples[(f"{histogram}_count",)] == 2
    assert samples[(f"{histogram}_bucket", ("le", "+Inf"))] == 2
    assert 0 < samples[(f"{histogram}_sum",)] < 60
    assert samples[("print_mirror_queue_jobs", ("state", "queued"))] == 0
    assert samples[("print_mirror_queue_jobs", ("state", "failed"))] == 0


def test_queue_depth_and_failed_jobs(live_app, installed_shop, shopify, gelato, drain):
    order_id = shopify.add_order(SHOP)
    gelato.add_order(str(order_id), status="passed")
    send_cancel(shopify, live_app.url, order_id)
    samples = scrape(live_app.url)
    assert samples[("print_mirror_queue_jobs", ("state", "queued"))] == 1
    assert samples[("print_mirror_workers",)] == 0  # nothing is draining the queue yet
    assert samples[("print_mirror_queue_oldest_job_age_seconds",)] >= 0
    time.sleep(0.3)  # the job keeps waiting: its age grows between scrapes
    samples = scrape(live_app.url)
    assert samples[("print_mirror_queue_oldest_job_age_seconds",)] >= 0.3
    # Per urgency: the cancellation waits on the urgent queue; the changes queue is empty.
    assert samples[("print_mirror_queue_waiting_jobs", ("queue", "print-mirror-urgent"))] == 1
    assert samples[("print_mirror_queue_oldest_wait_seconds", ("queue", "print-mirror-urgent"))] >= 0.3
    assert samples[("print_mirror_queue_waiting_jobs", ("queue", "print-mirror"))] == 0
    assert samples[("print_mirror_queue_oldest_wait_seconds", ("queue", "print-mirror"))] == 0
    gelato.fail_next("POST", r"orders:search", 401, times=1)  # a refused API key: permanent
    drain()
    samples = scrape(live_app.url)
    assert samples[("print_mirror_queue_jobs", ("state", "queued"))] == 0
    assert samples[("print_mirror_queue_jobs", ("state", "failed"))] == 1
    assert samples[("print_mirror_queue_oldest_job_age_seconds",)] == 0  # nothing waits any more
    assert samples[("print_mirror_jobs_total", ("job", "mirror_cancellation"), ("outcome", "failed"))] == 1


def test_metrics_answer_503_when_redis_is_down(database_url, gelato, shopify):
    app = create_app(app_config("redis://127.0.0.1:1/0", database_url, gelato, shopify))
    with LocalServer(app) as server:
        response = requests.get(server.url + "/metrics", timeout=10)
    assert response.status_code == 503
    assert "Redis" in response.text


def test_render_is_valid_exposition_with_cumulative_buckets():
    counters = {
        ("webhooks", "orders/cancelled", "enqueued"): 2.0,
        ("webhook_to_provider", "bucket", "0.05"): 1.0,
        ("webhook_to_provider", "bucket", "5.0"): 2.0,
        ("webhook_to_provider", "bucket", "+Inf"): 1.0,
        ("webhook_to_provider", "sum"): 712.5,
        ("webhook_to_provider", "count"): 4.0,
    }
    waits = {"print-mirror-urgent": (3, 12.5), "print-mirror": (0, 0.0)}
    held = {"gelato:02ed2b0d8ea4": HeldAccount("down", 7, 3600.0)}
    text = render(counters, {"queued": 3, "started": 0, "scheduled": 1, "failed": 0}, 1, waits=waits, held=held)
    lines = text.splitlines()
    assert 'print_mirror_webhooks_total{topic="orders/cancelled",result="enqueued"} 2' in lines
    buckets = [line for line in lines if line.startswith("print_mirror_webhook_to_provider_seconds_bucket")]
    assert len(buckets) == len(LATENCY_BUCKETS) + 1
    assert 'print_mirror_webhook_to_provider_seconds_bucket{le="0.05"} 1' in lines
    assert 'print_mirror_webhook_to_provider_seconds_bucket{le="2.5"} 1' in lines
    assert 'print_mirror_webhook_to_provider_seconds_bucket{le="5.0"} 3' in lines
    assert 'print_mirror_webhook_to_provider_seconds_bucket{le="+Inf"} 4' in lines
    assert "print_mirror_webhook_to_provider_seconds_sum 712.5" in lines
    assert 'print_mirror_queue_jobs{state="queued"} 3' in lines
    assert "print_mirror_workers 1" in lines
    assert "print_mirror_queue_oldest_job_age_seconds 12.5" in lines
    assert 'print_mirror_queue_waiting_jobs{queue="print-mirror-urgent"} 3' in lines
    assert 'print_mirror_queue_oldest_wait_seconds{queue="print-mirror-urgent"} 12.5' in lines
    assert 'print_mirror_queue_oldest_wait_seconds{queue="print-mirror"} 0' in lines
    assert 'print_mirror_accounts_held_jobs{account="gelato:02ed2b0d8ea4",state="down"} 7' in lines
    # Every family is announced once with HELP and TYPE before its samples.
    names = [line.split()[2] for line in lines if line.startswith("# TYPE")]
    assert len(names) == len(set(names)) == 12


def test_metrics_token_is_required_when_set(redis_client, redis_url, database_url, gelato, shopify):
    app = create_app(app_config(redis_url, database_url, gelato, shopify, METRICS_TOKEN="scrape-me-9f2c"))
    with LocalServer(app) as server:
        missing = requests.get(server.url + "/metrics", timeout=5)
        wrong = requests.get(server.url + "/metrics", headers={"Authorization": "Bearer scrape-me-9f2"}, timeout=5)
        basic = requests.get(server.url + "/metrics", headers={"Authorization": "Basic scrape-me-9f2c"}, timeout=5)
        right = requests.get(server.url + "/metrics", headers={"Authorization": "Bearer scrape-me-9f2c"}, timeout=5)
    assert [missing.status_code, wrong.status_code, basic.status_code] == [401, 401, 401]
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert "print_mirror_" not in missing.text and "scrape-me" not in missing.text
    assert right.status_code == 200 and "print_mirror_workers" in right.text


def test_unsigned_requests_are_counted_as_unverified_not_under_the_topic_they_claim(
    app, live_app, installed_shop, shopify, caplog
):
    url = live_app.url + "/webhooks"
    payload = {"id": 820982911946154508, "cancelled_at": "2026-11-27T10:00:00-05:00"}
    forged = shopify.send_webhook(url, SHOP, "orders/cancelled", payload, secret="guessed-secret")
    unsigned = shopify.send_webhook(url, SHOP, "orders/cancelled", payload, headers={"X-Shopify-Hmac-Sha256": None})
    oversized = shopify.send_webhook(url, SHOP, "orders/cancelled", {"pad": "x" * app.config["WEBHOOK_MAX_BYTES"]})
    assert (forged.status_code, unsigned.status_code, oversized.status_code) == (401, 401, 413)
    # Signed but refused on a header: the signature held, so the topic keeps its label as before.
    headerless = shopify.send_webhook(url, SHOP, "orders/cancelled", payload, headers={"X-Shopify-Webhook-Id": None})
    assert headerless.status_code == 400

    samples = scrape(live_app.url)
    webhooks = "print_mirror_webhooks_total"
    assert samples[(webhooks, ("result", "rejected"), ("topic", "unverified"))] == 3
    assert samples[(webhooks, ("result", "rejected"), ("topic", "orders/cancelled"))] == 1
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "print_mirror.events"]
    unverified = [line for line in lines if line.get("status") in (401, 413)]
    assert len(unverified) == 3
    assert all("topic" not in line and line["claimed_topic"] == "orders/cancelled" for line in unverified)


def test_only_known_topics_and_unverified_become_labels():
    known = {"orders/cancelled": object()}
    assert webhook_field_prefix("orders/cancelled", known) == "webhooks|orders/cancelled|"
    assert webhook_field_prefix("unverified", known) == "webhooks|unverified|"
    assert webhook_field_prefix("products/update", known) == "webhooks|other|"
    assert webhook_field_prefix('evil"topic{x}', known) == "webhooks|other|"
