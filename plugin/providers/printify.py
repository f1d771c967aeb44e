"""Printify API v1 client: check a token and its shop, find a store order's print orders by listing, read and cancel them.

Source: Printify's public API reference, https://developers.printify.com/ ("V1 API Reference": Authentication,
API pagination, Orders, HTTP Status Codes; read from a capture of that page kept in the public repository
spencerlepine/printify-sdk-js, docs/PRINTIFY-Documentation.md and docs/website-capture/StrippedHtml.htm).

Confirmed by that reference:
- Base URL `https://api.printify.com/v1/`; `Authorization: Bearer <token>` (a personal access token, valid one
  year, with per-token access scopes such as `shops.read`, `orders.read`, `orders.write`); every request must
  carry a User-Agent (the app's sessions send one, plugin/http.py).
- A Printify account holds several shops, each connected to one sales channel; every order path is per shop:
  `GET /v1/shops.json` lists the token's shops (`[{"id", "title", "sales_channel"}]`);
  `GET /v1/shops/{shop_id}/orders.json` lists orders (`page`, `limit` "default: 10, maximum: 10", filters
  `status` and `sku` only: there is no filter by external id); `GET /v1/shops/{shop_id}/orders/{id}.json`
  reads one; `POST /v1/shops/{shop_id}/orders/{id}/cancel.json` "will only be accepted if the order to be
  canceled has the status "on-hold" or "payment-not-received"" and answers 200 with the cancelled order.
- Lists are Laravel-style pages: `{"current_page", "data": [...], "last_page", "next_page_url", "per_page",
  "total", ...}`.
- Order statuses: pending, on-hold, sending-to-production, in-production, canceled, fulfilled,
  partially-fulfilled, payment-not-received, had-issues (line items say has-issues).
- An order read back carries no documented `external_id`: the sales channel's reference is in `metadata`
  (`shop_order_id`, an integer for a sales-channel order, the external id string for an API order;
  `shop_order_label`, a string). Orders submitted through the API set `external_id` ("the order name or
  id") and an optional `label`.
- Errors: 401 bad credentials, 403 credentials without access to the resource, 404 route or resource not
  found, 422 invalid request, 429 rate limited (600 requests a minute per account; erroring requests must
  stay under 5 %), 5xx server errors; the one documented error body is
  `{"status": "error", "code": 8103, "message": "Validation failed.", "errors": {"reason", "code"}}`.

Assumed (the reference is silent):
- Which value Printify's own Shopify integration files an order under (the numeric Shopify order id, the
  order name "#1001" or "1001"): find_orders compares the reference exactly with every documented place
  (`metadata.shop_order_id`, `metadata.shop_order_label`) and with `external_id`/`label` should an answer
  carry them, so each form plugin/providers/reference_search.py tries is answered correctly.
- The list is newest first (third-party clients say so; the reference does not), so a bounded scan sees the
  recent orders a cancellation is about.
- A refused cancel answers 400, 409 or 422 (the status code is not documented), a shop of another account
  answers 401/403 or 404, and a 429 may come without Retry-After (none is documented).
- One store order can become several Printify orders under one reference (the documented Printify Express
  endpoint creates "one or two separate orders" for one submission); they are created together, so they lie
  next to each other in the list.
"""

from __future__ import annotations

from urllib.parse import quote

import requests

from plugin import write_fence
from plugin.errors import ProviderError, ProviderRefused
from plugin.http import error_summary
from plugin.logs import log_event
from plugin.providers import (
    Address,
    CancelResult,
    NewPrintOrder,
    PatchResult,
    Phase,
    PrintItem,
    PrintOrder,
    classify,
)
from plugin.providers.answers import blank, json_body, json_object, send_blanking
from plugin.providers.reference_search import ReferenceSearch

API_PREFIX = "/v1"
# Printify's documented maximum `limit` for the orders list (the reference says "maximum: 10"); asking for
# more could be refused or silently capped, and "a short page is the last one" needs the real page size.
PAGE_SIZE = 10
# The orders list has no filter by reference, so a search reads pages, newest first, until it finds the
# order. A cancellation usually comes hours or days after the order, so its print order is among the
# newest; past 10 pages (100 orders) the search stops rather than page through a large shop's whole
# history: one pass serves every reference form, and 10 requests a cancellation stay well inside
# Printify's 600 requests a minute for the whole account.
MAX_PAGES = 10

# Confirmed: Printify accepts a cancel only in these statuses.
CANCELLABLE = frozenset({"on-hold", "payment-not-received"})
# Confirmed: picked for or in production, or shipped: too late to cancel.
TOO_LATE = frozenset({"sending-to-production", "in-production", "fulfilled", "partially-fulfilled"})
# What a too-late print order will do next, in the words a store-order note uses (one per TOO_LATE status).
FATES = {
    "sending-to-production": "is being sent to production: it will be printed and shipped to the customer as placed",
    "in-production": "is in production: it will be printed and shipped to the customer as placed",
    "partially-fulfilled": "has partly shipped: the rest will follow to the customer",
    "fulfilled": "has already shipped: it is on its way to the customer",
}
CANCELED = "canceled"
# Everything else, documented or not, is Phase.UNKNOWN: a cancel is tried and Printify decides. Documented
# among them: "pending" (fleeting, before on-hold; not in the documented cancellable pair) and "had-issues"
# /"has-issues" (an issue at any point of the lifecycle, before or after production).

# Printify address_to field ↔ Address field (the app's, Shopify's names).
_ADDRESS_FIELDS = (
    ("first_name", "first_name"),
    ("last_name", "last_name"),
    ("company", "company"),
    ("address1", "address1"),
    ("address2", "address2"),
    ("city", "city"),
    ("zip", "zip"),
    ("region", "province_code"),
    ("country", "country_code"),
    ("phone", "phone"),
    ("email", "email"),
)
# How many of the token's other shops a wrong-shop refusal names, to help the merchant pick the right one.
_SHOPS_LISTED = 5
_TITLE_CHARS = 60  # shop titles are the merchant's own free text: keep the message short


def phase_of(status: str) -> Phase:
    """What a Printify order status means for cancelling (unknown statuses: Phase.UNKNOWN)."""
    return classify(status.strip().lower(), CANCELLABLE, TOO_LATE, CANCELED)


class PrintifyClient:
    """Talks to https://api.printify.com (or PRINTIFY_API_URL) with one account's token, about one Printify shop.

    The shop id (the account's store id) is part of every order path; without one every call raises
    ProviderError. Nothing is cached between calls: each job reads the provider afresh.
    """

    name = "printify"
    # This app does not place replacement orders at Printify: a change it cannot make is noted instead.
    supports_replacement = False

    def __init__(
        self,
        base_url: str,
        api_key: str,
        session: requests.Session,
        timeout: tuple[float, float],
        store_id: str | None = None,
    ):
        base = base_url.rstrip("/")
        # PRINTIFY_API_URL is the host; accept one written with the /v1 the reference's examples show too.
        self._base_url = base.removesuffix(API_PREFIX)
        self._api_key = api_key
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        self._session = session
        self._timeout = timeout
        self._shop_id = store_id.strip() if isinstance(store_id, str) and store_id.strip() else None

    def check_account(self) -> None:
        """The token lists its shops and the shop is among them, and the shop's orders can be read.

        ProviderRefused when Printify refuses the token or the shop is not one of the token's account.
        """
        shop_id = self._require_shop()
        response = self._request("GET", "/shops.json", what="Printify account check")
        self._raise_for_status(response, "Printify account check")
        shops = json_body(response, "Printify account check")
        if not isinstance(shops, list):
            raise ProviderError("Printify account check: the shop list is not a JSON array")
        ids = [str(shop.get("id")) for shop in shops if isinstance(shop, dict) and _is_text(shop.get("id"))]
        if shop_id not in ids:
            raise ProviderRefused(_wrong_shop_message(shop_id, shops))
        # Scopes are per token: one without orders.read would connect and then fail every cancellation.
        self._list_page(1, limit=1, what="Printify account check (orders)")

    def find_orders(self, reference_id: str) -> list[PrintOrder]:
        """Every order of the shop filed under exactly reference_id, among the MAX_PAGES newest pages."""
        return self.find_orders_by_any((reference_id,)).orders

    def find_orders_by_any(self, references: tuple[str, ...]) -> ReferenceSearch:
        """One pass over the newest pages for all references at once: the orders of the first reference (in the
        given order) that files any; none found, marked incomplete, when none does among the MAX_PAGES newest pages.

        Printify cannot filter by reference, so each page read serves every form (numeric id, name) at once,
        instead of reading the same pages once per form. Orders older than the bound are not searched: a
        store order cancelled that late has long gone to production (README, "Print providers").
        ProviderError when the orders found run on past the bound: not all of them could be checked.
        """
        self._require_shop()
        wanted = [reference for reference in references if reference]
        found: dict[str, list[PrintOrder]] = {reference: [] for reference in wanted}
        for page in range(1, MAX_PAGES + 1):
            raws, last = self._list_page(page, limit=PAGE_SIZE, what="Printify order search")
            hits = 0
            for raw in raws:
                for reference in wanted:
                    if _files_under(raw, reference):
                        found[reference].append(_parse_order(raw))
                        hits += 1
                        break
            first = next((reference for reference in wanted if found[reference]), None)
            # Orders made for one store order are created together; a page without one after a hit
            # means the run is over, and older orders cannot belong to it.
            if last or (first is not None and not hits):
                return _search_result(wanted, first, found, complete=True)
        first = next((reference for reference in wanted if found[reference]), None)
        if first is not None:
            raise ProviderError(
                f"Printify order search: orders for reference {first} continue past the {MAX_PAGES * PAGE_SIZE}"
                " newest orders of the shop; not all of them could be checked"
            )
        log_event("provider_search_bounded", provider=self.name, pages=MAX_PAGES, references=",".join(wanted))
        return _search_result(wanted, None, found, complete=False)

    def get_order(self, order_id: str) -> PrintOrder | None:
        """GET /v1/shops/{shop}/orders/{id}.json; None on 404."""
        response = self._request("GET", self._order_path(order_id, ".json"), what="Printify get order")
        if response.status_code == 404:
            return None
        self._raise_for_status(response, "Printify get order")
        order = _parse_order(json_object(response, "Printify get order"))
        if order.id != order_id:
            raise ProviderError(f"Printify get order: asked for {order_id}, the answer is order {order.id}")
        return order

    def cancel_order(self, order_id: str) -> CancelResult:
        """POST .../orders/{id}/cancel.json: 200 cancelled, 404 not found, 400/409/422 refused (not on-hold any more)."""
        path = self._order_path(order_id, "/cancel.json")
        write_fence.check()  # a job that lost its order lock must not write (plugin/write_fence.py)
        response = self._request("POST", path, what="Printify cancel")
        if response.status_code in (200, 204):
            return CancelResult.CANCELLED
        if response.status_code == 404:
            return CancelResult.NOT_FOUND
        if response.status_code in (400, 409, 422):
            # The refusal's status code is not documented; the job re-reads the order and reports its status.
            return CancelResult.REFUSED
        self._raise_for_status(response, "Printify cancel")
        raise ProviderError(f"Printify cancel: unexpected HTTP {response.status_code} {self._summary(response)}")

    def patch_order(self, order_id: str, quantities: dict[str, int], address: Address | None) -> PatchResult:
        """Always REFUSED: the v1 reference documents no way to edit a submitted order's items or address."""
        self._require_shop()
        return PatchResult.REFUSED

    def create_order(self, order: NewPrintOrder) -> PrintOrder:
        """Not supported: this app places no replacement orders at Printify (supports_replacement is False)."""
        raise ProviderError(
            "Printify: this app does not place replacement print orders at Printify; the change is noted on the order instead"
        )

    # -- helpers ---------------------------------------------------------------------------

    def _require_shop(self) -> str:
        """The shop id every Printify order path needs; ProviderError when the account has none."""
        if self._shop_id is None:
            raise ProviderError("the Printify shop id is required: connect Printify again with the shop's id")
        return self._shop_id

    def _order_path(self, order_id: str, suffix: str) -> str:
        shop_id = self._require_shop()
        if not isinstance(order_id, str) or not order_id:
            raise ProviderError("Printify: a print order id is required")
        return f"/shops/{quote(shop_id, safe='')}/orders/{quote(order_id, safe='')}{suffix}"

    def _list_page(self, page: int, *, limit: int, what: str) -> tuple[list[dict], bool]:
        """One page of the shop's orders and whether it is the last one."""
        shop_id = self._require_shop()
        response = self._request(
            "GET", f"/shops/{quote(shop_id, safe='')}/orders.json", what=what, params={"page": page, "limit": limit}
        )
        self._raise_for_status(response, what)
        body = json_object(response, what)
        data = body.get("data")
        if not isinstance(data, list):
            raise ProviderError(f"{what}: answer has no 'data' list")
        if not all(isinstance(raw, dict) for raw in data):
            # An entry we cannot read could be the order we look for: refuse rather than skip it.
            raise ProviderError(f"{what}: answer has an order that is not a JSON object")
        current, last_page = body.get("current_page"), body.get("last_page")
        last = len(data) < limit or body.get("next_page_url", "") is None
        if _is_int(current) and _is_int(last_page) and current >= last_page:
            last = True
        return data, last

    def _raise_for_status(self, response: requests.Response, what: str) -> None:
        """ProviderRefused on 401/403 in Printify's words, ProviderError on any other non-2xx; the token is never shown."""
        if response.status_code in (401, 403):
            raise ProviderRefused(
                f"Printify refused the API token (HTTP {response.status_code}) for {what}: {self._summary(response)}"
            )
        if not 200 <= response.status_code < 300:
            raise ProviderError(f"{what}: HTTP {response.status_code} {self._summary(response)}")

    def _summary(self, response: requests.Response) -> str:
        """error_summary of an answer, with the token blanked should Printify ever echo it."""
        return blank(error_summary(response), self._api_key, "[API token]")

    def _request(self, method: str, path: str, *, what: str, **kwargs) -> requests.Response:
        """send() with the token's headers; a 5xx or 429 message that echoes the token gets it blanked."""
        return send_blanking(
            self._session,
            method,
            self._base_url + API_PREFIX + path,
            secret=self._api_key,
            label="[API token]",
            what=what,
            timeout=self._timeout,
            headers=self._headers,
            **kwargs,
        )


def _search_result(wanted: list[str], first: str | None, found: dict[str, list[PrintOrder]], complete: bool) -> ReferenceSearch:
    """The search's answer: the first matching reference's orders, and the references it stands for having tried."""
    tried = wanted if first is None else wanted[: wanted.index(first) + 1]
    return ReferenceSearch(orders=found[first] if first else [], matched=first, tried=tuple(tried), complete=complete)


def _files_under(raw: dict, reference_id: str) -> bool:
    """Whether the order is filed under exactly reference_id, in any place Printify may keep it."""
    if not reference_id:
        return False
    metadata = raw.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    candidates = (raw.get("external_id"), raw.get("label"), metadata.get("shop_order_id"), metadata.get("shop_order_label"))
    return any(_is_text(value) and str(value) == reference_id for value in candidates)


def _reference_of(raw: dict) -> str:
    """The reference an order is filed under: its external id, else the sales channel's order id or label."""
    metadata = raw.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    for value in (raw.get("external_id"), metadata.get("shop_order_id"), metadata.get("shop_order_label")):
        if _is_text(value) and str(value):
            return str(value)
    return ""


def _parse_order(raw: dict) -> PrintOrder:
    """A PrintOrder from a Printify order; ProviderError when its id or status is not usable."""
    order_id = raw.get("id")
    if not isinstance(order_id, str) or not order_id:
        raise ProviderError("Printify order without an id")
    status = raw.get("status")
    if not isinstance(status, str) or not status.strip():
        raise ProviderError(f"Printify order {order_id} has no status")
    line_items = raw.get("line_items")
    if line_items is None:
        line_items = []
    if not isinstance(line_items, list):
        raise ProviderError(f"Printify order {order_id}: line_items is not a list")
    items = tuple(_parse_item(index, item) for index, item in enumerate(line_items) if isinstance(item, dict))
    address = raw.get("address_to")
    address = address if isinstance(address, dict) else {}
    shipping_method = raw.get("shipping_method")
    return PrintOrder(
        id=order_id,
        reference_id=_reference_of(raw),
        status=status.strip(),
        phase=phase_of(status),
        # Printify has no drafts: every order read back has been submitted.
        order_type="order",
        items=items,
        shipping_address=address,
        raw=raw,
        address=_parse_address(address),
        shipment_method=str(shipping_method) if _is_int(shipping_method) else None,
    )


def _parse_item(index: int, raw: dict) -> PrintItem:
    """A PrintItem from a line item; Printify gives line items no id, so product and variant name one."""
    product, variant = raw.get("product_id"), raw.get("variant_id")
    item_id = f"{product}:{variant}" if _is_text(product) and _is_text(variant) else str(index)
    quantity = raw.get("quantity")
    status = raw.get("status")
    return PrintItem(
        id=item_id,
        # Printify documents no per-item reference to the sales channel's line item.
        reference_id=None,
        quantity=quantity if _is_int(quantity) else 0,
        status=status if isinstance(status, str) else None,
    )


def _parse_address(raw: dict) -> Address:
    """An Address from Printify's address_to; non-text values count as absent."""
    fields = {ours: str(raw[theirs]) if _is_text(raw.get(theirs)) else "" for theirs, ours in _ADDRESS_FIELDS}
    fields["name"] = " ".join(part for part in (fields["first_name"], fields["last_name"]) if part)
    return Address(**fields)


def _wrong_shop_message(shop_id: str, shops: list) -> str:
    """Plain words for a shop id the token's account does not have, naming a few that it has."""
    known = [
        f"{shop.get('id')} ({shop['title'][:_TITLE_CHARS]})" if isinstance(shop.get("title"), str) else str(shop.get("id"))
        for shop in shops
        if isinstance(shop, dict) and _is_text(shop.get("id"))
    ][:_SHOPS_LISTED]
    listed = f"; its shops: {', '.join(known)}" if known else "; it has no shops"
    return f"Printify shop {shop_id} is not a shop of the account this API token belongs to{listed}"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_text(value: object) -> bool:
    """A string or an integer (ids come as either); never a bool or a float, whose str() would mislead."""
    return isinstance(value, str) or _is_int(value)
