"""Local fallbacks for the app's own secrets, so a fresh checkout runs without configuration."""

from __future__ import annotations

import logging
import os
import secrets

log = logging.getLogger(__name__)


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
