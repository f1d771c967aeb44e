"""Redis goes away and comes back: 503 while down, no restart needed after, nothing acknowledged lost."""

import pytest
import requests

from plugin import create_app
from plugin.dev.fakes.server import LocalServer
from plugin.dev.procfile import process_env, start, stop, wait_until
from plugin.dev.redis_server import RedisServer
from tests.conftest import SHOP, app_config


@pytest.fixture
def own_redis(tmp_path):
    server = RedisServer(str(tmp_path)).start()
    yield server
    server.stop()


def deliver(shopify, url, order_id, topic="orders/cancelled"):
    return shopify.send_webhook(url + "/webhooks", SHOP, topic, shopify.order_payload(SHOP, order_id))


def test_outage_503_then_recovery_without_restart(own_redis, database_url, gelato, shopify, tmp_path):
    app = create_app(app_config(own_redis.url, database_url, gelato, shopify))
    token = shopify.add_shop(SHOP)
    assert app.test_cli_runner().invoke(args=["shops", "add", SHOP, "--token", token, "--skip-webhooks"]).exit_code == 0
    first, during, after = (shopify.add_order(SHOP) for _ in range(3))
    prints = {o: gelato.add_order(str(o), status="passed") for o in (first, during, after)}
    for order_id in prints:
        shopify.cancel_order(SHOP, order_id)

    with LocalServer(app) as web:
        # Acknowledged while no worker runs: the job exists only in Redis.
        assert deliver(shopify, web.url, first).status_code == 200
        own_redis.stop()
        answer = deliver(shopify, web.url, during)
        assert answer.status_code == 503
        assert requests.get(web.url + "/healthz", timeout=5).status_code == 503
        own_redis.start()  # same port and data folder, like a Redis restart
        # The same web process serves again: no restart, Shopify's retry of `during` now lands.
        assert deliver(shopify, web.url, during).status_code == 200
        worker = start("worker", process_env(app.config), str(tmp_path / "worker.log"))
        try:
            assert wait_until(
                lambda: all(gelato.order(p)["fulfillmentStatus"] == "canceled" for p in (prints[first], prints[during])), 30
            ), (tmp_path / "worker.log").read_text()
            # Redis drops again under the running worker; it reconnects by itself.
            own_redis.stop()
            wait_until(lambda: "could not connect to Redis" in (tmp_path / "worker.log").read_text(), timeout=20)
            own_redis.start()
            assert deliver(shopify, web.url, after).status_code == 200
            assert wait_until(lambda: gelato.order(prints[after])["fulfillmentStatus"] == "canceled", 60), (
                tmp_path / "worker.log"
            ).read_text()
        finally:
            stop(worker)
    app.extensions["database"].dispose()
