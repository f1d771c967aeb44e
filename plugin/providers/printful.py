"""Printful API client (placeholder while it is written; not registered as done)."""

from __future__ import annotations

import requests


class PrintfulClient:
    """Talks to the Printful API with a bearer token."""

    name = "printful"

    def __init__(
        self, base_url: str, api_key: str, session: requests.Session, timeout: tuple[float, float], store_id: str | None = None
    ):
        raise NotImplementedError("the Printful client is being written")
