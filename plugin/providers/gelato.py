"""Gelato Order API v4 client: check an account's key, search, read, cancel, edit (drafts) and place print orders."""

from __future__ import annotations

from urllib.parse import quote

import requests

from plugin import write_fence
from plugin.errors import ProviderError, ProviderRefused
from plugin.http import error_summary
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
from plugin.providers.answers import blank, json_object, optional_text, result_of, send_blanking

PAGE_SIZE = 100  # Gelato's maximum `limit` for orders:search
# A store order split into more print orders than this is not a real store; stop paginating.
MAX_PAGES = 50

# Gelato's order statuses (DESIGN.md; https://dashboard.gelato.com/docs/orders/v4/): before production a
# print order can still be cancelled.
BEFORE_PRODUCTION = frozenset(
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
TOO_LATE = frozenset({"in_production", "printed", "shipped", "in_transit", "delivered", "returned"})
# What a too-late print order will do next, in the words a store-order note uses.
FATES = {
    "in_production": "is in production: it will be printed and shipped to the customer as placed",
    "printed": "is already printed: it will be shipped to the customer as placed",
    "shipped": "has already shipped: it is on its way to the customer",
    "in_transit": "is in transit: it is on its way to the customer",
    "delivered": "was already delivered to the customer",
    "returned": "was returned to the sender",
}
CANCELED = "canceled"
# Gelato shippingAddress field ↔ Address field (the app's, Shopify's names).
_ADDRESS_FIELDS = (
    ("firstName", "first_name"),
    ("lastName", "last_name"),
    ("companyName", "company"),
    ("addressLine1", "address1"),
    ("addressLine2", "address2"),
    ("city", "city"),
    ("postCode", "zip"),
    ("state", "province_code"),
    ("country", "country_code"),
    ("phone", "phone"),
    ("email", "email"),
)


class GelatoClient:
    """Talks to https://order.gelatoapis.com (or GELATO_API_URL) with one account's X-API-KEY.

    With a store_id, searches look only at that Gelato store's orders (orders:search `storeIds`).
    """

    name = "gelato"
    supports_replacement = True

    def __init__(
        self,
        base_url: str,
        api_key: str,
        session: requests.Session,
        timeout: tuple[float, float],
        store_id: str | None = None,
    ):
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._headers = {"X-API-KEY": api_key, "Accept": "application/json"}
        self._session = session
        self._timeout = timeout
        self._store_id = store_id or None

    def check_account(self) -> None:
        """One cheap live call (a one-result search); ProviderRefused when Gelato refuses the key."""
        body = self._search_filters({"limit": 1})
        response = self._request("POST", "/v4/orders:search", what="Gelato account check", json=body)
        if response.status_code in (401, 403):
            raise ProviderRefused(f"Gelato refused the API key (HTTP {response.status_code}): {self._summary(response)}")
        if response.status_code != 200:
            raise ProviderError(f"Gelato account check: HTTP {response.status_code} {self._summary(response)}")
        # A 200 from something that is not Gelato's order API (a wrong GELATO_API_URL) proves nothing.
        if not isinstance(json_object(response, "Gelato account check").get("orders"), list):
            raise ProviderError("Gelato account check: answer has no 'orders' list")

    def find_orders(self, reference_id: str) -> list[PrintOrder]:
        """Every Gelato order whose orderReferenceId equals reference_id (in the store, if set), across all pages."""
        orders: list[PrintOrder] = []
        for page in range(MAX_PAGES):
            body = self._search_filters({"orderReferenceIds": [reference_id], "limit": PAGE_SIZE, "offset": page * PAGE_SIZE})
            response = self._request("POST", "/v4/orders:search", what="Gelato order search", json=body)
            if response.status_code != 200:
                raise ProviderError(f"Gelato order search: HTTP {response.status_code} {error_summary(response)}")
            found = json_object(response, "Gelato order search").get("orders")
            if not isinstance(found, list):
                raise ProviderError("Gelato order search: answer has no 'orders' list")
            orders.extend(_parse_order(raw) for raw in found if isinstance(raw, dict) and self._is_match(raw, reference_id))
            if len(found) < PAGE_SIZE:
                return orders
        raise ProviderError(f"Gelato order search: more than {MAX_PAGES * PAGE_SIZE} orders for one reference")

    def get_order(self, order_id: str) -> PrintOrder | None:
        """GET /v4/orders/{id}; None on 404."""
        response = self._request("GET", f"/v4/orders/{quote(order_id, safe='')}", what="Gelato get order")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ProviderError(f"Gelato get order: HTTP {response.status_code} {error_summary(response)}")
        return _parse_order(json_object(response, "Gelato get order"))

    def cancel_order(self, order_id: str) -> CancelResult:
        """POST /v4/orders/{id}:cancel: 200 cancelled, 409 refused, 404 not found."""
        write_fence.check()  # a job that lost its order lock must not write (plugin/write_fence.py)
        response = self._request("POST", f"/v4/orders/{quote(order_id, safe='')}:cancel", what="Gelato cancel")
        return result_of(
            response,
            "Gelato cancel",
            {
                200: CancelResult.CANCELLED,
                204: CancelResult.CANCELLED,
                409: CancelResult.REFUSED,
                404: CancelResult.NOT_FOUND,
            },
            self._summary(response),
        )

    def patch_order(self, order_id: str, quantities: dict[str, int], address: Address | None) -> PatchResult:
        """PATCH /v4/orders/{id} (drafts only): 200 patched, 409 refused (not a draft), 404 not found."""
        body: dict = {}
        if quantities:
            body["items"] = [{"id": item_id, "quantity": quantity} for item_id, quantity in quantities.items()]
        if address is not None:
            # Cleared parts (e.g. no second line any more) are sent empty so the draft loses them too.
            body["shippingAddress"] = _gelato_address(address, keep_empty=True)
        if not body:
            return PatchResult.PATCHED
        write_fence.check()
        response = self._request("PATCH", f"/v4/orders/{quote(order_id, safe='')}", what="Gelato patch draft", json=body)
        return result_of(
            response,
            "Gelato patch draft",
            {
                200: PatchResult.PATCHED,
                409: PatchResult.REFUSED,
                404: PatchResult.NOT_FOUND,
            },
            self._summary(response),
        )

    def create_order(self, order: NewPrintOrder) -> PrintOrder:
        """POST /v4/orders: place a print order; any 4xx is permanent (Gelato refused the order)."""
        body = {
            "orderType": "order",
            "orderReferenceId": order.reference_id,
            "customerReferenceId": order.customer_reference_id,
            "currency": order.currency,
            # Empty parts sent empty: a missing second line must not be filled in from anywhere.
            "shippingAddress": _gelato_address(order.address, keep_empty=True),
            "items": [
                {
                    "itemReferenceId": item.reference_id,
                    "productUid": item.product_uid,
                    "files": [dict(f) for f in item.files],
                    "quantity": item.quantity,
                }
                for item in order.items
            ],
        }
        if order.shipment_method:
            body["shipmentMethodUid"] = order.shipment_method
        write_fence.check()
        response = self._request("POST", "/v4/orders", what="Gelato create order", json=body)
        if response.status_code not in (200, 201):
            raise ProviderError(f"Gelato create order: HTTP {response.status_code} {error_summary(response)}")
        return _parse_order(json_object(response, "Gelato create order"))

    def _search_filters(self, body: dict) -> dict:
        """The orders:search body with the store filter added when this client searches one store."""
        if self._store_id is not None:
            return {**body, "storeIds": [self._store_id]}
        return body

    def _is_match(self, raw: dict, reference_id: str) -> bool:
        """The filters should be exact; re-check so a lax search never cancels someone else's order.

        Strict on the store too: another store of the same account (an Etsy shop, say) can have an
        order under the same reference, and Gelato's search summaries carry storeId.
        """
        if str(raw.get("orderReferenceId")) != reference_id:
            return False
        return self._store_id is None or raw.get("storeId") == self._store_id

    def _summary(self, response: requests.Response) -> str:
        """error_summary of an answer, with the API key blanked should Gelato ever echo it."""
        return blank(error_summary(response), self._api_key, "[API key]")

    def _request(self, method: str, path: str, *, what: str, **kwargs) -> requests.Response:
        return send_blanking(
            self._session,
            method,
            self._base_url + path,
            secret=self._api_key,
            label="[API key]",
            what=what,
            timeout=self._timeout,
            headers=self._headers,
            **kwargs,
        )


def phase_of(status: str) -> Phase:
    """What a Gelato status means for cancelling."""
    return classify(status, BEFORE_PRODUCTION, TOO_LATE, CANCELED)


def _parse_order(raw: dict) -> PrintOrder:
    """A PrintOrder from a Gelato order or search summary; tolerant of missing optional fields."""
    order_id = raw.get("id")
    if not isinstance(order_id, str) or not order_id:
        raise ProviderError("Gelato order without an id")
    items = tuple(
        PrintItem(
            id=str(item.get("id", "")),
            reference_id=None if item.get("itemReferenceId") is None else str(item.get("itemReferenceId")),
            quantity=int(item.get("quantity") or 0),
            status=item.get("fulfillmentStatus"),
            product_uid=item.get("productUid"),
            files=tuple(item.get("files") or ()),
        )
        for item in raw.get("items") or ()
        if isinstance(item, dict)
    )
    address = raw.get("shippingAddress")
    status = str(raw.get("fulfillmentStatus") or "unknown").lower()
    return PrintOrder(
        id=order_id,
        reference_id=str(raw.get("orderReferenceId", "")),
        status=status,
        phase=phase_of(status),
        order_type=str(raw.get("orderType") or "order"),
        items=items,
        shipping_address=address if isinstance(address, dict) else {},
        raw=raw,
        address=_parse_address(address if isinstance(address, dict) else {}),
        customer_reference_id=optional_text(raw.get("customerReferenceId")),
        currency=optional_text(raw.get("currency")),
        shipment_method=optional_text(raw.get("shipmentMethodUid")),
    )


def _parse_address(raw: dict) -> Address:
    """An Address from Gelato's shippingAddress; non-text values count as absent."""
    fields = {ours: optional_text(raw.get(theirs)) or "" for theirs, ours in _ADDRESS_FIELDS}
    fields["name"] = " ".join(part for part in (fields["first_name"], fields["last_name"]) if part)
    return Address(**fields)


def _gelato_address(address: Address, keep_empty: bool = False) -> dict:
    """Gelato's shippingAddress for an Address; empty parts left out (sent empty with keep_empty, but email)."""
    return {
        theirs: getattr(address, ours)
        for theirs, ours in _ADDRESS_FIELDS
        if getattr(address, ours) or (keep_empty and ours != "email")
    }
