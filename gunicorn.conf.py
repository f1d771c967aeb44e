"""Gunicorn settings for the web process: bind $PORT, WEB_CONCURRENCY workers, timeouts under the router's."""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Sync workers: each request is a few milliseconds of CPU plus one Redis transaction.
worker_class = "sync"
# Heroku's router gives up after 30 s and Shopify after 5 s; never hold a request longer than that.
timeout = 20
graceful_timeout = 15
keepalive = 5
# Shopify webhook bodies are small; refuse absurd header sections early.
limit_request_field_size = 8190
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
