"""`python3 manage.py run`: web and worker on this machine (embedded Redis, SQLite); sandbox mode without credentials."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time

import requests

from plugin import create_app
from plugin.dev.sandbox import (
    PROVIDER_FAKES,
    SANDBOX_FOLDER,
    Sandbox,
    SandboxRefused,
    banner,
    real_setup,
    require_no_real_setup,
)
from plugin.store.db import SQLITE_FILENAME
from plugin.store.migrate import upgrade
from plugin.store.secrets_store import APP_SECRETS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_PORT = 5000
GUNICORN_CONF = os.path.join(ROOT, "gunicorn.conf.py")
STARTUP_SECONDS = 60.0
STOP_SECONDS = 15.0


def _processes(port: int) -> dict[str, list[str]]:
    """The Procfile's web and worker, bound to this machine only."""
    python = sys.executable
    return {
        # --bind overrides gunicorn.conf.py's 0.0.0.0: a local run is not for the network.
        "web": [python, "-m", "gunicorn", "-c", GUNICORN_CONF, "--bind", f"127.0.0.1:{port}", "plugin:create_app()"],
        "worker": [python, "-m", "flask", "--app", "plugin", "worker"],
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options of `manage.py run`."""
    parser = argparse.ArgumentParser(prog="manage.py run", description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--sandbox", action="store_true", help="force sandbox mode (refused when credentials are set)")
    mode.add_argument("--no-sandbox", action="store_true", help="never sandbox mode, even without credentials")
    mode.add_argument(
        "--demo-only",
        action="store_true",
        help="sandbox mode: run the demo, print the table and exit (status 1 if an outcome is unexpected)",
    )
    parser.add_argument("--port", type=int, default=None, help=f"web port (default $PORT or {DEFAULT_PORT}; 0 picks a free one)")
    parser.add_argument(
        "--provider",
        choices=tuple(PROVIDER_FAKES),
        default="gelato",
        help="sandbox mode: the print provider to simulate (default gelato)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Choose real or sandbox mode, then run web and worker until Ctrl-C."""
    args = parse_args(argv)
    # A platform or a test stops us with SIGTERM: shut the children down as Ctrl-C would.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    environ = dict(os.environ)
    instance_path = os.path.abspath(environ.get("INSTANCE_PATH") or os.path.join(ROOT, "instance"))
    reasons = real_setup(environ, instance_path)
    if wants_sandbox(args, reasons):
        try:
            require_no_real_setup(environ, instance_path)
            return run_sandbox(args, environ, os.path.join(instance_path, SANDBOX_FOLDER))
        except SandboxRefused as exc:
            print(str(exc), file=sys.stderr)
            return 2
    if reasons:
        print(f"real mode ({'; '.join(reasons)})", flush=True)
    return run_real(args, environ)


def wants_sandbox(args: argparse.Namespace, reasons: list[str]) -> bool:
    """Sandbox when asked for (refused later if anything real is set), or by default when nothing real is."""
    return args.sandbox or args.demo_only or (not args.no_sandbox and not reasons)


def run_real(args: argparse.Namespace, environ: dict) -> int:
    """Migrate, share the (possibly embedded) Redis, then run web and worker with the terminal's output."""
    app = create_app()
    upgrade(app.extensions["database"].url)
    port = _port(args, environ, fallback=False)
    env = dict(environ)
    # Both processes must use the same Redis: pass the resolved (possibly embedded) URL down.
    env["REDIS_URL"] = app.config["RESOLVED_REDIS_URL"]
    _share_app_secrets(env, app)
    env["PORT"] = str(port)
    env.setdefault("APP_URL", f"http://127.0.0.1:{port}")
    children = {name: subprocess.Popen(command, env=env, cwd=ROOT) for name, command in _processes(port).items()}
    print(
        f"print-order mirror running: web on {env['APP_URL']} (webhooks at /webhooks, health at /healthz, "
        "metrics at /metrics), worker draining the queue. Ctrl-C stops both.",
        flush=True,
    )
    try:
        return _serve(children)
    finally:
        _stop(children)
        _close(app)


def run_sandbox(args: argparse.Namespace, environ: dict, instance_path: str) -> int:
    """Sandbox: fakes on local ports, a sandbox shop, the demo, then serve until Ctrl-C (or exit with --demo-only)."""
    print(banner(), flush=True)
    _reset_storage(instance_path)
    # The sandbox's own SQLite and embedded Redis: never DATABASE_URL or REDIS_URL.
    app = create_app({"INSTANCE_PATH": instance_path, "DATABASE_URL": "", "REDIS_URL": ""})
    connection = app.extensions["redis"]
    connection.flushdb()  # this Redis belongs to the sandbox folder alone: start from nothing
    upgrade(app.extensions["database"].url)
    port = _port(args, environ, fallback=True)
    app_url = f"http://127.0.0.1:{port}"
    sandbox = Sandbox(instance_path, args.provider).start()
    children: dict[str, subprocess.Popen] = {}
    logs = {name: os.path.join(instance_path, f"{name}.log") for name in ("web", "worker")}
    try:
        env = sandbox.process_env(environ, app_url=app_url, redis_url=app.config["RESOLVED_REDIS_URL"], port=port)
        _share_app_secrets(env, app)
        print(f"simulated store  {sandbox.store.url}/{sandbox.shop}/admin/api/…/graphql.json")
        print(f"simulated {sandbox.provider.title()} {sandbox.fake.url}")
        print(f"starting web on {app_url} and the worker (logs: {logs['web']}, {logs['worker']}) …", flush=True)
        for name, command in _processes(port).items():
            with open(logs[name], "wb") as log:
                children[name] = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        _install_shop(sandbox, env)
        if sandbox.provider != "gelato":
            _connect_provider(sandbox, env)
        _wait_until_healthy(app_url, children, logs)
        from plugin.dev.sandbox_demo import Demo, render

        print("demo: sending signed webhooks to /webhooks; the worker mirrors them to the simulated Gelato …", flush=True)
        results = Demo(sandbox, app_url, connection).run()
        print()
        print(render(results), flush=True)
        unexpected = [r for r in results if r.problems]
        if args.demo_only:
            return 1 if unexpected else 0
        print()
        print(_where_to_look(app_url, instance_path, sandbox), flush=True)
        return _serve(children)
    finally:
        _stop(children)
        sandbox.stop()
        # The sandbox's Redis holds nothing worth keeping (the next start empties it): stop it now
        # rather than rely on the last process to leave, which a lingering RQ scheduler may not be.
        connection.shutdown(nosave=True)
        _close(app)


def _share_app_secrets(env: dict, app) -> None:
    """Give the children this process's SECRET_KEY and TOKEN_ENCRYPTION_KEY (perhaps generated under instance/)."""
    # The children get REDIS_URL (the embedded Redis), so they count as serving real shops and
    # would refuse to generate secrets of their own.
    for name in APP_SECRETS:
        env[name] = app.config[name]


def _install_shop(sandbox: Sandbox, env: dict) -> None:
    """Install the sandbox shop through the real `flask --app plugin shops add` (token via the environment)."""
    _run_flask(["shops", "add", sandbox.shop], {**env, "SHOPIFY_ADMIN_TOKEN": sandbox.shop_token}, "installing the sandbox shop")


def _connect_provider(sandbox: Sandbox, env: dict) -> None:
    """Connect the sandbox shop's simulated account through the real `flask --app plugin shops connect` (live check)."""
    args = ["shops", "connect", sandbox.shop, "--provider", sandbox.provider]
    if sandbox.store_id:
        args += ["--store-id", sandbox.store_id]
    env = {**env, "PROVIDER_API_KEY": sandbox.provider_key}
    _run_flask(args, env, f"connecting the sandbox shop to {sandbox.provider}")


def _run_flask(args: list[str], env: dict, what: str) -> None:
    """Run one `flask --app plugin …` command as an operator would; print its lines, stop the sandbox if it fails."""
    completed = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "plugin", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=STARTUP_SECONDS,
    )
    if completed.returncode != 0:
        raise SystemExit(f"{what} failed:\n{completed.stdout}{completed.stderr}")
    for line in completed.stdout.strip().splitlines():
        print(f"{' '.join(args[:2])}: {line}")


def _wait_until_healthy(app_url: str, children: dict, logs: dict) -> None:
    """Poll /healthz until the web process answers 200; stop early if a process died."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        dead = [name for name, child in children.items() if child.poll() is not None]
        if dead:
            raise SystemExit(f"{', '.join(dead)} exited during startup:\n" + _tail(logs[dead[0]]))
        try:
            if requests.get(app_url + "/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise SystemExit(f"web did not answer {app_url}/healthz within {STARTUP_SECONDS:.0f} s:\n" + _tail(logs["web"]))


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _shown(path: str) -> str:
    """path relative to the current folder when it lies inside it, else absolute."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _where_to_look(app_url: str, instance_path: str, sandbox: Sandbox) -> str:
    """The block printed after the demo: where to see what the app did."""
    flask = f"INSTANCE_PATH={_shown(instance_path)} {_shown(os.path.dirname(sys.executable))}/flask --app plugin"
    folder = _shown(instance_path)
    places = (
        (f"{app_url}/app?shop={sandbox.shop}", "the admin page a merchant sees inside Shopify (open it in a browser)"),
        (
            f"  Connect: {sandbox.provider}, key {sandbox.merchant_key}"
            + (f", store id {sandbox.merchant_store_id}" if sandbox.merchant_store_id else ""),
            f"a simulated {sandbox.provider.title()} account that accepts it (any other key is refused)",
        ),
        (f"{app_url}/healthz", "Redis and database checks"),
        (f"{app_url}/metrics", "webhooks by topic and result, jobs by outcome, queue depth, webhook→Gelato time"),
        (f"{flask} activity", "every decision, as a table (--shop, --order, --since)"),
        (f"{flask} jobs failed", "jobs that failed for good (none expected here)"),
        (f"{folder}/web.log, {folder}/worker.log", "one JSON line per webhook and per job outcome"),
    )
    width = max(len(place) for place, _ in places)
    lines = [f"  {place:<{width}}  {what}" for place, what in places]
    return "\n".join(["Where to look (the sandbox keeps serving; Ctrl-C stops everything):", *lines])


def _serve(children: dict[str, subprocess.Popen]) -> int:
    """Wait until Ctrl-C (0) or until a process exits (1)."""
    try:
        while all(child.poll() is None for child in children.values()):
            time.sleep(0.5)
        failed = [name for name, child in children.items() if child.poll() is not None]
        print(f"{', '.join(failed)} exited; stopping", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


def _stop(children: dict[str, subprocess.Popen]) -> None:
    """SIGTERM every child, then SIGKILL what lingers."""
    for child in children.values():
        if child.poll() is None:
            child.terminate()
    for child in children.values():
        try:
            child.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _close(app) -> None:
    """Drop this process's connections: the embedded Redis stops at exit once nobody else is connected."""
    app.extensions["redis"].close()
    app.extensions["database"].dispose()


def _port(args: argparse.Namespace, environ: dict, *, fallback: bool) -> int:
    """--port, else $PORT, else 5000; in the sandbox a busy default port falls back to a free one."""
    if args.port is not None:
        return args.port or _free_port()
    if environ.get("PORT", "").strip():
        return int(environ["PORT"])
    if fallback and not _port_is_free(DEFAULT_PORT):
        return _free_port()
    return DEFAULT_PORT


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _reset_storage(instance_path: str) -> None:
    """Drop the previous sandbox run's database: the simulated services start empty every time."""
    os.makedirs(instance_path, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        path = os.path.join(instance_path, SQLITE_FILENAME + suffix)
        if os.path.exists(path):
            os.remove(path)


def _tail(path: str, lines: int = 30) -> str:
    try:
        with open(path, errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except FileNotFoundError:
        return ""


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
