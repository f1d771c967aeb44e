"""The embedded admin page: GET /app, the HTML shell Shopify frames inside the admin (its data comes from /app/api/)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from plugin.admin.sandbox_bridge import APP_BRIDGE_PATH
from plugin.logs import log_event
from plugin.providers.catalog import DISPLAY_NAMES, PROVIDERS, connect_form
from plugin.shopify.shop_domain import is_valid_shop_domain

bp = Blueprint("admin_page", __name__)

PAGE_PATH = "/app"
# Shopify's documented tags: App Bridge keeps itself current from this URL; polaris-1.js is the stable
# channel of Polaris web components (compatible updates only; a new major is an explicit change here).
APP_BRIDGE_URL = "https://cdn.shopify.com/shopifycloud/app-bridge.js"
POLARIS_URL = "https://cdn.shopify.com/shopifycloud/polaris-1.js"
SHOPIFY_CDN = "https://cdn.shopify.com"
# The unified admin frames apps from here; older admin URLs live on the shop's own domain.
ADMIN_ORIGIN = "https://admin.shopify.com"


@bp.get(PAGE_PATH)
def admin_page():
    """The page shell for a valid shop: App Bridge, Polaris, the four views; everything else is fetched with ID tokens."""
    shops = request.args.getlist("shop")
    # One shop, well formed: it is written into the CSP header, so nothing else may reach it.
    if len(shops) != 1 or not is_valid_shop_domain(shops[0]):
        log_event("admin_page", result="refused", reason="invalid shop domain")
        page = render_template(
            "error.html",
            title="Not a Shopify store address",
            message="Open this app from your Shopify admin (Apps → Print-order mirror): the link must name "
            "your store as your-store.myshopify.com.",
            stored=False,
        )
        return page, 400, _headers(None)
    shop = shops[0].lower()
    config = current_app.config
    # The sandbox has no Shopify admin around the page: its stand-in mints ID tokens for the sandbox shop.
    app_bridge = request.script_root + APP_BRIDGE_PATH if config.get("SANDBOX_SHOP") else APP_BRIDGE_URL
    page = render_template(
        "admin/app.html",
        api_key=config["SHOPIFY_API_KEY"],
        app_bridge_src=app_bridge,
        polaris_src=POLARIS_URL,
        api_base=request.script_root + PAGE_PATH + "/api",
        provider_names=DISPLAY_NAMES,
        provider_forms={name: connect_form(name) for name in PROVIDERS},
    )
    return page, 200, _headers(shop)


def content_security_policy(shop: str | None) -> str:
    """The page's CSP: framed only by the shop's admin and admin.shopify.com, scripts only from here and Shopify's CDN."""
    ancestors = f"https://{shop} {ADMIN_ORIGIN}" if shop else ADMIN_ORIGIN
    return "; ".join(
        (
            f"frame-ancestors {ancestors}",
            # No inline script: everything the page runs is a file under /static or on Shopify's CDN.
            f"script-src 'self' {SHOPIFY_CDN}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        )
    )


def _headers(shop: str | None) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(shop),
        # The page's URL carries Shopify's id_token: it must not be stored by a cache along the way.
        "Cache-Control": "no-store",
        # ... nor sent on as a Referer with the page's own requests.
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }
