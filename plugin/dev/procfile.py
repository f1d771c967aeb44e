"""Start the Procfile's processes as subprocesses, the way Heroku (and the acceptance suite) does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def procfile_commands() -> dict[str, str]:
    """name → command line, read from the Procfile."""
    commands = {}
    with open(os.path.join(ROOT, "Procfile")) as handle:
        for line in handle:
            if ":" in line and not line.lstrip().startswith("#"):
                name, command = line.split(":", 1)
                commands[name.strip()] = command.strip()
    return commands


def process_env(app_config: dict, **extra) -> dict:
    """An environment carrying the app's configuration, with the venv's bin first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHOPIFY_", "GELATO_"))}
    names = (
        "SHOPIFY_API_KEY",
        "SHOPIFY_API_SECRET",
        "SHOPIFY_ADMIN_URL",
        "GELATO_API_URL",
        "GELATO_API_KEY",
        "REDIS_URL",
        "DATABASE_URL",
        "SECRET_KEY",
        "TOKEN_ENCRYPTION_KEY",
        "RETRY_INTERVALS",
        "APP_URL",
        "RECONCILE_INTERVAL",
    )
    env.update({name: str(app_config[name]) for name in names if app_config.get(name) not in (None, "")})
    env.update({k: str(v) for k, v in extra.items()})
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start(name: str, env: dict, log_path: str) -> subprocess.Popen:
    """Start the Procfile process `name` (shell-expanded like Heroku does) with output to log_path."""
    return start_command(procfile_commands()[name], env, log_path)


def start_command(command: str, env: dict, log_path: str) -> subprocess.Popen:
    """Start a command line through the shell, in its own process group, with output to log_path."""
    log = open(log_path, "ab")
    return subprocess.Popen(
        ["/bin/sh", "-c", f"exec {command}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen, timeout: float = 15) -> int:
    """SIGTERM (Heroku's stop), then SIGKILL if it lingers; returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
    return process.returncode


def wait_until(predicate, timeout: float, interval: float = 0.05):
    """Poll predicate until it returns a truthy value or timeout passes; return the last value."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value
