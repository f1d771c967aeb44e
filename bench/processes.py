"""Start the Procfile's web process (or the bare baseline) for a benchmark run; the rest is the tests'."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import requests

from plugin.dev.procfile import procfile_commands as procfile
from plugin.dev.procfile import start_command as start
from plugin.dev.procfile import stop
from plugin.dev.redis_server import free_port

__all__ = ["environment", "procfile", "start", "stop", "web"]


def environment(extra: dict) -> dict:
    """The current environment plus extra, the venv's bin first on PATH."""
    env = dict(os.environ)
    env.update({key: str(value) for key, value in extra.items()})
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def web(app_spec: str, env: dict, log_path: str) -> tuple[subprocess.Popen, str]:
    """gunicorn with the Procfile's config serving app_spec; returns (process, base URL) once healthy."""
    port = free_port()
    env = dict(env, PORT=str(port))
    command = procfile()["web"].replace('"plugin:create_app()"', f'"{app_spec}"')
    process = start(command, env, log_path)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/healthz", timeout=1).status_code == 200:
                return process, url
        except requests.RequestException:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.1)
    stop(process)
    raise RuntimeError(f"web process did not become healthy; see {log_path}")
