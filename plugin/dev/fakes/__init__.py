"""Local HTTP fakes of the Gelato Order API and the Shopify Admin API for end-to-end tests."""

from .gelato import FakeGelato
from .shopify import FakeShopify, oauth_hmac, order_gid, sign

__all__ = ["FakeGelato", "FakeShopify", "oauth_hmac", "order_gid", "sign"]
