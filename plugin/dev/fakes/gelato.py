"""FakeGelato: a local HTTP fake of the Gelato Order API v4 with test controls.

Modelled on Gelato's public API reference, https://dashboard.gelato.com/docs/ (Order API v4:
orders:search, get, cancel, patch, create, delete; authentication by the X-API-KEY header; "401
Unauthorized: no valid API key provided"). Several Gelato accounts live in one fake, as several
merchants' accounts do at Gelato: the default one (FakeGelato(api_key=...)) and any added with
add_account(api_key, store_ids). Each order belongs to exactly one account and optionally to one of
its store ids. Every request is authenticated by its X-API-KEY, and a key sees only its own
account's orders: another account's order is answered like one that does not exist (404), and a
search never returns it. Gelato documents neither its error bodies nor what it answers for another
account's order; the `{"code", "message"}` bodies and the 404 are this fake's assumptions.
"""

from __future__ import annotations

import copy
import heapq
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import BaseConverter, Map, Rule
from werkzeug.wrappers import Request, Response

from ._common import Call, FakeService, json_response, run_hooks

# Statuses from which Gelato still accepts POST /v4/orders/{id}:cancel (everything before
# production); any other status, "canceled" included, answers 409.
CANCELLABLE_STATUSES = frozenset(
    {
        "created",
        "uploading",
        "passed",
        "draft",
        "pending_approval",
        "pending_personalization",
        "digitizing",
        "on_hold",
        "failed",
        "not_connected",
    }
)
# The status an order's production clock moves it to: too late to cancel (409), as at Gelato.
IN_PRODUCTION = "in_production"
# Statuses after which a shipment (with tracking) exists on the order.
_SHIPPED_STATUSES = frozenset({"shipped", "in_transit", "delivered", "returned"})
MAX_SEARCH_LIMIT = 100
DEFAULT_SEARCH_LIMIT = 50
DEFAULT_PRODUCT_UID = "flat_product_pf_a4_pt_200-gsm-uncoated_cl_4-0_ver"
DEFAULT_FILE_URL = "https://cdn.example.com/print-files/artwork.pdf"
DEFAULT_SHIPPING_ADDRESS = {
    "firstName": "Paul",
    "lastName": "Smith",
    "companyName": "Example",
    "addressLine1": "451 Clarkson Ave",
    "addressLine2": "Brooklyn",
    "city": "New York",
    "postCode": "11203",
    "state": "NY",
    "country": "US",
    "email": "apisupport@example.com",
    "phone": "123456789",
}
_REQUIRED_ADDRESS_FIELDS = ("firstName", "lastName", "addressLine1", "city", "postCode", "country", "email")
_PATCHABLE_ITEM_FIELDS = ("itemReferenceId", "productUid", "files", "quantity")
# Search filters that are lists of values compared with one order field.
_LIST_FILTERS = {
    "ids": "id",
    "orderReferenceIds": "orderReferenceId",
    "storeIds": "storeId",
    "fulfillmentStatuses": "fulfillmentStatus",
    "financialStatuses": "financialStatus",
    "orderTypes": "orderType",
    "currencies": "currency",
    "channels": "channel",
}


class _OrderIdConverter(BaseConverter):
    """Path segment converter for order ids that stops at ':' so `{id}:cancel` routes apart."""

    regex = r"[^/:]+"


class _ApiError(Exception):
    """An error answer in Gelato's JSON shape."""

    def __init__(self, status: int, code: str, message: str):
        """Keep the HTTP status and the JSON body fields."""
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> Response:
        """Render as `{"code": ..., "message": ...}`."""
        return json_response({"code": self.code, "message": self.message}, self.status)


def _now() -> str:
    """Current time in Gelato's timestamp format (ISO 8601, seconds, +00:00)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _financial_status(fulfillment_status: str) -> str:
    """The financial status Gelato shows next to a fulfillment status (simplified)."""
    return {"draft": "draft", "canceled": "canceled", "created": "pending", "uploading": "pending"}.get(
        fulfillment_status, "paid"
    )


class FakeGelato(FakeService):
    """Fake Gelato Order API v4 served over real HTTP on 127.0.0.1."""

    def __init__(self, api_key: str = "test-gelato-key"):
        """Create an empty, unstarted fake whose default account answers to X-API-KEY == api_key."""
        super().__init__()
        self.api_key = api_key
        # Accounts added with add_account, by API key. The default account is not in it: it is
        # written None below, so a test that changes `api_key` keeps its orders.
        self._accounts: set[str] = set()
        self._owner: dict[str, str | None] = {}  # order id → its account (None: the default one)
        self._store_owner: dict[str, str | None] = {}  # store id → its account; a store is in one account
        # Products that print without artwork; POST /v4/orders lets their items omit `files`.
        self.products_without_files: set[str] = set()
        self._orders: dict[str, dict] = {}  # insertion order == creation order == search order
        # orderReferenceId → order ids, in creation order: a search by reference (what the app
        # sends) stays as fast with thousands of orders seeded as with one, as Gelato's does.
        self._by_reference: dict[str, list[str]] = {}
        # Production clocks: a heap of (time.monotonic() when it goes to production, order id), and
        # what happened: when each order went to production, when each was canceled over HTTP.
        self._production_clock: list[tuple[float, str]] = []
        self._went_to_production: dict[str, float] = {}
        self._canceled_at: dict[str, float] = {}
        self._routes = Map(
            [
                Rule("/v4/orders:search", methods=["POST"], endpoint="search"),
                Rule("/v4/orders/<oid:order_id>:cancel", methods=["POST"], endpoint="cancel"),
                Rule("/v4/orders/<oid:order_id>", methods=["GET"], endpoint="get"),
                Rule("/v4/orders/<oid:order_id>", methods=["PATCH"], endpoint="patch"),
                Rule("/v4/orders/<oid:order_id>", methods=["DELETE"], endpoint="delete"),
                Rule("/v4/orders", methods=["POST"], endpoint="create"),
            ],
            converters={"oid": _OrderIdConverter},
            strict_slashes=False,
        )

    # -- seeding and inspection ------------------------------------------------------------

    def add_account(self, api_key: str, store_ids: Iterable[str] = ()) -> None:
        """Add a Gelato account answering to api_key and owning store_ids; seed it with add_order(api_key=...)."""
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key must be a non-empty string")
        stores = list(store_ids)
        with self._lock:
            if api_key == self.api_key or api_key in self._accounts:
                raise ValueError("an account with that API key already exists")
            for store_id in stores:
                self._check_store(store_id, api_key)
            self._accounts.add(api_key)
            for store_id in stores:
                self._store_owner[store_id] = api_key

    def add_order(
        self,
        reference_id: str,
        status: str | None = None,
        items: Iterable[dict] | None = None,
        shipping_address: dict | None = None,
        order_type: str | None = None,
        order_id: str | None = None,
        store_id: str | None = None,
        customer_reference_id: str | None = None,
        currency: str = "USD",
        connected_order_ids: Iterable[str] = (),
        api_key: str | None = None,
        production_at: float | None = None,
    ) -> str:
        """Seed an order (status default "passed", or "draft" for order_type "draft") and return its id.

        api_key names the account it belongs to (None: the default account); a store_id joins that
        account's stores, and may not be another account's. production_at: see set_production_clock.
        """
        if order_type is None:
            order_type = "draft" if status == "draft" else "order"
        if status is None:
            status = "draft" if order_type == "draft" else "passed"
        with self._lock:
            account = self._account_named(api_key)
            order_id = order_id or str(uuid.uuid4())
            if order_id in self._orders:
                raise ValueError(f"order {order_id} already exists")
            if store_id is not None:
                self._check_store(store_id, account)
                self._store_owner[store_id] = account
            order = self._build_order(
                order_id=order_id,
                order_type=order_type,
                status=status,
                reference_id=reference_id,
                customer_reference_id=customer_reference_id or f"customer-{reference_id}",
                currency=currency,
                store_id=store_id,
                items=list(items) if items is not None else [{}],
                shipping_address=shipping_address,
            )
            order["connectedOrderIds"] = list(connected_order_ids)
            self._store(order, account)
            if production_at is not None:
                self.set_production_clock(order_id, production_at)
            return order_id

    def add_split_order(
        self,
        reference_id: str,
        statuses: Iterable[str] = ("passed", "passed"),
        items: list[list[dict]] | None = None,
        api_key: str | None = None,
        store_id: str | None = None,
        **kwargs,
    ) -> list[str]:
        """Seed one store order split into connected Gelato orders (one per status) of one account; return their ids."""
        statuses = list(statuses)
        if not statuses:
            raise ValueError("statuses must not be empty")
        if items is not None and len(items) != len(statuses):
            raise ValueError("items must hold one list of items per status")
        with self._lock:
            ids = []
            for index, status in enumerate(statuses, start=1):
                # Default: one item per part, with distinct item references like a real split.
                part_items = items[index - 1] if items is not None else [{"itemReferenceId": f"{reference_id}-{index}"}]
                ids.append(
                    self.add_order(reference_id, status=status, items=part_items, api_key=api_key, store_id=store_id, **kwargs)
                )
            # Each part lists the other parts, as Gelato does for orders split across hubs.
            for order_id in ids:
                self._orders[order_id]["connectedOrderIds"] = [other for other in ids if other != order_id]
            return ids

    def set_status(self, order_id: str, status: str) -> None:
        """Set an order's fulfillmentStatus and every item's (simulates Gelato's production progress)."""
        with self._lock:
            order = self._get(order_id)
            order["fulfillmentStatus"] = status
            order["financialStatus"] = _financial_status(status)
            for item in order["items"]:
                item["fulfillmentStatus"] = status
            self._after_status_change(order)

    def set_production_clock(self, order_id: str, at: float) -> None:
        """Make the order go to "in_production" at time.monotonic() `at` unless it was canceled before.

        The move happens when the fake is next asked anything (any request, or a read such as
        status_of), before it answers: from then on a cancel is refused with 409 like Gelato's.
        went_to_production_at() says when the move was due.
        """
        with self._lock:
            self._get(order_id)
            heapq.heappush(self._production_clock, (float(at), order_id))

    def went_to_production_at(self, order_id: str) -> float | None:
        """When the order's production clock moved it to "in_production" (time.monotonic()), None if it did not."""
        with self._lock:
            self._run_production_clock()
            return self._went_to_production.get(order_id)

    def canceled_at(self, order_id: str) -> float | None:
        """When a cancel call over HTTP canceled the order (time.monotonic()), None if none did."""
        with self._lock:
            return self._canceled_at.get(order_id)

    def _run_production_clock(self, now: float | None = None) -> None:
        """Move every order whose production time has come, and that is still cancellable, to "in_production"."""
        now = time.monotonic() if now is None else now
        with self._lock:
            while self._production_clock and self._production_clock[0][0] <= now:
                at, order_id = heapq.heappop(self._production_clock)
                order = self._orders.get(order_id)
                if order is None or order["fulfillmentStatus"] not in CANCELLABLE_STATUSES:
                    continue  # canceled in time (or removed, or moved on by a test): production never starts
                self.set_status(order_id, IN_PRODUCTION)
                self._went_to_production[order_id] = at

    def set_item_status(self, order_id: str, item_reference_id: str, status: str) -> None:
        """Set one item's fulfillmentStatus (e.g. one item printed while the order still shows passed)."""
        with self._lock:
            order = self._get(order_id)
            matching = [item for item in order["items"] if item["itemReferenceId"] == item_reference_id]
            if not matching:
                raise KeyError(f"order {order_id} has no item {item_reference_id!r}")
            for item in matching:
                item["fulfillmentStatus"] = status
            self._after_status_change(order)

    def order(self, order_id: str) -> dict:
        """A deep copy of the full order (raises KeyError if unknown)."""
        with self._lock:
            self._run_production_clock()
            return copy.deepcopy(self._get(order_id))

    def status_of(self, order_id: str) -> str:
        """The order's fulfillmentStatus (raises KeyError if unknown)."""
        with self._lock:
            self._run_production_clock()
            return str(self._get(order_id)["fulfillmentStatus"])

    def orders_for(self, reference_id: str) -> list[dict]:
        """Deep copies of all orders with that orderReferenceId, in creation order."""
        with self._lock:
            self._run_production_clock()
            return [copy.deepcopy(o) for o in self._orders.values() if o["orderReferenceId"] == reference_id]

    def all_orders(self) -> list[dict]:
        """Deep copies of every order, in creation order."""
        with self._lock:
            self._run_production_clock()
            return [copy.deepcopy(o) for o in self._orders.values()]

    def account_of(self, order_id: str) -> str:
        """The API key of the account holding the order (raises KeyError if unknown)."""
        with self._lock:
            self._get(order_id)
            owner = self._owner[order_id]
            return self.api_key if owner is None else owner

    def calls_with_key(self, api_key: str, method: str | None = None, path_regex: str | None = None) -> list[Call]:
        """Recorded calls that carried X-API-KEY == api_key, filtered like calls_matching."""
        return [c for c in self.calls_matching(method, path_regex) if c.headers.get("X-API-KEY") == api_key]

    # -- fault injection and hooks ---------------------------------------------------------

    def reset(self) -> None:
        """Forget added accounts, all orders and their production clocks, faults, hooks, latency and recorded calls."""
        with self._lock:
            self._reset_common()
            self._accounts.clear()
            self._owner.clear()
            self._store_owner.clear()
            self._orders.clear()
            self._by_reference.clear()
            self.products_without_files.clear()
            self._production_clock.clear()
            self._went_to_production.clear()
            self._canceled_at.clear()

    def _default_fault_body(self, status: int) -> Any:
        """Gelato-shaped error body for injected failures."""
        code = {429: "too_many_requests", 404: "not_found", 409: "conflict"}.get(status, "internal")
        return {"code": code, "message": f"Injected failure ({status})"}

    # -- request handling ------------------------------------------------------------------

    def _handle(self, request: Request, call: Call) -> Response:
        """Authenticate, run hooks and dispatch to the endpoint of the key's account."""
        try:
            account = self._authenticate(request.headers.get("X-API-KEY"))
        except _ApiError as exc:
            return exc.response()
        adapter = self._routes.bind("127.0.0.1")
        try:
            endpoint, args = adapter.match(request.path, method=request.method)
        except MethodNotAllowed:
            return _ApiError(405, "method_not_allowed", f"{request.method} not allowed on {request.path}").response()
        except NotFound:
            return _ApiError(404, "not_found", f"No route for {request.path}").response()
        except HTTPException as exc:
            return _ApiError(exc.code or 400, "bad_request", str(exc)).response()
        run_hooks(self._hooks, self._lock, request.method, request.path, call)
        try:
            body = self._json_body(request) if request.method in ("POST", "PATCH") else None
            with self._lock:
                self._run_production_clock()  # production never waits for a request to look
                return getattr(self, f"_ep_{endpoint}")(body=body, account=account, **args)
        except _ApiError as exc:
            return exc.response()

    def _authenticate(self, key: str | None) -> str | None:
        """The account a request's X-API-KEY opens (None: the default account); 401 for any other key."""
        with self._lock:
            if key and key == self.api_key:
                return None
            if key and key in self._accounts:
                return key
        # Gelato documents 401 for "no valid API key provided", not its body: this shape is ours.
        raise _ApiError(401, "unauthorized", "Invalid or missing API key (X-API-KEY)")

    @staticmethod
    def _json_body(request: Request) -> Any:
        """Decode the JSON body (empty means {}); malformed JSON is a 400."""
        raw = request.get_data(cache=True)
        if not raw.strip():
            return {}
        try:
            return request.get_json(force=True, cache=True)
        except Exception as exc:
            raise _ApiError(400, "bad_request", "Malformed JSON in request body") from exc

    def _ep_search(self, body: Any, account: str | None) -> Response:
        """POST /v4/orders:search: the account's orders, filtered, then paged with offset/limit in creation order."""
        if not isinstance(body, dict):
            raise _ApiError(400, "bad_request", "Request body must be a JSON object")
        limit = body.get("limit", DEFAULT_SEARCH_LIMIT)
        offset = body.get("offset", 0)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_SEARCH_LIMIT:
            raise _ApiError(400, "bad_request", f"limit must be an integer between 1 and {MAX_SEARCH_LIMIT}")
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise _ApiError(400, "bad_request", "offset must be a non-negative integer")
        filters = {}
        for name, order_field in _LIST_FILTERS.items():
            values = body.get(name)
            if values is None:
                continue
            if not isinstance(values, list):
                raise _ApiError(400, "bad_request", f"{name} must be an array")
            filters[order_field] = set(values)
        countries = body.get("countries")
        text = body.get("search")
        matches = []
        for order in self._candidates(filters.get("orderReferenceId")):
            if self._owner[order["id"]] != account:
                continue
            if any(order.get(f) not in allowed for f, allowed in filters.items()):
                continue
            if countries is not None and order["shippingAddress"].get("country") not in countries:
                continue
            if text and not self._text_matches(order, str(text)):
                continue
            matches.append(self._summary(order))
        return json_response({"orders": matches[offset : offset + limit]})

    def _store(self, order: dict, account: str | None) -> None:
        """Add a new order of that account, indexed by its orderReferenceId."""
        self._orders[order["id"]] = order
        self._owner[order["id"]] = account
        self._by_reference.setdefault(order["orderReferenceId"], []).append(order["id"])

    def _candidates(self, reference_ids: set | None):
        """The orders a search may match, in creation order: those with the references, or all."""
        if reference_ids is None:
            return list(self._orders.values())
        ids = [order_id for ref in reference_ids if isinstance(ref, str) for order_id in self._by_reference.get(ref, ())]
        position = {order_id: index for index, order_id in enumerate(self._orders)} if len(reference_ids) > 1 else None
        return [self._orders[order_id] for order_id in (sorted(ids, key=position.get) if position else ids)]

    @staticmethod
    def _text_matches(order: dict, text: str) -> bool:
        """Gelato's free-text search: recipient first/last name or orderReferenceId."""
        address = order["shippingAddress"]
        haystack = [order["orderReferenceId"], address.get("firstName") or "", address.get("lastName") or ""]
        return any(text.lower() in value.lower() for value in haystack)

    def _ep_get(self, body: Any, account: str | None, order_id: str) -> Response:
        """GET /v4/orders/{id}: the full order."""
        return json_response(copy.deepcopy(self._get_or_404(order_id, account)))

    def _ep_cancel(self, body: Any, account: str | None, order_id: str) -> Response:
        """POST /v4/orders/{id}:cancel: cancel before production, else 409."""
        order = self._get_or_404(order_id, account)
        status = order["fulfillmentStatus"]
        if status not in CANCELLABLE_STATUSES:
            raise _ApiError(409, "conflict", f"Order cannot be canceled: its status is '{status}'")
        # An order whose items already reached production cannot be canceled either.
        busy = [i["fulfillmentStatus"] for i in order["items"] if i["fulfillmentStatus"] not in CANCELLABLE_STATUSES]
        if busy:
            raise _ApiError(409, "conflict", f"Order cannot be canceled: an item is '{busy[0]}'")
        order["fulfillmentStatus"] = "canceled"
        order["financialStatus"] = "canceled"
        for item in order["items"]:
            item["fulfillmentStatus"] = "canceled"
        order["updatedAt"] = _now()
        self._canceled_at[order_id] = time.monotonic()
        return json_response({})

    def _ep_patch(self, body: Any, account: str | None, order_id: str) -> Response:
        """PATCH /v4/orders/{id}: edit items/address of a draft, or promote it with orderType "order"."""
        order = self._get_or_404(order_id, account)
        if not isinstance(body, dict):
            raise _ApiError(400, "bad_request", "Request body must be a JSON object")
        if order["orderType"] != "draft":
            raise _ApiError(409, "conflict", "Only orders with orderType 'draft' can be patched")
        new_type = body.get("orderType")
        if new_type not in (None, "draft", "order"):
            raise _ApiError(400, "bad_request", "orderType must be 'order' or 'draft'")
        address = body.get("shippingAddress")
        if address is not None and not isinstance(address, dict):
            raise _ApiError(400, "bad_request", "shippingAddress must be an object")
        items = body.get("items")
        if items is not None:
            if not isinstance(items, list):
                raise _ApiError(400, "bad_request", "items must be an array")
            # Validate every item on a scratch copy so a bad request leaves the draft untouched.
            patched = copy.deepcopy(order["items"])
            for index, change in enumerate(items):
                self._patch_item(patched, index, change, order["fulfillmentStatus"])
            order["items"] = patched
        if address is not None:
            order["shippingAddress"].update(address)
        if new_type == "order":
            order["orderType"] = "order"
            order["fulfillmentStatus"] = "created"
            order["financialStatus"] = _financial_status("created")
            order["orderedAt"] = _now()
            for item in order["items"]:
                item["fulfillmentStatus"] = "created"
        order["updatedAt"] = _now()
        return json_response(copy.deepcopy(order))

    def _patch_item(self, items: list[dict], index: int, change: Any, status: str) -> None:
        """Apply one PATCH item: match by id, then itemReferenceId; otherwise append a new item."""
        where = f"items[{index}]"
        if not isinstance(change, dict):
            raise _ApiError(400, "bad_request", f"{where} must be an object")
        target = None
        if change.get("id") is not None:
            target = next((i for i in items if i["id"] == change["id"]), None)
            if target is None:
                raise _ApiError(400, "bad_request", f"{where}.id: no item with id {change['id']!r} on this order")
        elif change.get("itemReferenceId") is not None:
            target = next((i for i in items if i["itemReferenceId"] == change["itemReferenceId"]), None)
        fields = {k: change[k] for k in _PATCHABLE_ITEM_FIELDS if k in change}
        if "quantity" in fields and (not isinstance(fields["quantity"], int) or fields["quantity"] < 1):
            raise _ApiError(400, "bad_request", f"{where}.quantity must be a positive integer")
        if "files" in fields:
            self._check_files(fields["files"], f"{where}.files", required=False)
        if target is not None:
            target.update(copy.deepcopy(fields))
            return
        merged = {"files": [], "quantity": 1, **fields}
        self._check_item(merged, where)
        items.append(self._build_item(merged, status))

    def _ep_create(self, body: Any, account: str | None) -> Response:
        """POST /v4/orders: validate like Gelato and create an order ("created") or draft in the key's account."""
        if not isinstance(body, dict):
            raise _ApiError(400, "bad_request", "Request body must be a JSON object")
        for name in ("orderReferenceId", "customerReferenceId", "currency"):
            if not isinstance(body.get(name), str) or not body[name]:
                raise _ApiError(400, "bad_request", f"{name} is required")
        order_type = body.get("orderType", "order")
        if order_type not in ("order", "draft"):
            raise _ApiError(400, "bad_request", "orderType must be 'order' or 'draft'")
        items = body.get("items")
        if not isinstance(items, list) or not items:
            raise _ApiError(400, "bad_request", "items is required and must be a non-empty array")
        for index, item in enumerate(items):
            self._check_item(item, f"items[{index}]")
        address = body.get("shippingAddress")
        if not isinstance(address, dict):
            raise _ApiError(400, "bad_request", "shippingAddress is required")
        for name in _REQUIRED_ADDRESS_FIELDS:
            if not address.get(name):
                raise _ApiError(400, "bad_request", f"shippingAddress.{name} is required")
        order_id = str(uuid.uuid4())
        order = self._build_order(
            order_id=order_id,
            order_type=order_type,
            status="draft" if order_type == "draft" else "created",
            reference_id=body["orderReferenceId"],
            customer_reference_id=body["customerReferenceId"],
            currency=body["currency"],
            store_id=None,
            items=items,
            shipping_address=address,
        )
        order["shipmentMethodUid"] = body.get("shipmentMethodUid")
        self._store(order, account)
        return json_response(copy.deepcopy(order))

    def _ep_delete(self, body: Any, account: str | None, order_id: str) -> Response:
        """DELETE /v4/orders/{id}: only drafts can be deleted."""
        order = self._get_or_404(order_id, account)
        if order["orderType"] != "draft":
            raise _ApiError(409, "conflict", "Only draft orders can be deleted; cancel the order instead")
        del self._orders[order_id]
        del self._owner[order_id]
        self._by_reference[order["orderReferenceId"]].remove(order_id)
        return Response(status=204)

    # -- helpers ---------------------------------------------------------------------------

    def _check_item(self, item: Any, where: str) -> None:
        """Validate one item of a create request, naming the offending field."""
        if not isinstance(item, dict):
            raise _ApiError(400, "bad_request", f"{where} must be an object")
        for name in ("itemReferenceId", "productUid"):
            if not isinstance(item.get(name), str) or not item[name]:
                raise _ApiError(400, "bad_request", f"{where}.{name} is required")
        quantity = item.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise _ApiError(400, "bad_request", f"{where}.quantity is required and must be a positive integer")
        needs_files = item["productUid"] not in self.products_without_files
        self._check_files(item.get("files"), f"{where}.files", required=needs_files)

    @staticmethod
    def _check_files(files: Any, where: str, required: bool) -> None:
        """Validate a files array: each entry needs a type and a url."""
        if files is None or files == []:
            if required:
                raise _ApiError(400, "bad_request", f"{where} is required for this product")
            return
        if not isinstance(files, list):
            raise _ApiError(400, "bad_request", f"{where} must be an array")
        for index, entry in enumerate(files):
            if not isinstance(entry, dict) or not entry.get("url"):
                raise _ApiError(400, "bad_request", f"{where}[{index}].url is required")
            if not entry.get("type"):
                raise _ApiError(400, "bad_request", f"{where}[{index}].type is required")

    def _get(self, order_id: str) -> dict:
        """The stored order or KeyError (for Python-side controls)."""
        try:
            return self._orders[order_id]
        except KeyError:
            raise KeyError(f"unknown Gelato order {order_id!r}") from None

    def _get_or_404(self, order_id: str, account: str | None) -> dict:
        """The account's stored order or a 404 answer (for HTTP endpoints)."""
        order = self._orders.get(order_id)
        # Another account's order answers exactly like a missing one: a key learns nothing of it.
        if order is None or self._owner[order_id] != account:
            raise _ApiError(404, "not_found", "Order not found")
        return order

    def _account_named(self, api_key: str | None) -> str | None:
        """The account a Python-side control names (None or the default key: the default account)."""
        if api_key is None or api_key == self.api_key:
            return None
        if api_key not in self._accounts:
            raise ValueError("no account has that API key; add it with add_account first")
        return api_key

    def _check_store(self, store_id: str, account: str | None) -> None:
        """Refuse a store id that is already another account's (a Gelato store is in one account)."""
        if not isinstance(store_id, str) or not store_id:
            raise ValueError("store ids must be non-empty strings")
        if store_id in self._store_owner and self._store_owner[store_id] != account:
            raise ValueError(f"store {store_id} belongs to another account")

    def _build_order(
        self,
        *,
        order_id: str,
        order_type: str,
        status: str,
        reference_id: str,
        customer_reference_id: str,
        currency: str,
        store_id: str | None,
        items: list[dict],
        shipping_address: dict | None,
    ) -> dict:
        """A full v4 order dict with Gelato's field names."""
        now = _now()
        built_items = []
        for index, item in enumerate(items, start=1):
            defaults = {
                "itemReferenceId": f"{reference_id}-{index}",
                "productUid": DEFAULT_PRODUCT_UID,
                "files": [{"type": "default", "url": DEFAULT_FILE_URL}],
                "quantity": 1,
            }
            built_items.append(self._build_item({**defaults, **item}, status))
        address = {**DEFAULT_SHIPPING_ADDRESS, **(shipping_address or {})}
        address.setdefault("id", str(uuid.uuid4()))
        address.setdefault("orderId", order_id)
        address.setdefault("isBusiness", False)
        order = {
            "id": order_id,
            "orderType": order_type,
            "orderReferenceId": reference_id,
            "customerReferenceId": customer_reference_id,
            "fulfillmentStatus": status,
            "financialStatus": _financial_status(status),
            "currency": currency,
            "channel": "api",
            "storeId": store_id,
            "connectedOrderIds": [],
            "createdAt": now,
            "updatedAt": now,
            "orderedAt": None if order_type == "draft" else now,
            "items": built_items,
            "shippingAddress": address,
            "shipment": None,
            "receipts": [],
        }
        self._after_status_change(order, touch=False)
        return order

    @staticmethod
    def _build_item(item: dict, status: str) -> dict:
        """A full order item: Gelato's fields plus an id and a fulfillmentStatus."""
        built = copy.deepcopy(item)
        built.setdefault("id", str(uuid.uuid4()))
        built.setdefault("fulfillmentStatus", status)
        built.setdefault("previews", [])
        return built

    @staticmethod
    def _after_status_change(order: dict, touch: bool = True) -> None:
        """Bump updatedAt and add a shipment with tracking once the order has shipped."""
        if touch:
            order["updatedAt"] = _now()
        if order["fulfillmentStatus"] in _SHIPPED_STATUSES and not order.get("shipment"):
            order["shipment"] = {
                "id": str(uuid.uuid4()),
                "shipmentMethodName": "Express",
                "shipmentMethodUid": "express",
                "fulfillmentCountry": "US",
                "packagesCount": 1,
                "packages": [
                    {
                        "id": str(uuid.uuid4()),
                        "orderItemIds": [item["id"] for item in order["items"]],
                        "trackingCode": "1Z999AA10123456784",
                        "trackingUrl": "https://tracking.example.com/1Z999AA10123456784",
                    }
                ],
            }

    @staticmethod
    def _summary(order: dict) -> dict:
        """The search-result shape of an order (no items)."""
        address = order["shippingAddress"]
        return {
            "id": order["id"],
            "orderType": order["orderType"],
            "orderReferenceId": order["orderReferenceId"],
            "customerReferenceId": order["customerReferenceId"],
            "fulfillmentStatus": order["fulfillmentStatus"],
            "financialStatus": order["financialStatus"],
            "currency": order["currency"],
            "channel": order["channel"],
            "storeId": order["storeId"],
            "connectedOrderIds": list(order["connectedOrderIds"]),
            "country": address.get("country"),
            "firstName": address.get("firstName"),
            "lastName": address.get("lastName"),
            "itemsCount": len(order["items"]),
            "totalInclVat": "0.00",
            "createdAt": order["createdAt"],
            "updatedAt": order["updatedAt"],
            "orderedAt": order["orderedAt"],
        }
