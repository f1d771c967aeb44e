"""Ask Shopify whether a shop's stored Admin token still works: the only proof that an uninstall is real."""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugin.errors import (
    AdminAPIError,
    AdminForbidden,
    AdminUnauthorized,
    ReauthorizationRequired,
    TransientError,
)

if TYPE_CHECKING:
    from plugin.services import Services

# The cheapest question a token can answer (cost 1, no scope needed).
SHOP_ID_QUERY = "query ShopId { shop { id } }"


def token_refused(services: Services, shop: str) -> bool:
    """True when Shopify refuses the shop's stored token, False when it still works.

    Refused means 401 or 403 (an OAuth shop's token is refreshed once first) or a refresh refused
    as a dead grant. Any other failure raises TransientError: no answer is not a refusal.
    ShopNotInstalled when the app holds no token to ask with.
    """
    try:
        services.admin_client(shop).execute(SHOP_ID_QUERY)
    except (AdminUnauthorized, AdminForbidden, ReauthorizationRequired):
        return True
    except AdminAPIError as exc:
        # A 404, a 402 or an unreadable answer says nothing about the grant: ask again later
        # rather than let it destroy (or keep) anything.
        raise TransientError(f"could not confirm the token of {shop} with Shopify: {exc}") from exc
    return False
