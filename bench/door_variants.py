"""Ack benchmark only: the real door with parts of its work taken out, to show what each part costs.

Never imported by the app. Each factory patches the module state of the gunicorn worker process
that the benchmark starts for it, then builds the real app:

- without_job_build: everything as in production, but the job's writes are one RPUSH of the
  compact request (function, arguments, id), as an inbox that a worker turns into jobs would store;
- raw_inbox: the delivery is verified, parsed, checked against the installed mark and the dedupe
  marker, then stored as it came: no fingerprint, no guards, no job build.
"""

from __future__ import annotations

import orjson

import plugin.intake.enqueue
import plugin.intake.order_topics  # noqa: F401  (registers the routes patched below)
from plugin.intake.registry import JobRequest, Route
from plugin.intake.topics import registry

INBOX_KEY = "bench:inbox"


def without_job_build():
    """The real app whose door stores a compact request instead of RQ's job."""
    plugin.intake.enqueue._job_writes = _compact_request
    return _real_app()


def raw_inbox():
    """The real app whose door stores the parsed delivery without fingerprint, guards or job."""
    plugin.intake.enqueue._job_writes = _compact_request
    for topic, route in list(registry.routes.items()):
        registry.routes[topic] = Route(topic, _store_as_is, route.requires_installed_shop)
    return _real_app()


def _compact_request(_queue, _delivery, request: JobRequest, job_id: str, _job_options: dict) -> list[tuple]:
    return [("RPUSH", INBOX_KEY, orjson.dumps({"func": request.func, "kwargs": request.kwargs, "id": job_id}))]


def _store_as_is(delivery) -> JobRequest:
    return JobRequest(func="inbox", kwargs={"payload": delivery.payload})


def _real_app():
    from plugin import create_app

    return create_app()
