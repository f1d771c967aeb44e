"""Start and stop the Procfile's processes (and the bare baseline) for a benchmark run."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def procfile() -> dict[str, str]:
    """name → command from the Procfile."""
    with open(os.path.join(ROOT, "Procfile")) as handle:
        return {name.strip(): command.strip() for name, command in (line.split(":", 1) for line in handle if ":" in line)}


def environment(extra: dict) -> dict:
    """The current environment plus extra, the venv's bin first on PATH."""
    env = dict(os.environ)
    env.update({key: str(value) for key, value in extra.items()})
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def start(command: str, env: dict, log_path: str) -> subprocess.Popen:
    """Start a shell command line in its own process group, output to log_path."""
    log = open(log_path, "ab")
    return subprocess.Popen(["/bin/sh", "-c", f"exec {command}"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


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


def stop(process: subprocess.Popen) -> None:
    """SIGTERM the process group, SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
