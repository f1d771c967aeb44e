"""The topic registry, filled by one handler module per area (orders, app lifecycle, privacy)."""

from __future__ import annotations

from .registry import TopicRegistry

registry = TopicRegistry()

# Each module registers its topics on import; import them all here so the registry is complete.
from . import app_topics, order_topics  # noqa: E402,F401
