"""The Shopify HTTP fake, split by concern: store (state), oauth, graphql, webhooks; fake composes them."""

from .fake import FakeShopify
from .graphql import MAX_PAGE_SIZE, MAX_QUERY_COST, requested_cost
from .oauth import oauth_hmac
from .store import SAMPLE_ORDER_PATH, order_gid
from .webhooks import sign

__all__ = [
    "MAX_PAGE_SIZE",
    "MAX_QUERY_COST",
    "SAMPLE_ORDER_PATH",
    "FakeShopify",
    "oauth_hmac",
    "order_gid",
    "requested_cost",
    "sign",
]
