"""Sandbox only: a local stand-in for App Bridge that mints ID tokens for the one sandbox shop (no Shopify admin around it)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify

from plugin.shopify.shop_domain import is_valid_shop_domain

bp = Blueprint("sandbox_bridge", __name__)

APP_BRIDGE_PATH = "/app/dev/app-bridge.js"
ID_TOKEN_PATH = "/app/dev/id-token"
_SCRIPT = "admin/app-bridge-sandbox.js"


@bp.get(APP_BRIDGE_PATH)
def app_bridge_script():
    """The stand-in script: window.shopify.idToken() fetches a token from ID_TOKEN_PATH."""
    _sandbox_shop()
    response = current_app.send_static_file(_SCRIPT)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get(ID_TOKEN_PATH)
def id_token():
    """A fresh ID token for SANDBOX_SHOP, signed with the app's secret as Shopify would sign it."""
    shop = _sandbox_shop()
    # Imported here: the fakes are development code that a production process never loads.
    from plugin.dev.fakes.shopify.id_tokens import mint_id_token

    config = current_app.config
    token = mint_id_token(shop, config["SHOPIFY_API_KEY"], config["SHOPIFY_API_SECRET"])
    response = jsonify(token=token)
    response.headers["Cache-Control"] = "no-store"
    return response


def _sandbox_shop() -> str:
    """SANDBOX_SHOP, or 404: a second guard should the blueprint ever be registered outside sandbox mode."""
    shop = current_app.config.get("SANDBOX_SHOP") or ""
    if not is_valid_shop_domain(shop):
        abort(404)
    return shop.lower()
