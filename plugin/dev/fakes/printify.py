"""FakePrintify: a local HTTP fake of the Printify API v1 (shops and orders) with test controls.

Modelled on Printify's public API reference, https://developers.printify.com/ (V1: authentication by
`Authorization: Bearer <token>`; `GET /v1/shops.json`; `GET /v1/shops/{shop_id}/orders.json` with `page`,
`limit` (at most 10), `status` and `sku`, answered as a Laravel-style page; `GET .../orders/{id}.json`;
`POST .../orders/{id}/cancel.json`, accepted only while the order is "on-hold" or "payment-not-received").
Several Printify accounts live in one fake, each owning shops: the default one (FakePrintify(api_key=...),
which owns `default_shop_id`) and any added with add_account(api_key, store_ids). Every order belongs to one
shop. A token sees only its own account's shops: another account's shop answers 403 (the reference: "API
credentials that don't have access to that resource"), and an order of another shop answers 404.

The fake's own choices where the reference is silent: error bodies all take the shape of the one documented
error (`{"status": "error", "code", "message", "errors": {"reason", "code"}}`); a refused cancel answers 400;
the list is newest first; orders carry the sales channel's reference in `metadata.shop_order_id` (an integer
when it is all digits, as for a sales-channel order) and `metadata.shop_order_label`, and no `external_id`.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from ._common import Call, FakeService, json_response, run_hooks

DEFAULT_SHOP_ID = "1234567"
# Printify accepts POST .../cancel.json only from these statuses; any other answers the refusal below.
CANCELLABLE_STATUSES = frozenset({"on-hold", "payment-not-received"})
# The earliest status an order can be cancelled from: what add_order seeds by default.
DEFAULT_STATUS = "on-hold"
REFUSAL_STATUS = 400
MAX_LIST_LIMIT = 10  # the reference: "Results per page (default: 10, maximum: 10)"
DEFAULT_LIST_LIMIT = 10
# The line-item status that goes with an order status (the reference lists fewer item statuses).
_ITEM_STATUS = {
    "payment-not-received": "on-hold",
    "had-issues": "has-issues",
    "partially-fulfilled": "in-production",
}
_SENT_STATUSES = frozenset({"sending-to-production", "in-production", "fulfilled", "partially-fulfilled"})
DEFAULT_ADDRESS = {
    "first_name": "John",
    "last_name": "Smith",
    "email": "example@msn.com",
    "phone": "0574 69 21 90",
    "country": "BE",
    "region": "",
    "address1": "ExampleBaan 121",
    "address2": "45",
    "city": "Retie",
    "zip": "2470",
    "company": "MSN",
}
DEFAULT_LINE_ITEM = {
    "product_id": "5b05842f3921c9547531758d",
    "variant_id": 17887,
    "quantity": 1,
    "print_provider_id": 5,
    "cost": 1050,
    "shipping_cost": 400,
    "metadata": {
        "title": "18K gold plated Necklace",
        "price": 2200,
        "variant_label": "Golden indigocoin",
        "sku": "168699843",
        "country": "United States",
    },
}


class _ApiError(Exception):
    """An error answer in the shape of Printify's documented error example."""

    def __init__(self, status: int, message: str, reason: str | None = None):
        """Keep the HTTP status, the message and the reason."""
        super().__init__(message)
        self.status, self.message, self.reason = status, message, reason or message

    def response(self) -> Response:
        """Render as `{"status": "error", "code", "message", "errors": {"reason", "code"}}`."""
        body = {
            "status": "error",
            "code": self.status,
            "message": self.message,
            "errors": {"reason": self.reason, "code": self.status},
        }
        return json_response(body, self.status)


def _now() -> str:
    """Current time in Printify's timestamp format ("2017-04-18 13:24:28+00:00")."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S+00:00")


def _new_order_id() -> str:
    """A 24-hex-digit id like Printify's."""
    return uuid.uuid4().hex[:24]


class FakePrintify(FakeService):
    """Fake Printify API v1 served over real HTTP on 127.0.0.1."""

    def __init__(self, api_key: str = "test-printify-key"):
        """Create an empty, unstarted fake whose default account answers to the token api_key and owns default_shop_id."""
        super().__init__()
        self.api_key = api_key
        self.default_shop_id = DEFAULT_SHOP_ID
        # Accounts added with add_account, by token. The default account is None throughout, so a test
        # that changes `api_key` keeps its shops and orders.
        self._accounts: set[str] = set()
        self._shop_owner: dict[str, str | None] = {}  # shop id → its account
        self._shop_titles: dict[str, str] = {}
        self._orders: dict[str, dict] = {}  # insertion order == creation order
        self._order_shop: dict[str, str] = {}  # order id → its shop
        self._add_default_shop()
        self._routes = Map(
            [
                Rule("/v1/shops.json", methods=["GET"], endpoint="shops"),
                Rule("/v1/shops/<shop_id>/orders.json", methods=["GET"], endpoint="list"),
                Rule("/v1/shops/<shop_id>/orders/<order_id>.json", methods=["GET"], endpoint="get"),
                Rule("/v1/shops/<shop_id>/orders/<order_id>/cancel.json", methods=["POST"], endpoint="cancel"),
            ],
            strict_slashes=False,
        )

    # -- seeding and inspection ------------------------------------------------------------

    def add_account(self, api_key: str, store_ids: Iterable[str] = ()) -> None:
        """Add another merchant's account, answering to the token api_key and owning the shop ids store_ids."""
        stores = list(store_ids)
        with self._lock:
            if not api_key or api_key == self.api_key or api_key in self._accounts:
                raise ValueError("an account with that API key already exists (or the key is empty)")
            for shop_id in stores:
                self._check_new_shop(shop_id)
            self._accounts.add(api_key)
            for shop_id in stores:
                self._shop_owner[shop_id] = api_key
                self._shop_titles[shop_id] = f"Shop {shop_id}"

    def add_shop(self, shop_id: str, api_key: str | None = None, title: str | None = None) -> None:
        """Give an account (None: the default one) one more shop."""
        with self._lock:
            account = self._account_named(api_key)
            self._check_new_shop(shop_id)
            self._shop_owner[shop_id] = account
            self._shop_titles[shop_id] = title or f"Shop {shop_id}"

    def add_order(
        self,
        reference_id: str,
        status: str | None = None,
        items: Iterable[dict] | None = None,
        api_key: str | None = None,
        store_id: str | None = None,
        order_id: str | None = None,
        label: str | None = None,
        order_type: str = "external",
        address_to: dict | None = None,
    ) -> str:
        """Seed an order filed under reference_id (status default "on-hold") and return its id.

        The reference becomes `metadata.shop_order_id` (an integer when all digits) and, unless label is
        given, `metadata.shop_order_label`. store_id is the shop (default: the account's first shop);
        api_key names the account (None: the default one), which must own that shop.
        """
        with self._lock:
            account = self._account_named(api_key)
            shop_id = store_id if store_id is not None else self._first_shop(account)
            if self._shop_owner.get(shop_id, "no such shop") != account:
                raise ValueError(f"shop {shop_id} is not a shop of that account")
            order_id = order_id or _new_order_id()
            if order_id in self._orders:
                raise ValueError(f"order {order_id} already exists")
            shop_order_id: Any = int(reference_id) if reference_id.isdigit() else reference_id
            line_items = [self._build_item(item) for item in (list(items) if items is not None else [{}])]
            order = {
                "id": order_id,
                "address_to": dict(DEFAULT_ADDRESS if address_to is None else address_to),
                "line_items": line_items,
                "metadata": {
                    "order_type": order_type,
                    "shop_order_id": shop_order_id,
                    "shop_order_label": label if label is not None else reference_id,
                    "shop_fulfilled_at": "1970-01-01 00:00:00+00:00",
                },
                "total_price": sum(i["metadata"].get("price", 0) * i["quantity"] for i in line_items),
                "total_shipping": sum(i["shipping_cost"] for i in line_items),
                "total_tax": 0,
                "status": DEFAULT_STATUS,
                "shipping_method": 1,
                "is_printify_express": False,
                "is_economy_shipping": False,
                "shipments": [],
                "created_at": _now(),
            }
            self._apply_status(order, status or DEFAULT_STATUS)
            self._orders[order_id] = order
            self._order_shop[order_id] = shop_id
            return order_id

    def add_split_order(
        self,
        reference_id: str,
        statuses: Iterable[str] = (DEFAULT_STATUS, DEFAULT_STATUS),
        items: list[list[dict]] | None = None,
        api_key: str | None = None,
        store_id: str | None = None,
        **kwargs,
    ) -> list[str]:
        """Seed one store order split into several orders under one reference (as the Express endpoint makes); return their ids."""
        statuses = list(statuses)
        if not statuses:
            raise ValueError("statuses must not be empty")
        if items is not None and len(items) != len(statuses):
            raise ValueError("items must hold one list of items per status")
        with self._lock:
            return [
                self.add_order(
                    reference_id,
                    status=status,
                    items=None if items is None else items[index],
                    api_key=api_key,
                    store_id=store_id,
                    **kwargs,
                )
                for index, status in enumerate(statuses)
            ]

    def set_status(self, order_id: str, status: str) -> None:
        """Set an order's status and its line items' (simulates production progress)."""
        with self._lock:
            self._apply_status(self._get(order_id), status)

    def order(self, order_id: str) -> dict:
        """A deep copy of the order as the API shows it (raises KeyError if unknown)."""
        with self._lock:
            return copy.deepcopy(self._get(order_id))

    def status_of(self, order_id: str) -> str:
        """The order's status (raises KeyError if unknown)."""
        with self._lock:
            return self._get(order_id)["status"]

    def shop_of(self, order_id: str) -> str:
        """The shop id holding the order (raises KeyError if unknown)."""
        with self._lock:
            self._get(order_id)
            return self._order_shop[order_id]

    def calls_with_key(self, api_key: str, method: str | None = None, path_regex: str | None = None) -> list[Call]:
        """Recorded calls that carried `Authorization: Bearer <api_key>`, filtered like calls_matching."""
        return [c for c in self.calls_matching(method, path_regex) if c.headers.get("Authorization") == f"Bearer {api_key}"]

    def tokens_seen(self) -> set[str | None]:
        """Every bearer token the fake received (None for a request without one)."""
        with self._lock:
            return {_bearer(c.headers.get("Authorization")) for c in self.calls}

    # -- fault injection and hooks ---------------------------------------------------------

    def reset(self) -> None:
        """Forget added accounts and shops, all orders, faults, hooks, latency and recorded calls."""
        with self._lock:
            self._reset_common()
            self._accounts.clear()
            self._shop_owner.clear()
            self._shop_titles.clear()
            self._orders.clear()
            self._order_shop.clear()
            self._add_default_shop()

    def _default_fault_body(self, status: int) -> Any:
        """Printify-shaped error body for injected failures."""
        return {"status": "error", "code": status, "message": f"Injected failure ({status})"}

    # -- request handling ------------------------------------------------------------------

    def _handle(self, request: Request, call: Call) -> Response:
        """Authenticate, route, run hooks and dispatch to the endpoint of the token's account."""
        try:
            account = self._authenticate(request.headers.get("Authorization"))
        except _ApiError as exc:
            return exc.response()
        adapter = self._routes.bind("127.0.0.1")
        try:
            endpoint, args = adapter.match(request.path, method=request.method)
        except MethodNotAllowed:
            return _ApiError(405, f"{request.method} not allowed on {request.path}").response()
        except NotFound:
            return _ApiError(404, "Not found", f"No route for {request.path}").response()
        except HTTPException as exc:
            return _ApiError(exc.code or 400, str(exc)).response()
        run_hooks(self._hooks, self._lock, request.method, request.path, call)
        try:
            with self._lock:
                return getattr(self, f"_ep_{endpoint}")(request=request, account=account, **args)
        except _ApiError as exc:
            return exc.response()

    def _authenticate(self, header: str | None) -> str | None:
        """The account a request's bearer token opens (None: the default account); 401 for any other."""
        token = _bearer(header)
        with self._lock:
            if token and token == self.api_key:
                return None
            if token and token in self._accounts:
                return token
        raise _ApiError(401, "Unauthenticated.", "Missing or invalid access token (Authorization: Bearer)")

    def _ep_shops(self, request: Request, account: str | None) -> Response:
        """GET /v1/shops.json: the account's shops."""
        shops = [
            {
                "id": int(shop_id) if shop_id.isdigit() else shop_id,
                "title": self._shop_titles[shop_id],
                "sales_channel": "shopify",
            }
            for shop_id, owner in self._shop_owner.items()
            if owner == account
        ]
        return json_response(shops)

    def _ep_list(self, request: Request, account: str | None, shop_id: str) -> Response:
        """GET /v1/shops/{shop_id}/orders.json: the shop's orders, newest first, one page."""
        self._check_shop(shop_id, account)
        limit = self._int_param(request, "limit", DEFAULT_LIST_LIMIT)
        page = self._int_param(request, "page", 1)
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise _ApiError(422, "Validation failed.", f"limit must be between 1 and {MAX_LIST_LIMIT}")
        if page < 1:
            raise _ApiError(422, "Validation failed.", "page must be at least 1")
        status, sku = request.args.get("status"), request.args.get("sku")
        orders = [
            order
            for order_id, order in reversed(self._orders.items())
            if self._order_shop[order_id] == shop_id
            and (status is None or order["status"] == status)
            and (sku is None or any(i["metadata"].get("sku") == sku for i in order["line_items"]))
        ]
        total = len(orders)
        last_page = max(1, -(-total // limit))
        start = (page - 1) * limit
        data = [copy.deepcopy(order) for order in orders[start : start + limit]]
        return json_response(
            {
                "current_page": page,
                "data": data,
                "first_page_url": "/?page=1",
                "from": start + 1 if data else None,
                "last_page": last_page,
                "last_page_url": f"/?page={last_page}",
                "next_page_url": f"/?page={page + 1}" if page < last_page else None,
                "path": "/",
                "per_page": limit,
                "prev_page_url": f"/?page={page - 1}" if page > 1 else None,
                "to": start + len(data) if data else None,
                "total": total,
            }
        )

    def _ep_get(self, request: Request, account: str | None, shop_id: str, order_id: str) -> Response:
        """GET /v1/shops/{shop_id}/orders/{order_id}.json: the order."""
        return json_response(copy.deepcopy(self._order_in(shop_id, order_id, account)))

    def _ep_cancel(self, request: Request, account: str | None, shop_id: str, order_id: str) -> Response:
        """POST .../orders/{order_id}/cancel.json: cancel while on-hold or payment-not-received, else refuse."""
        order = self._order_in(shop_id, order_id, account)
        if order["status"] not in CANCELLABLE_STATUSES:
            raise _ApiError(
                REFUSAL_STATUS,
                "Order can't be canceled.",
                f"Only orders with status on-hold or payment-not-received can be canceled; this one is {order['status']}",
            )
        self._apply_status(order, "canceled")
        return json_response(copy.deepcopy(order))

    # -- internals -------------------------------------------------------------------------

    def _add_default_shop(self) -> None:
        self._shop_owner[self.default_shop_id] = None
        self._shop_titles[self.default_shop_id] = "My new store"

    def _check_new_shop(self, shop_id: str) -> None:
        if not isinstance(shop_id, str) or not shop_id:
            raise ValueError("shop ids must be non-empty strings")
        if shop_id in self._shop_owner:
            raise ValueError(f"shop {shop_id} already exists")

    def _first_shop(self, account: str | None) -> str:
        for shop_id, owner in self._shop_owner.items():
            if owner == account:
                return shop_id
        raise ValueError("that account has no shop; pass store_ids to add_account")

    def _account_named(self, api_key: str | None) -> str | None:
        """The account a Python-side control names (None or the default key: the default account)."""
        if api_key is None or api_key == self.api_key:
            return None
        if api_key not in self._accounts:
            raise ValueError("no account has that API key; add it with add_account first")
        return api_key

    def _check_shop(self, shop_id: str, account: str | None) -> None:
        """403 unless the shop is the account's (another account's shop and an unknown one alike)."""
        if shop_id not in self._shop_owner or self._shop_owner[shop_id] != account:
            raise _ApiError(403, "Forbidden", f"This token has no access to shop {shop_id}")

    def _order_in(self, shop_id: str, order_id: str, account: str | None) -> dict:
        """The shop's order, or 404 (an order of another shop answers like a missing one)."""
        self._check_shop(shop_id, account)
        order = self._orders.get(order_id)
        if order is None or self._order_shop[order_id] != shop_id:
            raise _ApiError(404, "Not found", f"Order {order_id} not found")
        return order

    def _get(self, order_id: str) -> dict:
        try:
            return self._orders[order_id]
        except KeyError:
            raise KeyError(f"unknown Printify order {order_id!r}") from None

    @staticmethod
    def _int_param(request: Request, name: str, default: int) -> int:
        raw = request.args.get(name)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise _ApiError(422, "Validation failed.", f"{name} must be an integer") from None

    @staticmethod
    def _build_item(item: dict) -> dict:
        built = copy.deepcopy(DEFAULT_LINE_ITEM)
        built.update(copy.deepcopy(item))
        built.setdefault("status", DEFAULT_STATUS)
        return built

    @staticmethod
    def _apply_status(order: dict, status: str) -> None:
        """Set the order's status, its items' statuses and the production timestamps and shipments that go with it."""
        order["status"] = status
        item_status = _ITEM_STATUS.get(status, status)
        now = _now()
        for index, item in enumerate(order["line_items"]):
            # A partially fulfilled order has its first item shipped and the rest still in production.
            item["status"] = "fulfilled" if status == "partially-fulfilled" and index == 0 else item_status
            if status in _SENT_STATUSES:
                item.setdefault("sent_to_production_at", now)
            if item["status"] == "fulfilled":
                item.setdefault("fulfilled_at", now)
        if status in _SENT_STATUSES:
            order.setdefault("sent_to_production_at", now)
        if status in ("fulfilled", "partially-fulfilled") and not order["shipments"]:
            order["shipments"] = [
                {
                    "carrier": "usps",
                    "number": "94001116990045395649372",
                    "url": "http://example.com/94001116990045395649372",
                    "delivered_at": None,
                }
            ]
        if status == "fulfilled":
            order.setdefault("fulfilled_at", now)


def _bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
