"""The app factory: create_app wires configuration, storage, Redis, webhooks, OAuth, the admin page, metrics and the CLI."""

from __future__ import annotations

import os

from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from plugin import cli, health, metrics, services
from plugin.admin import api as admin_api
from plugin.admin import page as admin_page
from plugin.config import load_config
from plugin.errors import ConfigurationError
from plugin.logs import configure_logging
from plugin.shopify import oauth
from plugin.store import db, redis_conn
from plugin.store.crypto import generate_key
from plugin.store.secrets_store import (
    local_secret,
    random_secret,
    refuse_to_start,
    require_app_secrets,
    require_local_sandbox,
)
from webhooks import bp as webhooks_bp


def create_app(test_config: dict | None = None) -> Flask:
    """Build the Flask app from the environment (and test_config overrides)."""
    # INSTANCE_PATH moves instance/ (SQLite file, embedded Redis, generated local secrets).
    instance_path = (test_config or {}).get("INSTANCE_PATH") or os.environ.get("INSTANCE_PATH") or None
    app = Flask(__name__, instance_relative_config=True, instance_path=instance_path)
    app.config.from_mapping(load_config())
    if test_config:
        app.config.update(test_config)
    os.makedirs(app.instance_path, exist_ok=True)
    configure_logging(app.config.get("LOG_LEVEL", "INFO"))
    try:
        require_app_secrets(app.config, os.environ)
        require_local_sandbox(app.config, os.environ)
    except ConfigurationError as exc:
        refuse_to_start(exc)
    # Only a local run (embedded Redis, SQLite, no dyno) gets generated secrets kept under instance/.
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = local_secret(app.instance_path, "secret_key", random_secret)
    if not app.config["TOKEN_ENCRYPTION_KEY"]:
        app.config["TOKEN_ENCRYPTION_KEY"] = local_secret(app.instance_path, "token_encryption_key", generate_key)

    app.session_interface = NoCookieSessions()
    db.init_app(app)
    redis_conn.init_app(app)
    services.init_app(app)

    app.register_blueprint(webhooks_bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(oauth.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(admin_page.bp)
    app.register_blueprint(admin_api.bp)
    if app.config["SANDBOX_SHOP"]:
        from plugin.admin import sandbox_bridge

        app.register_blueprint(sandbox_bridge.bp)
    cli.init_app(app)
    return app


class NoCookieSessions(SecureCookieSessionInterface):
    """No state in cookies (OAuth state lives in Redis): no cookie is parsed or signed per request."""

    def open_session(self, app, request):
        """None: Flask then hands out a NullSession, which refuses writes loudly."""
        return None
