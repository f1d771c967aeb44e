"""Access to the app's services from inside a job, in any worker."""

from __future__ import annotations

import threading

from flask import has_app_context

from plugin.services import Services, get_services

_lock = threading.Lock()
_app = None


def services() -> Services:
    """The Services of the current app; outside an app context, of an app built once per process."""
    global _app
    if not has_app_context():
        with _lock:
            if _app is None:
                # A plain `rq worker` has no app context: build the app once, never per job.
                from plugin import create_app

                _app = create_app()
                _app.app_context().push()
    return get_services()
