"""FakePrintful: a local HTTP fake of the Printful API (v1) orders endpoints with test controls.

Modelled on Printful's public API reference, https://developers.printful.com/docs/ ("Requests and
responses", "Authorization", "Orders API", "Errors"): bearer tokens; the `{"code", "result"}` envelope and
the `{"code", "result", "error": {"reason", "message"}}` error body; `GET /orders` (offset, limit ≤ 100,
status), `GET|DELETE|PUT /orders/{id}` by Printful id or `@{external_id}`; DELETE cancels a draft or a
pending order; PUT edits a draft or failed order (items named by id are updated, others deleted);
external ids unique within a store, so one reference is one order per store (no split orders).

Accounts as at Printful: the default token (FakePrintful(api_key=...)) is store-level, for store
DEFAULT_STORE_ID; add_account(api_key) adds another store-level token with a store of its own, and
add_account(api_key, store_ids=[...]) an account-level token over those stores, which must name one in
`X-PF-Store-Id`. A token sees only its stores: another store's order answers 404 like a missing one.

The fake's assumptions, where the docs are silent: DELETE of an order past `pending` (or already
canceled) answers 400 with the error body; an account-level token without X-PF-Store-Id answers 400; a
store id the token cannot use answers 403; the 401 messages; a malformed external id is looked up like
any other (and simply not found).
"""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Iterable
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import BaseConverter, Map, Rule
from werkzeug.wrappers import Request, Response

from ._common import Call, FakeService, json_response, run_hooks

DEFAULT_STORE_ID = 10
# Documented: DELETE "Cancels pending order or draft"; PUT edits draft and failed orders (error OR-1).
CANCELLABLE_STATUSES = frozenset({"draft", "pending"})
EDITABLE_STATUSES = frozenset({"draft", "failed"})
MAX_LIMIT = 100
DEFAULT_LIMIT = 20
# The documented lockout after the rate limit is exceeded.
RATE_LIMIT_RETRY_AFTER = "60"
DEFAULT_RECIPIENT = {
    "name": "John Smith",
    "company": "John Smith Inc",
    "address1": "19749 Dearborn St",
    "address2": "",
    "city": "Chatsworth",
    "state_code": "CA",
    "state_name": "California",
    "country_code": "US",
    "country_name": "United States",
    "zip": "91311",
    "phone": "2312322334",
    "email": "firstname.secondname@domain.com",
    "tax_number": None,
}
_RECIPIENT_FIELDS = frozenset(DEFAULT_RECIPIENT)
_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 429: "TooManyRequests"}


class _SegmentConverter(BaseConverter):
    """One path segment: a Printful order id or `@` + external id (already percent-decoded)."""

    regex = r"[^/]+"


class _ApiError(Exception):
    """An error answer in Printful's documented shape."""

    def __init__(self, status: int, message: str, reason: str | None = None):
        """Keep the HTTP status, the message and the reason."""
        super().__init__(message)
        self.status, self.message = status, message
        self.reason = reason or _REASONS.get(status, "Error")

    def response(self) -> Response:
        """Render as `{"code": N, "result": message, "error": {"reason", "message"}}`."""
        return json_response(_error_body(self.status, self.message, self.reason), self.status)


def _error_body(status: int, message: str, reason: str | None = None) -> dict:
    return {"code": status, "result": message, "error": {"reason": reason or _REASONS.get(status, "Error"), "message": message}}


def _ok(result: Any, **extra) -> Response:
    return json_response({"code": 200, "result": result, **extra})


class FakePrintful(FakeService):
    """Fake Printful API (orders) served over real HTTP on 127.0.0.1."""

    def __init__(self, api_key: str = "test-printful-key"):
        """Create an empty, unstarted fake whose default token (store-level, store DEFAULT_STORE_ID) is api_key."""
        super().__init__()
        self.api_key = api_key
        # Added tokens by key: their stores and whether they are account-level (need X-PF-Store-Id).
        # The default token is not in it (written None), so a test that changes `api_key` keeps its orders.
        self._accounts: dict[str, dict] = {}
        self._store_owner: dict[int, str | None] = {DEFAULT_STORE_ID: None}
        self._orders: dict[int, dict] = {}  # insertion order == creation order == list order
        self._by_external: dict[tuple[int, str], int] = {}  # (store, external_id) → order id: unique per store
        self._ids = itertools.count(100_000_001)
        self._item_ids = itertools.count(5_000_001)
        self._store_ids = itertools.count(20)
        self._routes = Map(
            [
                Rule("/orders", methods=["GET"], endpoint="list"),
                Rule("/orders/<seg:ref>", methods=["GET"], endpoint="get"),
                Rule("/orders/<seg:ref>", methods=["DELETE"], endpoint="cancel"),
                Rule("/orders/<seg:ref>", methods=["PUT"], endpoint="update"),
            ],
            converters={"seg": _SegmentConverter},
            strict_slashes=False,
        )

    # -- seeding and inspection ------------------------------------------------------------

    def add_account(self, api_key: str, store_ids: Iterable[str | int] = ()) -> list[str]:
        """Add a token: store-level with a new store when store_ids is empty, else account-level over them; their ids."""
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key must be a non-empty string")
        with self._lock:
            if api_key == self.api_key or api_key in self._accounts:
                raise ValueError("an account with that API key already exists")
            stores = [self._store_number(s) for s in store_ids]
            account_level = bool(stores)
            if not stores:
                stores = [self._new_store_id()]
            for store in stores:
                if store in self._store_owner:
                    raise ValueError(f"store {store} belongs to another account")
            self._accounts[api_key] = {"stores": stores, "account_level": account_level}
            for store in stores:
                self._store_owner[store] = api_key
            return [str(s) for s in stores]

    def add_order(
        self,
        reference_id: str,
        status: str | None = None,
        items: Iterable[dict] | None = None,
        api_key: str | None = None,
        store_id: str | int | None = None,
        order_id: str | int | None = None,
        recipient: dict | None = None,
    ) -> str:
        """Seed an order (status default "draft", the earliest cancellable one) and return its Printful id.

        reference_id is its external_id (any text: orders imported by a platform integration need not
        follow the API's external-id rules); unique within the store, as Printful requires. api_key names
        the account (None: the default one); store_id one of its stores (None: its first).
        """
        status = status or "draft"
        with self._lock:
            account = self._account_named(api_key)
            stores = self._stores_of(account)
            store = stores[0] if store_id is None else self._store_number(store_id)
            if store not in stores:
                raise ValueError(f"store {store} is not one of that account's stores")
            if (store, reference_id) in self._by_external:
                raise ValueError(f"external_id {reference_id!r} already exists in store {store}")
            number = next(self._ids) if order_id is None else int(order_id)
            if number in self._orders:
                raise ValueError(f"order {number} already exists")
            order = self._build_order(number, reference_id, store, status, list(items) if items is not None else [{}], recipient)
            self._orders[number] = order
            self._by_external[(store, reference_id)] = number
            return str(number)

    def set_status(self, order_id: str | int, status: str) -> None:
        """Set an order's status (simulates Printful's fulfilment progress)."""
        with self._lock:
            order = self._get(order_id)
            order["status"] = status
            order["updated"] = int(time.time())
            if status in ("partial", "fulfilled") and not order["shipments"]:
                order["shipments"] = [self._shipment(order)]

    def order(self, order_id: str | int) -> dict:
        """A deep copy of the order as the API shows it (raises KeyError if unknown)."""
        with self._lock:
            return copy.deepcopy(self._get(order_id))

    def status_of(self, order_id: str | int) -> str:
        """The order's status."""
        with self._lock:
            return self._get(order_id)["status"]

    def all_orders(self) -> list[dict]:
        """Deep copies of every order, in creation order."""
        with self._lock:
            return [copy.deepcopy(o) for o in self._orders.values()]

    def calls_with_key(self, api_key: str, method: str | None = None, path_regex: str | None = None) -> list[Call]:
        """Recorded calls that carried `Authorization: Bearer <api_key>`, filtered like calls_matching."""
        return [c for c in self.calls_matching(method, path_regex) if _bearer(c.headers.get("Authorization")) == api_key]

    # -- fault injection and hooks ---------------------------------------------------------

    def fail_next(
        self,
        method: str | None,
        path_regex: str | None,
        status: int,
        times: int = 1,
        body: Any = None,
        headers: dict | None = None,
    ) -> None:
        """Answer the next `times` requests matching method ("*"/None: any) and path regex with `status`.

        A 429 carries `Retry-After: 60` (the documented lockout) unless headers say otherwise.
        """
        if status == 429 and headers is None:
            headers = {"Retry-After": RATE_LIMIT_RETRY_AFTER}
        self._add_fault(method, path_regex, status, times, body, headers)

    def reset(self) -> None:
        """Forget added accounts, all orders, faults, hooks, latency and recorded calls."""
        with self._lock:
            self._reset_common()
            self._accounts.clear()
            self._store_owner = {DEFAULT_STORE_ID: None}
            self._orders.clear()
            self._by_external.clear()

    def _default_fault_body(self, status: int) -> Any:
        """Printful-shaped error body for injected failures."""
        return _error_body(status, f"Injected failure ({status})")

    # -- request handling ------------------------------------------------------------------

    def _handle(self, request: Request, call: Call) -> Response:
        """Authenticate, resolve the store, run hooks and dispatch."""
        try:
            store = self._authenticate(request.headers.get("Authorization"), request.headers.get("X-PF-Store-Id"))
        except _ApiError as exc:
            return exc.response()
        adapter = self._routes.bind("127.0.0.1")
        try:
            endpoint, args = adapter.match(request.path, method=request.method)
        except MethodNotAllowed:
            return _ApiError(405, f"{request.method} is not allowed on {request.path}", "MethodNotAllowed").response()
        except NotFound:
            return _ApiError(404, "Not Found").response()
        except HTTPException as exc:
            return _ApiError(exc.code or 400, str(exc)).response()
        run_hooks(self._hooks, self._lock, request.method, request.path, call)
        try:
            body = self._json_body(request) if request.method == "PUT" else None
            with self._lock:
                return getattr(self, f"_ep_{endpoint}")(request=request, body=body, store=store, **args)
        except _ApiError as exc:
            return exc.response()

    def _authenticate(self, authorization: str | None, store_header: str | None) -> int:
        """The store a request acts on: the token's own store, or the one X-PF-Store-Id names."""
        token = _bearer(authorization)
        if token is None:
            raise _ApiError(401, "Malformed Authorization header.", "BadRequest")  # the documented example
        with self._lock:
            if token == self.api_key:
                stores, account_level = [DEFAULT_STORE_ID], False
            elif token in self._accounts:
                stores, account_level = self._accounts[token]["stores"], self._accounts[token]["account_level"]
            else:
                raise _ApiError(401, "The access token provided is invalid.")
        if store_header is None or not store_header.strip():
            if account_level:
                raise _ApiError(400, "This endpoint requires store context: provide the X-PF-Store-Id header.")
            return stores[0]
        try:
            store = int(store_header.strip())
        except ValueError:
            raise _ApiError(400, "X-PF-Store-Id must be a store id (an integer).") from None
        if store not in stores:
            raise _ApiError(403, f"The token has no access to store {store}.")
        return store

    @staticmethod
    def _json_body(request: Request) -> Any:
        """Decode the JSON body (empty means {}); malformed JSON is documented as 430 INVALID JSON."""
        raw = request.get_data(cache=True)
        if not raw.strip():
            return {}
        try:
            return request.get_json(force=True, cache=True)
        except Exception as exc:
            raise _ApiError(430, "Invalid JSON.", "InvalidJson") from exc

    def _ep_list(self, request: Request, body: Any, store: int) -> Response:
        """GET /orders: the store's orders, newest first, paged with offset/limit, optionally by status."""
        try:
            offset = int(request.args.get("offset", 0))
            limit = int(request.args.get("limit", DEFAULT_LIMIT))
        except ValueError:
            raise _ApiError(431, "offset and limit must be integers", "InvalidParameter") from None
        if offset < 0 or not 1 <= limit <= MAX_LIMIT:
            raise _ApiError(400, f"limit must be between 1 and {MAX_LIMIT}, offset non-negative")
        status = request.args.get("status")
        orders = [o for o in reversed(self._orders.values()) if o["store"] == store and (not status or o["status"] == status)]
        page = [copy.deepcopy(o) for o in orders[offset : offset + limit]]
        return _ok(page, paging={"total": len(orders), "offset": offset, "limit": limit})

    def _ep_get(self, request: Request, body: Any, store: int, ref: str) -> Response:
        """GET /orders/{id} or /orders/@{external_id}: the full order."""
        return _ok(copy.deepcopy(self._find(ref, store)))

    def _ep_cancel(self, request: Request, body: Any, store: int, ref: str) -> Response:
        """DELETE /orders/{id}: cancel a draft or pending order (200 with the order), else 400."""
        order = self._find(ref, store)
        if order["status"] not in CANCELLABLE_STATUSES:
            raise _ApiError(400, f"Order with status '{order['status']}' cannot be canceled.")
        order["status"] = "canceled"
        order["updated"] = int(time.time())
        return _ok(copy.deepcopy(order))

    def _ep_update(self, request: Request, body: Any, store: int, ref: str) -> Response:
        """PUT /orders/{id}: edit a draft or failed order's recipient and items (items left out are deleted)."""
        order = self._find(ref, store)
        if not isinstance(body, dict):
            raise _ApiError(400, "Request body must be a JSON object")
        if order["status"] not in EDITABLE_STATUSES:
            raise _ApiError(
                400,
                "The order is no longer editable. To be editable via API must have one of the following statuses: DRAFT, FAILED",
            )
        recipient = body.get("recipient")
        if recipient is not None and not isinstance(recipient, dict):
            raise _ApiError(400, "recipient must be an object")
        items = body.get("items")
        if items is not None:
            order["items"] = self._updated_items(order["items"], items)
        if recipient is not None:
            order["recipient"].update({k: v for k, v in recipient.items() if k in _RECIPIENT_FIELDS})
        order["updated"] = int(time.time())
        return _ok(copy.deepcopy(order))

    def _updated_items(self, current: list[dict], changes: Any) -> list[dict]:
        """The documented PUT rule: update items named by id or external_id, create others, delete the rest."""
        if not isinstance(changes, list):
            raise _ApiError(400, "The item provided is not an array", "OR-5")
        by_id = {item["id"]: item for item in current}
        by_external = {item["external_id"]: item for item in current if item.get("external_id")}
        result = []
        for index, change in enumerate(changes):
            if not isinstance(change, dict):
                raise _ApiError(400, f"items[{index}] must be an object")
            quantity = change.get("quantity")
            if quantity is not None and (
                isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 1000
            ):
                raise _ApiError(400, f"items[{index}].quantity must be an integer from 1 to 1000")
            target = by_id.get(change.get("id")) or by_external.get(change.get("external_id"))
            merged = copy.deepcopy(target) if target is not None else self._build_item({}, len(result) + 1, "")
            merged.update({k: copy.deepcopy(v) for k, v in change.items() if k != "id"})
            result.append(merged)
        return result

    # -- helpers ---------------------------------------------------------------------------

    def _find(self, ref: str, store: int) -> dict:
        """The store's order by Printful id or by `@external_id`; 404 for any other (another store's too)."""
        if ref.startswith("@"):
            number = self._by_external.get((store, ref[1:]))
        else:
            number = int(ref) if ref.isascii() and ref.isdigit() else None
        order = self._orders.get(number) if number is not None else None
        # Another store's order answers exactly like a missing one: a token learns nothing of it.
        if order is None or order["store"] != store:
            raise _ApiError(404, "Not Found")
        return order

    def _get(self, order_id: str | int) -> dict:
        """The stored order or KeyError (for Python-side controls)."""
        try:
            return self._orders[int(order_id)]
        except (KeyError, ValueError):
            raise KeyError(f"unknown Printful order {order_id!r}") from None

    def _account_named(self, api_key: str | None) -> str | None:
        if api_key is None or api_key == self.api_key:
            return None
        if api_key not in self._accounts:
            raise ValueError("no account has that API key; add it with add_account first")
        return api_key

    def _stores_of(self, account: str | None) -> list[int]:
        return [DEFAULT_STORE_ID] if account is None else self._accounts[account]["stores"]

    def _new_store_id(self) -> int:
        store = next(self._store_ids)
        while store in self._store_owner:
            store = next(self._store_ids)
        return store

    @staticmethod
    def _store_number(store_id: str | int) -> int:
        try:
            return int(store_id)
        except (TypeError, ValueError):
            raise ValueError(f"Printful store ids are integers, not {store_id!r}") from None

    def _build_order(self, number: int, reference_id: str, store: int, status: str, items: list[dict], recipient: dict | None):
        """A full order object with Printful's field names."""
        now = int(time.time())
        built = [self._build_item(item, index, reference_id) for index, item in enumerate(items, start=1)]
        order = {
            "id": number,
            "external_id": reference_id,
            "store": store,
            "status": status,
            "shipping": "STANDARD",
            "shipping_service_name": "Flat Rate (3-4 business days after fulfillment)",
            "created": now,
            "updated": now,
            "recipient": {**DEFAULT_RECIPIENT, **(recipient or {})},
            "items": built,
            "branding_items": [],
            "incomplete_items": [],
            "is_sample": False,
            "needs_approval": False,
            "not_synced": False,
            "has_discontinued_items": False,
            "can_change_hold": False,
            "costs": {"currency": "USD", "subtotal": "13.00", "shipping": "4.69", "tax": "0.00", "total": "17.69"},
            "retail_costs": {"currency": "USD", "subtotal": "19.99", "shipping": "5.00", "tax": "0.00", "total": "24.99"},
            "pricing_breakdown": [],
            "shipments": [],
            "gift": None,
            "packing_slip": None,
        }
        if status in ("partial", "fulfilled"):
            order["shipments"] = [self._shipment(order)]
        return order

    def _build_item(self, item: dict, index: int, reference_id: str) -> dict:
        """A full line item: Printful's fields with an id; external_id is the store's line item id."""
        defaults = {
            "id": next(self._item_ids),
            "external_id": f"{reference_id}-{index}" if reference_id else None,
            "variant_id": 4012,
            "sync_variant_id": None,
            "external_variant_id": None,
            "quantity": 1,
            "price": "13.00",
            "retail_price": "19.99",
            "name": "Unisex Staple T-Shirt | Bella + Canvas 3001 (Black / M)",
            "product": {"variant_id": 4012, "product_id": 71, "name": "Bella + Canvas 3001 Unisex Short Sleeve Jersey T-Shirt"},
            "files": [{"type": "default", "url": "https://cdn.example.com/print-files/front.png"}],
            "options": [],
            "sku": None,
            "discontinued": False,
            "out_of_stock": False,
        }
        return {**defaults, **copy.deepcopy(item)}

    @staticmethod
    def _shipment(order: dict) -> dict:
        return {
            "id": order["id"] * 10,
            "carrier": "USPS",
            "service": "USPS First Class Package",
            "tracking_number": "9400111899223397624589",
            "tracking_url": "https://tracking.example.com/9400111899223397624589",
            "created": int(time.time()),
            "ship_date": time.strftime("%Y-%m-%d"),
            "shipped_at": int(time.time()),
            "reshipment": False,
            "items": [{"item_id": item["id"], "quantity": item["quantity"]} for item in order["items"]],
        }


def _bearer(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None
