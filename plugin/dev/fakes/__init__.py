"""Local HTTP fakes of the Gelato, Printful and Printify APIs and the Shopify Admin API for end-to-end tests."""

from .gelato import FakeGelato
from .printful import FakePrintful
from .printify import FakePrintify
from .shopify import FakeShopify, oauth_hmac, order_gid, sign

__all__ = ["FakeGelato", "FakePrintful", "FakePrintify", "FakeShopify", "oauth_hmac", "order_gid", "sign"]
