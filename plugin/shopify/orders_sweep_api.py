"""Admin GraphQL query for reconciliation: which orders changed since a time (ids, update times, cancelled)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from plugin.errors import AdminAPIError, InvalidOrder
from plugin.orders.ids import parse_id
from plugin.shopify.admin_api import AdminClient

ORDERS_UPDATED_SINCE = """
query OrdersUpdatedSince($first: Int!, $after: String, $query: String!) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    edges {
      node {
        id
        legacyResourceId
        updatedAt
        cancelledAt
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
"""

# Only what decides whether a job is needed: each job reads its order in full when it runs. With
# addresses and line items this query cost 2,602 points and Shopify refused every sweep (the limit
# is 1,000 a query; docs/admin-queries.md lists each query's requested cost).
PAGE_SIZE = 100


@dataclass(frozen=True)
class OrderChange:
    """One order the sweep found: its numeric id, last update and whether it is cancelled."""

    order_id: str
    updated_at: datetime
    cancelled: bool


def updated_since_query(since: datetime) -> str:
    """The orders search syntax for "updated after since" (a variable value, never part of the document)."""
    return f"updated_at:>'{since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}'"


def orders_updated_since(client: AdminClient, since: datetime, limit: int) -> Iterator[OrderChange]:
    """Yield up to limit orders updated after since, oldest update first."""
    after = None
    yielded = 0
    while yielded < limit:
        variables = {"first": min(PAGE_SIZE, limit - yielded), "after": after, "query": updated_since_query(since)}
        connection = client.execute(ORDERS_UPDATED_SINCE, variables).get("orders")
        if not isinstance(connection, dict):
            raise AdminAPIError(f"orders query for {client.shop}: no orders connection in the answer")
        for edge in connection.get("edges") or ():
            yield _order_change(edge.get("node"), client.shop)
            yielded += 1
        page = connection.get("pageInfo") or {}
        if not page.get("hasNextPage"):
            return
        after = page.get("endCursor")


def _order_change(node: object, shop: str) -> OrderChange:
    try:
        order_id = parse_id(node["legacyResourceId"], "legacyResourceId")  # type: ignore[index]
        updated_at = datetime.fromisoformat(node["updatedAt"])  # type: ignore[index]
        cancelled = node.get("cancelledAt") is not None  # type: ignore[union-attr]
    except (KeyError, TypeError, ValueError, AttributeError, InvalidOrder) as exc:
        raise AdminAPIError(f"orders query for {shop}: an order lacks id or updatedAt ({exc})") from exc
    if updated_at.tzinfo is None:
        raise AdminAPIError(f"orders query for {shop}: updatedAt {node['updatedAt']!r} has no offset")  # type: ignore[index]
    return OrderChange(order_id, updated_at, cancelled)
