"""`python3 manage.py run`: web and worker on this machine, with embedded Redis and SQLite by default."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from . import create_app
from .migrate import upgrade

DEFAULT_PORT = "5000"


def _processes(env: dict) -> dict[str, list[str]]:
    python = sys.executable
    return {
        "web": [python, "-m", "gunicorn", "-c", "gunicorn.conf.py", "plugin:create_app()"],
        "worker": [python, "-m", "flask", "--app", "plugin", "worker"],
    }


def main() -> int:
    """Migrate, start the shared Redis, then run web and worker until Ctrl-C."""
    app = create_app()
    upgrade(app.extensions["database"].url)
    env = dict(os.environ)
    env.setdefault("PORT", DEFAULT_PORT)
    # Both processes must use the same Redis: pass the resolved (possibly embedded) URL down.
    env["REDIS_URL"] = app.config["RESOLVED_REDIS_URL"]
    env.setdefault("APP_URL", f"http://127.0.0.1:{env['PORT']}")
    children = {name: subprocess.Popen(command, env=env) for name, command in _processes(env).items()}
    print(f"print-order mirror running: web on {env['APP_URL']} (webhooks at /webhooks, health at /healthz), "
          "worker draining the queue. Ctrl-C stops both.", flush=True)
    try:
        while all(child.poll() is None for child in children.values()):
            time.sleep(0.5)
        failed = [name for name, child in children.items() if child.poll() is not None]
        print(f"{', '.join(failed)} exited; stopping", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children.values():
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()


if __name__ == "__main__":
    sys.exit(main())
