"""Shared state of FakeShopify: constants, helpers, per-shop state, the clock, shops, tokens and orders."""

from __future__ import annotations

import copy
import re
import secrets
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from graphql import GraphQLError

DATA_DIR = Path(__file__).resolve().parent / "data"
SAMPLE_ORDER_PATH = DATA_DIR / "shopify-order-webhook.json"

DEFAULT_API_VERSION = "2026-10"
# Shopify ids exceed 2^53 (9007199254740992); start above it so float-rounding bugs show up.
FIRST_ORDER_ID = 820982911946154508
FIRST_LINE_ITEM_ID = 487817672276298554
FIRST_SUBSCRIPTION_ID = 1047897672
# The shop's timezone: REST payloads carry local offsets (like the sample), GraphQL uses UTC.
SHOP_TZ = timezone(timedelta(hours=-5))
BUCKET_MAX = 2000.0
NOT_FOUND_BODY = {"errors": "Not Found"}
DEFAULT_LINE_ITEMS = (
    {"name": "Classic Poster - 50x70 cm", "title": "Classic Poster", "variant_title": "50x70 cm", "sku": "POSTER-50X70"},
    {"name": "Organic T-shirt - M / White", "title": "Organic T-shirt", "variant_title": "M / White", "sku": "TSHIRT-M-WHT"},
)
DEFAULT_SHIPPING_ADDRESS = {
    "first_name": "Steve",
    "last_name": "Shipper",
    "company": "Shipping Company",
    "address1": "123 Shipping Street",
    "address2": None,
    "city": "Shippington",
    "zip": "40003",
    "province": "Kentucky",
    "province_code": "KY",
    "country": "United States",
    "country_code": "US",
    "phone": "555-555-SHIP",
}
_COUNTRY_NAMES = {"US": "United States", "CA": "Canada", "GB": "United Kingdom", "DE": "Germany", "FR": "France"}
_GID = re.compile(r"^gid://shopify/(?P<type>\w+)/(?P<id>\d+)(?:\?.*)?$")
_ORDER_FIELDS = frozenset(
    {
        "note",
        "tags",
        "cancelled_at",
        "cancel_reason",
        "closed_at",
        "line_items",
        "shipping_address",
        "name",
        "email",
        "display_fulfillment_status",
        "financial_status",
        "test",
        "custom_attributes",
    }
)


def order_gid(order_id: int) -> str:
    """The GraphQL global id of a REST order id."""
    return f"gid://shopify/Order/{int(order_id)}"


def _utc_iso(ts: float | None) -> str | None:
    """GraphQL DateTime format: UTC with a Z suffix, whole seconds."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rest_iso(ts: float | None) -> str | None:
    """REST/webhook format: the shop's local time with its offset, e.g. 2021-12-31T19:00:00-05:00."""
    if ts is None:
        return None
    return datetime.fromtimestamp(int(ts), SHOP_TZ).isoformat()


def _to_ts(value: Any) -> float | None:
    """Accept None, epoch seconds, datetime or ISO 8601 text; return epoch seconds."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    raise TypeError(f"not a timestamp: {value!r}")


def _version_at_least(version: str, minimum: str) -> bool:
    """Compare Admin API versions (YYYY-MM; 'unstable' is newest)."""
    return version == "unstable" or version >= minimum


def _parse_gid(value: Any) -> tuple[str, int]:
    """Split gid://shopify/Type/123 into ("Type", 123) or raise a GraphQL error like Shopify."""
    match = _GID.match(str(value))
    if not match:
        raise GraphQLError(f"Invalid global id '{value}'", extensions={"code": "argumentLiteralsIncompatible"})
    return match["type"], int(match["id"])


def _split_tags(tags: str | Iterable[str]) -> list[str]:
    """Shopify splits tag strings on commas and trims them; empty and duplicate tags are dropped."""
    if isinstance(tags, str):
        tags = [tags]
    out: list[str] = []
    for tag in tags:
        for part in str(tag).split(","):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return out


class _Shop:
    """State of one installed shop."""

    def __init__(self, domain: str):
        """Start with no tokens, orders or subscriptions."""
        self.domain = domain
        self.name = domain.split(".")[0].replace("-", " ").title()
        self.tokens: dict[str, dict] = {}  # access token -> {expires_at, expiring, scope}
        self.refresh_tokens: dict[str, tuple[float, str]] = {}  # refresh token -> (expires_at, scope)
        self.orders: dict[int, dict] = {}
        self.subscriptions: dict[int, dict] = {}
        self.next_order_number = 1001
        self.bucket = BUCKET_MAX
        self.bucket_time = time.monotonic()


class _Context:
    """Per-request GraphQL context: which shop, which API version, which orders changed."""

    def __init__(self, shop: _Shop, version: str):
        """Bind the request's shop and version."""
        self.shop = shop
        self.version = version
        self.changed_orders: list[int] = []


class ShopStore:
    """FakeShopify's clock, shops, tokens and orders (mixed into FakeShopify)."""

    # -- clock -----------------------------------------------------------------------------

    def now(self) -> float:
        """The fake's current time in epoch seconds (wall clock plus clock_offset)."""
        return time.time() + self.clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Move the fake's clock forward (e.g. past a token's expiry)."""
        with self._lock:
            self.clock_offset += seconds

    def _stamp(self) -> int:
        """A whole-second timestamp strictly greater than every earlier one (updated_at ordering)."""
        with self._lock:
            self._last_stamp = max(int(self.now()), self._last_stamp + 1)
            return self._last_stamp

    def _next_id(self, kind: str) -> int:
        """Next id of a kind; ids never repeat within one fake, even across reset()."""
        with self._lock:
            value = self._ids[kind]
            self._ids[kind] += 1
            return value

    # -- shops and tokens ------------------------------------------------------------------

    def add_shop(self, shop: str, token: str | None = None) -> str:
        """Install the app on `shop` with a fixed (custom-app) admin token; returns the token."""
        with self._lock:
            state = self._shops.setdefault(shop, _Shop(shop))
            token = token or f"shpat_{secrets.token_hex(16)}"
            state.tokens[token] = {"expires_at": None, "expiring": False, "scope": "read_orders,write_orders"}
            return token

    def shops(self) -> list[str]:
        """Domains of all known shops."""
        with self._lock:
            return list(self._shops)

    def access_tokens(self, shop: str) -> list[str]:
        """Access tokens of `shop` that are valid right now."""
        with self._lock:
            state = self._shop(shop)
            return [t for t in state.tokens if self._token_valid(state, t)]

    def expire_access_token(self, shop: str) -> None:
        """Make every access token of `shop` expired (the next GraphQL call answers 401)."""
        with self._lock:
            for info in self._shop(shop).tokens.values():
                info["expires_at"] = self.now() - 1

    def revoke_refresh_token(self, shop: str) -> None:
        """Invalidate every refresh token of `shop` (refreshing answers 400)."""
        with self._lock:
            self._shop(shop).refresh_tokens.clear()

    def uninstall(self, shop: str) -> None:
        """Simulate an uninstall: all tokens and webhook subscriptions of `shop` are gone."""
        with self._lock:
            state = self._shop(shop)
            state.tokens.clear()
            state.refresh_tokens.clear()
            state.subscriptions.clear()

    def _shop(self, shop: str) -> _Shop:
        """The shop's state or KeyError."""
        try:
            return self._shops[shop]
        except KeyError:
            raise KeyError(f"unknown shop {shop!r}; call add_shop() first") from None

    def _token_valid(self, state: _Shop, token: str | None) -> bool:
        """True when `token` belongs to the shop and has not expired."""
        info = state.tokens.get(token or "")
        return info is not None and (info["expires_at"] is None or info["expires_at"] > self.now())

    # -- orders ----------------------------------------------------------------------------

    def add_order(
        self,
        shop: str,
        note: str | None = None,
        tags: Iterable[str] = (),
        line_items: Iterable[dict] | None = None,
        shipping_address: dict | None = None,
        cancelled: bool = False,
        order_id: int | None = None,
        email: str = "jon@example.com",
        custom_attributes: Iterable[dict] = (),
    ) -> int:
        """Seed an order on `shop` and return its REST id (an int above 2^53)."""
        with self._lock:
            state = self._shop(shop)
            order_id = int(order_id) if order_id is not None else self._next_id("order")
            if order_id in state.orders:
                raise ValueError(f"order {order_id} already exists on {shop}")
            stamp = self._stamp()
            specs = list(line_items) if line_items is not None else [dict(d) for d in DEFAULT_LINE_ITEMS]
            order = {
                "id": order_id,
                "name": f"#{state.next_order_number}",
                "email": email,
                "note": note,
                "tags": _split_tags(tags),
                "test": False,
                "created_at": stamp,
                "processed_at": stamp,
                "updated_at": stamp,
                "cancelled_at": stamp if cancelled else None,
                "cancel_reason": "customer" if cancelled else None,
                "closed_at": None,
                "display_fulfillment_status": "UNFULFILLED",
                "financial_status": "voided" if cancelled else "paid",
                "custom_attributes": [dict(a) for a in custom_attributes],
                "line_items": [self._line_item(spec, i) for i, spec in enumerate(specs)],
                # shipping_address=False seeds an order without one (e.g. a digital-only order).
                "shipping_address": None
                if shipping_address is False
                else self._address(shipping_address or {}, DEFAULT_SHIPPING_ADDRESS),
            }
            state.next_order_number += 1
            state.orders[order_id] = order
            return order_id

    def order(self, shop: str, order_id: int) -> dict:
        """A copy of the order: REST field names, tags as a list, timestamps as ISO text."""
        with self._lock:
            return self._public_order(self._order(shop, order_id))

    def orders(self, shop: str) -> list[dict]:
        """Copies of every order of `shop`, oldest first."""
        with self._lock:
            return [self._public_order(o) for o in self._shop(shop).orders.values()]

    def set_order(self, shop: str, order_id: int, **changes) -> dict:
        """Change order fields (note, tags, cancelled_at, line_items, shipping_address, ...); bumps updated_at."""
        unknown = set(changes) - _ORDER_FIELDS
        if unknown:
            raise TypeError(f"unknown order fields: {sorted(unknown)}")
        with self._lock:
            order = self._order(shop, order_id)
            for key, value in changes.items():
                if key == "tags":
                    value = _split_tags(value)
                elif key in ("cancelled_at", "closed_at"):
                    value = _to_ts(value)
                elif key == "line_items":
                    value = [self._line_item(spec, i) for i, spec in enumerate(value)]
                elif key == "shipping_address":
                    # Merge onto the current address so a test can change one field at a time.
                    value = None if value is None else self._address(value, order["shipping_address"] or {})
                order[key] = value
            order["updated_at"] = self._stamp()
            return self._public_order(order)

    def set_line_item(self, shop: str, order_id: int, line_item_id: int, **changes) -> dict:
        """Change one line item (e.g. current_quantity=0 for a removed item); bumps updated_at."""
        with self._lock:
            order = self._order(shop, order_id)
            item = next((li for li in order["line_items"] if li["id"] == int(line_item_id)), None)
            if item is None:
                raise KeyError(f"order {order_id} has no line item {line_item_id}")
            unknown = set(changes) - set(item)
            if unknown:
                raise TypeError(f"unknown line item fields: {sorted(unknown)}")
            item.update(changes)
            order["updated_at"] = self._stamp()
            return self._public_order(order)

    def cancel_order(self, shop: str, order_id: int, reason: str = "customer") -> dict:
        """Cancel the order as a merchant would: sets cancelled_at and cancel_reason, bumps updated_at."""
        with self._lock:
            order = self._order(shop, order_id)
            stamp = self._stamp()
            order["cancelled_at"] = stamp
            order["cancel_reason"] = reason
            order["financial_status"] = "voided"
            order["updated_at"] = stamp
            return self._public_order(order)

    def order_payload(self, shop: str, order_id: int) -> dict:
        """The REST order JSON that orders/updated and orders/cancelled webhooks carry for this order."""
        with self._lock:
            order = self._order(shop, order_id)
            payload = copy.deepcopy(self._sample)
            number = int(order["name"].lstrip("#")) if order["name"].lstrip("#").isdigit() else payload["order_number"]
            cancelled = order["cancelled_at"] is not None
            payload.update(
                {
                    "id": order["id"],
                    "admin_graphql_api_id": order_gid(order["id"]),
                    "name": order["name"],
                    "number": number - 1000,
                    "order_number": number,
                    "email": order["email"],
                    "contact_email": order["email"],
                    "note": order["note"] or None,
                    "note_attributes": [{"name": a["key"], "value": a.get("value")} for a in order["custom_attributes"]],
                    "tags": ", ".join(order["tags"]),
                    "test": order["test"],
                    "created_at": _rest_iso(order["created_at"]),
                    "processed_at": _rest_iso(order["processed_at"]),
                    "updated_at": _rest_iso(order["updated_at"]),
                    "cancelled_at": _rest_iso(order["cancelled_at"]),
                    "cancel_reason": order["cancel_reason"] if cancelled else None,
                    "closed_at": _rest_iso(order["closed_at"]),
                    "financial_status": order["financial_status"],
                    "fulfillment_status": {"FULFILLED": "fulfilled", "PARTIALLY_FULFILLED": "partial"}.get(
                        order["display_fulfillment_status"]
                    ),
                    "line_items": [self._rest_line_item(li) for li in order["line_items"]],
                    "shipping_address": self._rest_address(order["shipping_address"]),
                    # The sample's refunds/fulfillments reference the sample's own line items.
                    "refunds": [],
                    "fulfillments": [],
                    "returns": [],
                }
            )
            return payload

    def _order(self, shop: str, order_id: int) -> dict:
        """The stored order or KeyError."""
        state = self._shop(shop)
        try:
            return state.orders[int(order_id)]
        except KeyError:
            raise KeyError(f"unknown order {order_id} on {shop}") from None

    def _line_item(self, spec: dict, index: int) -> dict:
        """A stored line item from a partial spec (missing fields get defaults, ids above 2^53)."""
        default = DEFAULT_LINE_ITEMS[index % len(DEFAULT_LINE_ITEMS)]
        quantity = int(spec.get("quantity", 1))
        name = spec.get("name", default["name"])
        return {
            "id": int(spec.get("id") or self._next_id("line_item")),
            "name": name,
            "title": spec.get("title", name if "name" in spec else default["title"]),
            "variant_title": spec.get("variant_title", None if "name" in spec else default["variant_title"]),
            "sku": spec.get("sku", default["sku"]),
            "quantity": quantity,
            "current_quantity": int(spec.get("current_quantity", quantity)),
            "fulfilled_quantity": int(spec.get("fulfilled_quantity", 0)),
            "requires_shipping": bool(spec.get("requires_shipping", True)),
            "properties": list(spec.get("properties", [])),
        }

    @staticmethod
    def _address(spec: dict, base: dict) -> dict:
        """A REST-style address: `spec` over `base`, with the derived `name`."""
        address = {**DEFAULT_SHIPPING_ADDRESS, **base, **spec}
        if "country_code" in spec and "country" not in spec:
            address["country"] = _COUNTRY_NAMES.get(spec["country_code"], spec["country_code"])
        if "province_code" in spec and "province" not in spec:
            address["province"] = spec["province_code"]
        address["name"] = " ".join(p for p in (address.get("first_name"), address.get("last_name")) if p)
        return address

    def _public_order(self, order: dict) -> dict:
        """The Python-facing copy of a stored order."""
        public = copy.deepcopy(order)
        for key in ("created_at", "processed_at", "updated_at", "cancelled_at", "closed_at"):
            public[key] = _rest_iso(order[key])
        public["admin_graphql_api_id"] = order_gid(order["id"])
        return public

    def _rest_line_item(self, item: dict) -> dict:
        """A webhook line item: the sample's fields with this item's ids and quantities."""
        rest = copy.deepcopy(self._sample["line_items"][0])
        unfulfilled = max(0, item["current_quantity"] - item["fulfilled_quantity"])
        status = None if item["fulfilled_quantity"] == 0 else ("fulfilled" if unfulfilled == 0 else "partial")
        rest.update(
            {
                "id": item["id"],
                "admin_graphql_api_id": f"gid://shopify/LineItem/{item['id']}",
                "attributed_staffs": [],
                "name": item["name"],
                "title": item["title"],
                "variant_title": item["variant_title"],
                "sku": item["sku"],
                "quantity": item["quantity"],
                "current_quantity": item["current_quantity"],
                "fulfillable_quantity": unfulfilled,
                "fulfillment_status": status,
                "requires_shipping": item["requires_shipping"],
                "properties": copy.deepcopy(item["properties"]),
            }
        )
        return rest

    @staticmethod
    def _rest_address(address: dict | None) -> dict | None:
        """A webhook shipping address (REST field names)."""
        if address is None:
            return None
        fields = (
            "first_name",
            "last_name",
            "name",
            "company",
            "address1",
            "address2",
            "city",
            "zip",
            "province",
            "province_code",
            "country",
            "country_code",
            "phone",
        )
        rest = {key: address.get(key) for key in fields}
        rest.update({"latitude": None, "longitude": None})
        return rest
