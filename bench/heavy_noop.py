"""A no-op job in a module that imports the Flask app: what a forking worker re-imports per job."""

import plugin  # noqa: F401  (the import is the point: it is what a forked child pays for)


def noop(shop: str = "", order_id: str = "") -> None:
    """Return at once."""
    return None
