"""Access to the app's services from inside a job, in any worker."""

from __future__ import annotations

import threading

from flask import has_app_context
from flask.cli import ScriptInfo

from plugin.services import Services, get_services

# The app a plain `rq worker` loads, found as `flask --app plugin` finds it (the Procfile's worker,
# `flask --app plugin worker`, runs jobs inside its app context and never needs this).
APP_IMPORT_PATH = "plugin"
_lock = threading.Lock()
_app = None


def services() -> Services:
    """The Services of the current app; outside an app context, of an app built once per process."""
    global _app
    if not has_app_context():
        with _lock:
            if _app is None:
                # A plain `rq worker` has no app context: build the app once, never per job. Loaded
                # by name, like RQ loads the jobs, so jobs/ does not import the factory that imports it.
                _app = ScriptInfo(app_import_path=APP_IMPORT_PATH).load_app()
                _app.app_context().push()
    return get_services()
