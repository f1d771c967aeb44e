"""The Shopify app. `create_app` builds it (plugin.app); the package itself stays light, so importing
one room (plugin.orders, plugin.shopify.shop_domain…) loads only what that room needs."""

from __future__ import annotations

import typing

if typing.TYPE_CHECKING:
    from flask import Flask


def create_app(test_config: dict | None = None) -> Flask:
    """Build the Flask app from the environment (and test_config overrides); see plugin.app."""
    from plugin.app import create_app as build

    return build(test_config)
