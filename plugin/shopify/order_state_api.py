"""Admin GraphQL read of one store order's print-relevant state: the source of truth a job acts on.

A webhook only triggers a job; its headers are unsigned and its body may be a replay. So before a
job cancels or changes a print order it reads the order here, and acts on what Shopify says now.
The job's own arguments carry ids and timestamps only: the address and item names are read here,
when the job runs, and never sit in Redis.

Fields: Shopify GraphQL Admin API `Order` (`legacyResourceId`, `updatedAt`, `cancelledAt`,
`shippingAddress` as `MailingAddress`, `lineItems` with `quantity` and `currentQuantity`),
https://shopify.dev/docs/api/admin-graphql/latest/objects/Order. Requested cost: docs/admin-queries.md.
"""

from __future__ import annotations

from plugin.errors import AdminAPIError, InvalidOrder
from plugin.orders.ids import id_of_gid, parse_id
from plugin.shopify.admin_api import AdminClient

ORDER_PRINT_STATE = """
query OrderPrintState($id: ID!, $after: String) {
  order(id: $id) {
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
    lineItems(first: 100, after: $after) {
      nodes {
        id
        name
        quantity
        currentQuantity
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
}
"""

# An order with more line items than this is read page by page; no print order has more.
MAX_LINE_ITEM_PAGES = 50


def read_order_payload(client: AdminClient, gid: str) -> dict | None:
    """The order as a webhook-shaped (REST field names) payload, every line item included; None if Shopify has no such order."""
    nodes: list[dict] = []
    after = None
    for _page in range(MAX_LINE_ITEM_PAGES):
        order = client.execute(ORDER_PRINT_STATE, {"id": gid, "after": after}).get("order")
        if order is None:
            return None
        if not isinstance(order, dict):
            raise AdminAPIError(f"order {gid} in {client.shop}: answer is not an order")
        line_items = order.get("lineItems") or {}
        nodes.extend(line_items.get("nodes") or ())
        page = line_items.get("pageInfo") or {}
        if not page.get("hasNextPage"):
            return rest_payload(order, nodes)
        after = page.get("endCursor")
    raise AdminAPIError(f"order {gid} in {client.shop}: more than {MAX_LINE_ITEM_PAGES * 100} line items")


def rest_payload(node: dict, line_items: list[dict]) -> dict:
    """A GraphQL order in the shape of an orders/updated webhook payload (the fields the app reads)."""
    address = node.get("shippingAddress")
    try:
        return {
            "id": parse_id(node["legacyResourceId"], "legacyResourceId"),
            "admin_graphql_api_id": node["id"],
            "name": node.get("name"),
            "updated_at": node["updatedAt"],
            "cancelled_at": node.get("cancelledAt"),
            "shipping_address": None
            if address is None
            else {
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
                    "id": id_of_gid(item["id"], "lineItems.id"),
                    "name": item.get("name"),
                    "quantity": item.get("quantity"),
                    "current_quantity": item.get("currentQuantity"),
                }
                for item in line_items
            ],
        }
    except (KeyError, TypeError, ValueError, AttributeError, InvalidOrder) as exc:
        raise AdminAPIError(f"order {node.get('id')!r}: answer lacks a field the app reads ({exc})") from exc
