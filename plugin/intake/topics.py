"""The topics the webhook door handles, built explicitly from each area's routes (no import side effects)."""

from __future__ import annotations

from plugin.intake import app_topics, order_topics
from plugin.intake.registry import Route, TopicRegistry

# What Shopify delivers to POST /webhooks.
registry = TopicRegistry.of(*order_topics.ROUTES, *app_topics.ROUTES)
# What the reconciliation sweep feeds through the same door; never reachable over HTTP.
SWEEP_TOPIC = order_topics.SWEEP_TOPIC
sweep_registry = TopicRegistry.of(Route(SWEEP_TOPIC, order_topics.order_found_by_sweep))
