#!/usr/bin/env python3
"""Two commands on a fresh machine with only Python 3.11+: `python3 manage.py run` and `python3 manage.py test`
(and `lint`: ruff and mypy, as CI runs them; `bench`: the benchmarks).

Standard library only: it creates .venv, installs the pinned requirements when they changed,
then hands over to the app (embedded Redis, SQLite) or to pytest.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import venv

ROOT = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(ROOT, ".venv")
PYTHON = os.path.join(VENV, "bin", "python")
REQUIREMENTS = os.path.join(ROOT, "requirements-dev.txt")
STAMP = os.path.join(VENV, ".requirements.sha256")
USAGE = (
    "usage: python3 manage.py run [--demo-only | --sandbox | --no-sandbox] [--port N] | test [pytest args…] | lint"
    " | bench [--help]"
)
# What `lint` runs, in order; each must pass (settings in pyproject.toml).
LINTERS = (("ruff", "check", "."), ("ruff", "format", "--check", "."), ("mypy",))


def _requirements_digest() -> str:
    digest = hashlib.sha256()
    for name in ("requirements.txt", "requirements-dev.txt"):
        with open(os.path.join(ROOT, name), "rb") as handle:
            digest.update(handle.read())
    return digest.hexdigest()


def ensure_environment() -> None:
    """Create .venv and install requirements unless they are already installed."""
    if sys.version_info < (3, 11):
        sys.exit(f"Python 3.11 or newer is required (this is {sys.version.split()[0]})")
    if not os.path.exists(PYTHON):
        print("creating .venv …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = _requirements_digest()
    try:
        with open(STAMP) as handle:
            if handle.read().strip() == wanted:
                return
    except FileNotFoundError:
        pass
    print("installing requirements into .venv …", flush=True)
    subprocess.run([PYTHON, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", REQUIREMENTS], check=True)
    with open(STAMP, "w") as handle:
        handle.write(wanted)


def main(argv: list[str]) -> int:
    """Dispatch to run, test, lint or bench."""
    if not argv or argv[0] not in ("run", "test", "lint", "bench"):
        print(USAGE, file=sys.stderr)
        return 2
    ensure_environment()
    os.chdir(ROOT)
    if argv[0] == "test":
        return subprocess.call([PYTHON, "-m", "pytest", *argv[1:]])
    if argv[0] == "lint":
        return max(subprocess.call([os.path.join(VENV, "bin", tool), *args]) for tool, *args in LINTERS)
    if argv[0] == "bench":
        return subprocess.call([PYTHON, "-m", "bench", *argv[1:]])
    return run_child([PYTHON, "-m", "plugin.dev.local", *argv[1:]])


def run_child(command: list[str]) -> int:
    """Run command to the end; Ctrl-C reaches it directly, so wait while it stops its own processes."""
    child = subprocess.Popen(command)
    # subprocess.call would kill the child 0.25 s after Ctrl-C, in the middle of its cleanup.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return child.wait()
    finally:
        signal.signal(signal.SIGINT, previous)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
