"""The floor: bare Flask plus what any safe webhook endpoint must do, verify the HMAC and store the body in Redis."""

import os

import redis
from flask import Flask, request

from plugin.shopify.webhook_signature import verify_signature


def create_app() -> Flask:
    """POST /webhooks: constant-time HMAC check, one Redis write of the raw body, 200."""
    app = Flask(__name__)
    secrets = [os.environ["SHOPIFY_API_SECRET"]]
    connection = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=2.0)

    @app.post("/webhooks")
    def webhooks():
        """Verify, then one durable write keyed by the webhook id, then answer."""
        body = request.get_data()
        # The app's own constant-time check, so the floor and the real endpoint verify alike.
        if not verify_signature(body, request.headers.get("X-Shopify-Hmac-Sha256"), secrets):
            return {"status": 401, "message": "invalid signature"}, 401
        connection.set("bench:floor:" + request.headers.get("X-Shopify-Webhook-Id", ""), body, ex=60)
        return {"status": 200, "message": "ok"}

    @app.get("/healthz")
    def healthz():
        """Ready probe for the harness."""
        return {"status": "ok"}

    return app
