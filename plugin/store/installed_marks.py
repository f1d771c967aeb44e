"""Redis marks of installed shops, so the webhook door needs no database read per delivery."""

from __future__ import annotations

import redis

from plugin.store import keys

INSTALLED_KEY_PREFIX = keys.INSTALLED.prefix
# A mark is set after a database read shows the shop installed and is dropped on uninstall. The
# lifetime bounds how long a mark can outlive a change the app did not make itself (an operator
# editing the database); a job always reloads the shop, so a stale mark costs a job, never an action.
INSTALLED_MARK_TTL = 15 * 60


def installed_key(shop: str) -> str:
    """The key marking shop as installed."""
    return f"{INSTALLED_KEY_PREFIX}{shop}"


def forget_installed(connection: redis.Redis, shop: str) -> None:
    """Drop the shop's mark after it was uninstalled or removed; the next delivery reads the database."""
    connection.delete(installed_key(shop))
