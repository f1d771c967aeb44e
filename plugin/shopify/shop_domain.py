"""Validation of shop domains, done before any URL is built from one."""

from __future__ import annotations

import re

from plugin.errors import InvalidShopDomain

# fullmatch, not match-with-$: "$" would let "shop.myshopify.com\n" through.
_SHOP_DOMAIN = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9\-_]*\.myshopify\.com")
_MAX_LENGTH = 255


def is_valid_shop_domain(value: object) -> bool:
    """True when value is exactly name.myshopify.com (no port, path, scheme or suffix)."""
    return isinstance(value, str) and len(value) <= _MAX_LENGTH and _SHOP_DOMAIN.fullmatch(value) is not None


def require_shop_domain(value: object) -> str:
    """Return the shop domain in lower case, or raise InvalidShopDomain."""
    if not is_valid_shop_domain(value):
        raise InvalidShopDomain(f"not a *.myshopify.com shop domain: {str(value)[:80]!r}")
    return value.lower()  # type: ignore[union-attr]


def admin_base_url(template: str, shop: str) -> str:
    """The shop's admin base URL from the SHOPIFY_ADMIN_URL template, e.g. https://{shop}."""
    return template.rstrip("/").replace("{shop}", require_shop_domain(shop))
