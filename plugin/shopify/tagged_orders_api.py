"""Admin GraphQL query for the admin page: the store orders carrying a given tag (those that need the merchant)."""

from __future__ import annotations

from dataclasses import dataclass

from plugin.errors import AdminAPIError, InvalidOrder
from plugin.orders.ids import parse_id
from plugin.shopify.admin_api import AdminClient

ORDERS_TAGGED = """
query OrdersTagged($first: Int!, $query: String!) {
  orders(first: $first, query: $query, sortKey: UPDATED_AT, reverse: true) {
    nodes {
      id
      legacyResourceId
      name
      tags
    }
  }
}
"""

# The page lists the newest orders that need action; more than this is a backlog the merchant
# handles from the order list filtered by tag anyway.
PAGE_SIZE = 25


@dataclass(frozen=True)
class TaggedOrder:
    """A store order as the page lists it: numeric id, name and tags."""

    id: str
    name: str
    tags: tuple[str, ...]


def orders_tagged(client: AdminClient, tag: str) -> list[TaggedOrder]:
    """The newest orders carrying tag (Shopify's order search `tag:`, the value passed as a variable)."""
    # The search syntax quotes the value; tags are the app's own constants, never merchant input.
    data = client.execute(ORDERS_TAGGED, {"first": PAGE_SIZE, "query": f'tag:"{tag}"'})
    orders = []
    for node in (data.get("orders") or {}).get("nodes") or ():
        try:
            order_id = parse_id(node.get("legacyResourceId"))
        except InvalidOrder as exc:
            raise AdminAPIError(f"OrdersTagged: an order without a usable id ({exc})") from exc
        tags = node.get("tags") or []
        orders.append(TaggedOrder(order_id, str(node.get("name") or ""), tuple(str(t) for t in tags)))
    return orders
