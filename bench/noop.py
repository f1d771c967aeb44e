"""A job that does nothing: the baseline for the worker's per-job cost."""


def noop(shop: str = "", order_id: str = "") -> None:
    """Return at once."""
    return None
