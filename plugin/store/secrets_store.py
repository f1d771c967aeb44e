"""The app's own secrets: required from the environment in production; generated local fallbacks
(under instance/) so a fresh checkout runs without configuration."""

from __future__ import annotations

import logging
import os
import secrets
import sys
from collections.abc import Mapping

from plugin.config import load_config
from plugin.errors import ConfigurationError

log = logging.getLogger(__name__)

# The app's own secrets, which every process must share: SECRET_KEY (Flask) and the key of tokens at rest.
APP_SECRETS = ("SECRET_KEY", "TOKEN_ENCRYPTION_KEY")
# Heroku sets DYNO in every dyno (web, worker, release, one-off).
PLATFORM_VARIABLE = "DYNO"
# gunicorn's WORKER_BOOT_ERROR: a web worker exiting with it makes the gunicorn master stop (status 3)
# instead of starting new workers that would refuse again; `flask` exits with it as well.
REFUSED_EXIT_STATUS = 3


def production_reasons(config: Mapping, environ: Mapping[str, str]) -> list[str]:
    """Why this process serves real shops (shared database or Redis, or a Heroku dyno); [] when local."""
    reasons = [f"{name} is set" for name in ("DATABASE_URL", "REDIS_URL") if str(config.get(name) or "").strip()]
    if PLATFORM_VARIABLE in environ:
        reasons.append(f"{PLATFORM_VARIABLE} is set")
    return reasons


def require_app_secrets(config: Mapping, environ: Mapping[str, str]) -> None:
    """Raise ConfigurationError naming each missing app secret when this process serves real shops."""
    reasons = production_reasons(config, environ)
    missing = [name for name in APP_SECRETS if not str(config.get(name) or "").strip()]
    if not reasons or not missing:
        return
    # A key generated per process (and per dyno: their disks are not shared) would leave the worker
    # unable to read tokens the web process stored, and change at every restart.
    raise ConfigurationError(
        f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set, and this process serves real "
        f"shops ({', '.join(reasons)}): set {' and '.join(missing)} in the environment, the same value for "
        "web and worker; a generated per-process key is only for local runs"
    )


def require_local_sandbox(config: Mapping, environ: Mapping[str, str]) -> None:
    """Raise ConfigurationError when SANDBOX_SHOP is set where real shops are served (a database or a dyno)."""
    if not str(config.get("SANDBOX_SHOP") or "").strip():
        return
    # Not REDIS_URL: the sandbox passes its embedded Redis that way. A database or a dyno is never the sandbox.
    reasons = [reason for reason in production_reasons(config, environ) if not reason.startswith("REDIS_URL")]
    if reasons:
        raise ConfigurationError(
            f"SANDBOX_SHOP is set ({', '.join(reasons)}): it lets anyone open the admin page as that shop and is only"
            " for `python3 manage.py run` in sandbox mode; unset it"
        )


def refuse_without_app_secrets() -> None:
    """Before any app is built (e.g. gunicorn's on_starting hook): exit with one line if a secret is missing."""
    try:
        require_app_secrets(load_config(), os.environ)
    except ConfigurationError as exc:
        refuse_to_start(exc)


def refuse_to_start(error: Exception) -> None:
    """Stop the process with one line on stderr (no traceback): a web or worker that cannot run correctly."""
    print(f"print-order mirror refuses to start: {error}", file=sys.stderr, flush=True)
    raise SystemExit(REFUSED_EXIT_STATUS)


def local_secret(instance_path: str, filename: str, make) -> str:
    """Read instance/<filename>, creating it (mode 0600) with make() the first time."""
    path = os.path.join(instance_path, filename)
    try:
        with open(path) as handle:
            return handle.read().strip()
    except FileNotFoundError:
        pass
    os.makedirs(instance_path, exist_ok=True)
    value = make()
    # O_EXCL: when web and worker start together, exactly one writes and both read the same value.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(path) as handle:
            return handle.read().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    log.warning("generated %s for local use; set the variable in production", path)
    return value


def random_secret() -> str:
    """A random URL-safe secret."""
    return secrets.token_urlsafe(32)
