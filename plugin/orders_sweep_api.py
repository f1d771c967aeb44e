"""Admin GraphQL query for reconciliation: orders updated since a time, as webhook-shaped payloads."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

from .admin_api import AdminClient
from .errors import AdminAPIError

ORDERS_UPDATED_SINCE = """
query OrdersUpdatedSince($first: Int!, $after: String, $query: String!) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    edges {
      cursor
      node {
        id
        legacyResourceId
        name
        updatedAt
        cancelledAt
        shippingAddress {
          firstName
          lastName
          name
          company
          address1
          address2
          city
          zip
          provinceCode
          countryCodeV2
          phone
        }
        lineItems(first: 100) {
          nodes {
            id
            name
            quantity
            currentQuantity
          }
        }
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
"""

PAGE_SIZE = 25  # orders per page: with 100 line items each, well under the query cost limit


def updated_since_query(since: datetime) -> str:
    """The orders search syntax for "updated after since" (a variable value, never part of the document)."""
    return f"updated_at:>'{since.astimezone(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}'"


def orders_updated_since(client: AdminClient, since: datetime, limit: int) -> Iterator[dict]:
    """Yield up to limit orders updated after since, oldest update first, as REST-shaped payloads."""
    after = None
    yielded = 0
    while yielded < limit:
        variables = {"first": min(PAGE_SIZE, limit - yielded), "after": after, "query": updated_since_query(since)}
        connection = client.execute(ORDERS_UPDATED_SINCE, variables).get("orders")
        if not isinstance(connection, dict):
            raise AdminAPIError(f"orders query for {client.shop}: no orders connection in the answer")
        for edge in connection.get("edges") or ():
            yield rest_payload(edge["node"])
            yielded += 1
        page = connection.get("pageInfo") or {}
        if not page.get("hasNextPage"):
            return
        after = page.get("endCursor")


def rest_payload(node: dict) -> dict:
    """A GraphQL order in the shape of an orders/updated webhook payload (the fields the app reads)."""
    address = node.get("shippingAddress")
    return {
        "id": int(node["legacyResourceId"]),
        "admin_graphql_api_id": node["id"],
        "name": node.get("name"),
        "updated_at": node["updatedAt"],
        "cancelled_at": node.get("cancelledAt"),
        "shipping_address": None if address is None else {
            "first_name": address.get("firstName"),
            "last_name": address.get("lastName"),
            "name": address.get("name"),
            "company": address.get("company"),
            "address1": address.get("address1"),
            "address2": address.get("address2"),
            "city": address.get("city"),
            "zip": address.get("zip"),
            "province_code": address.get("provinceCode"),
            "country_code": address.get("countryCodeV2"),
            "phone": address.get("phone"),
        },
        "line_items": [
            {
                "id": int(item["id"].rsplit("/", 1)[-1]),
                "name": item.get("name"),
                "quantity": item.get("quantity"),
                "current_quantity": item.get("currentQuantity"),
            }
            for item in ((node.get("lineItems") or {}).get("nodes") or ())
        ],
    }
