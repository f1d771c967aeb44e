"""The Procfile `worker` process, as a real subprocess: it drains the queue and its scheduler runs interval retries."""

from plugin.dev.procfile import process_env, procfile_commands, start, stop, wait_until
from tests.conftest import SHOP


def test_procfile_declares_the_three_processes():
    commands = procfile_commands()
    assert set(commands) == {"web", "worker", "release"}
    assert commands["web"].startswith("gunicorn -c gunicorn.conf.py")
    assert "worker" in commands["worker"] and "db upgrade" in commands["release"]


def test_worker_process_cancels_and_retries_on_its_scheduler(app, live_app, installed_shop, shopify, gelato, tmp_path):
    order_id = shopify.add_order(SHOP)
    print_id = gelato.add_order(str(order_id), status="passed")
    # One failure: the retry is scheduled 1 s later, which only the worker's scheduler can enqueue.
    gelato.fail_next("POST", r"orders:search", 502, times=1)
    worker = start("worker", process_env(app.config, RETRY_INTERVALS="1,1"), str(tmp_path / "worker.log"))
    try:
        shopify.cancel_order(SHOP, order_id)
        response = shopify.send_webhook(
            live_app.url + "/webhooks", SHOP, "orders/cancelled", shopify.order_payload(SHOP, order_id)
        )
        assert response.status_code == 200
        cancelled = wait_until(lambda: gelato.order(print_id)["fulfillmentStatus"] == "canceled", timeout=30)
        log = (tmp_path / "worker.log").read_text()
        assert cancelled, log
        assert "print-cancelled" in wait_until(lambda: shopify.order(SHOP, order_id)["tags"], timeout=5)
        assert len(gelato.calls_matching("POST", r"orders:search")) == 2
    finally:
        assert stop(worker) == 0, (tmp_path / "worker.log").read_text()
