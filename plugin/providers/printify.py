"""Printify API client (placeholder while it is written; not registered as done)."""

from __future__ import annotations

import requests


class PrintifyClient:
    """Talks to the Printify API with a bearer token."""

    name = "printify"

    def __init__(
        self, base_url: str, api_key: str, session: requests.Session, timeout: tuple[float, float], store_id: str | None = None
    ):
        raise NotImplementedError("the Printify client is being written")
