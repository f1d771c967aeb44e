"""Receiving Shopify webhooks: verification, deduplication, topic routing, enqueueing; nothing slow."""

from webhooks.views import bp

__all__ = ["bp"]
