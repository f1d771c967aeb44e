"""Stalled clients cannot stop intake: the Procfile's web process answers while 8 connections stall mid-request."""

from __future__ import annotations

import os
import runpy
import socket
import time
from contextlib import ExitStack

import pytest
import requests
from gunicorn.workers.gthread import ThreadWorker

from plugin.dev.procfile import ROOT, process_env, start, stop, wait_until
from plugin.dev.redis_server import free_port
from tests.conftest import SHOP

pytestmark = pytest.mark.timeout(120)

STALLED = 8
ANSWER_WITHIN = 1.0
# Shorter than the shipped 5 s, to keep the test short; the mechanism is the same.
READ_TIMEOUT = 3.0
GUNICORN_CONF = os.path.join(ROOT, "gunicorn.conf.py")
# What a slowloris sends: a complete header section announcing a body that never comes.
STALLED_REQUEST = (
    b"POST /webhooks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"X-Shopify-Topic: orders/cancelled\r\nX-Shopify-Shop-Domain: " + SHOP.encode() + b"\r\n"
    b"Content-Length: 1000\r\n\r\n"
)


class Web:
    """The running web process: its base URL and log."""

    def __init__(self, url: str, log):
        self.url = url
        self.log = log

    def text(self) -> str:
        """The process's output so far."""
        return self.log.read_text(errors="replace")


@pytest.fixture
def web(app, live_app, tmp_path, monkeypatch):
    """The Procfile's web process on a free port, one worker process, until the test ends."""
    monkeypatch.delenv("WEB_THREADS", raising=False)  # the shipped thread count, whatever this shell sets
    port = free_port()
    # One worker process puts every stalled connection on the same worker: the per-worker case,
    # and no second worker to hide a stuck one.
    env = process_env(app.config, PORT=port, WEB_CONCURRENCY=1, WEB_READ_TIMEOUT=READ_TIMEOUT)
    log = tmp_path / "web.log"
    process = start("web", env, str(log))
    url = f"http://127.0.0.1:{port}"
    try:

        def healthy():
            assert process.poll() is None, log.read_text()
            try:
                return requests.get(url + "/healthz", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        assert wait_until(healthy, timeout=60, interval=0.1), log.read_text()
        yield Web(url, log)
    finally:
        assert stop(process) == 0, log.read_text()


def test_gunicorn_conf_serves_threads_with_bounded_reads(monkeypatch):
    for name in ("WEB_CONCURRENCY", "WEB_THREADS", "WEB_READ_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    settings = runpy.run_path(GUNICORN_CONF)
    assert issubclass(settings["worker_class"], ThreadWorker)  # gthread: a stalled client holds a thread, not a process
    # Comfortably more threads than the stalled connections one worker must survive.
    assert settings["threads"] >= 4 * STALLED
    # Shopify abandons a delivery after 5 s in all: a body still missing by then is worth nothing.
    assert 0 < settings["READ_TIMEOUT"] <= 5
    monkeypatch.setenv("WEB_THREADS", "12")
    monkeypatch.setenv("WEB_READ_TIMEOUT", "2.5")
    settings = runpy.run_path(GUNICORN_CONF)
    assert (settings["threads"], settings["READ_TIMEOUT"]) == (12, 2.5)
    for name, value in (("WEB_THREADS", "0"), ("WEB_READ_TIMEOUT", "soon"), ("WEB_CONCURRENCY", "-1")):
        monkeypatch.setenv(name, value)
        with pytest.raises(ValueError, match=name):
            runpy.run_path(GUNICORN_CONF)
        monkeypatch.delenv(name)


def stall(stack: ExitStack, port: int) -> socket.socket:
    """A connection that sends STALLED_REQUEST's headers and then nothing, closed when the stack unwinds."""
    connection = stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
    connection.sendall(STALLED_REQUEST)
    return connection


def timed(request) -> tuple[float, requests.Response | Exception]:
    """(seconds, response or the exception) of one HTTP call."""
    started = time.monotonic()
    try:
        result = request()
    except requests.RequestException as exc:
        result = exc
    return time.monotonic() - started, result


def until_dropped(connection: socket.socket, deadline: float) -> tuple[float | None, bytes]:
    """Read until the server closes the connection; (monotonic time it did or None, bytes received)."""
    received = b""
    while time.monotonic() < deadline:
        connection.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = connection.recv(4096)
        except TimeoutError:
            break
        except OSError:  # reset: dropped too
            return time.monotonic(), received
        if not chunk:
            return time.monotonic(), received
        received += chunk
    return None, received


def test_stalled_connections_leave_healthz_and_webhooks_answering(web, app, installed_shop, shopify, gelato, tmp_path):
    order_id = shopify.add_order(SHOP)
    print_id = gelato.add_order(str(order_id), status="passed")
    worker_log = tmp_path / "worker.log"
    worker = start("worker", process_env(app.config), str(worker_log))
    port = int(web.url.rsplit(":", 1)[1])
    with ExitStack() as stack:
        try:
            opened = time.monotonic()
            stalled = [stall(stack, port) for _ in range(STALLED)]
            time.sleep(0.3)  # let the worker take them all in and block on their bodies

            # (a) health checks still answer at once …
            seconds, health = timed(lambda: requests.get(web.url + "/healthz", timeout=ANSWER_WITHIN + 2))
            assert isinstance(health, requests.Response) and health.status_code == 200, (health, web.text())
            assert seconds < ANSWER_WITHIN, f"/healthz took {seconds:.2f} s with {STALLED} stalled clients"

            # (b) … and so does a genuine delivery, for a cancellation Shopify really made.
            shopify.cancel_order(SHOP, order_id)
            seconds, answer = timed(
                lambda: shopify.send_webhook(
                    web.url + "/webhooks",
                    SHOP,
                    "orders/cancelled",
                    shopify.order_payload(SHOP, order_id),
                    timeout=ANSWER_WITHIN + 2,
                )
            )
            assert isinstance(answer, requests.Response) and answer.status_code == 200, (answer, web.text())
            assert seconds < ANSWER_WITHIN, f"/webhooks took {seconds:.2f} s with {STALLED} stalled clients"
            # Both answers came while every stalled connection was still being held open.
            assert time.monotonic() - opened < READ_TIMEOUT

            # The delivery was really taken in: the worker process mirrors it to Gelato.
            cancelled = wait_until(lambda: gelato.order(print_id)["fulfillmentStatus"] == "canceled", timeout=30)
            assert cancelled, worker_log.read_text()

            # A stalled request is dropped after the read timeout, with no success answer …
            deadline = opened + READ_TIMEOUT + 5
            for connection in stalled:
                dropped_at, received = until_dropped(connection, deadline)
                assert dropped_at is not None, f"a stalled connection was still open {READ_TIMEOUT + 5:.0f} s later"
                assert dropped_at - opened >= READ_TIMEOUT - 0.5, "dropped before the read timeout"
                assert not received.startswith(b"HTTP/1.1 2"), received[:200]
            # … and dropping them all at once does not stall the worker's intake either.
            seconds, health = timed(lambda: requests.get(web.url + "/healthz", timeout=ANSWER_WITHIN + 2))
            assert isinstance(health, requests.Response) and health.status_code == 200, (health, web.text())
            assert seconds < ANSWER_WITHIN, f"/healthz took {seconds:.2f} s right after the stalled clients were dropped"
        finally:
            assert stop(worker) == 0, worker_log.read_text()
