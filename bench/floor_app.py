"""The floor: bare Flask plus what any safe webhook endpoint must do, verify the HMAC and store the body in Redis."""

import base64
import hashlib
import hmac
import os

import redis
from flask import Flask, request


def create_app() -> Flask:
    """POST /webhooks: constant-time HMAC check, one Redis write of the raw body, 200."""
    app = Flask(__name__)
    secret = os.environ["SHOPIFY_API_SECRET"].encode()
    connection = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=2.0)

    @app.post("/webhooks")
    def webhooks():
        """Verify, then one durable write keyed by the webhook id, then answer."""
        body = request.get_data()
        expected = base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(expected, request.headers.get("X-Shopify-Hmac-Sha256", "")):
            return {"status": 401, "message": "invalid signature"}, 401
        connection.set("bench:floor:" + request.headers.get("X-Shopify-Webhook-Id", ""), body, ex=60)
        return {"status": 200, "message": "ok"}

    @app.get("/healthz")
    def healthz():
        """Ready probe for the harness."""
        return {"status": "ok"}

    return app
