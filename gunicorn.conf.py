"""Gunicorn settings for the web process: bind $PORT, WEB_CONCURRENCY workers, timeouts under the router's."""

import os

# Heroku routes to $PORT on all interfaces; `manage.py run` overrides this with 127.0.0.1.
bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
# Heroku sets WEB_CONCURRENCY from the dyno's memory; 2 elsewhere.
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
