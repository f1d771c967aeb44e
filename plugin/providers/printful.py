"""Printful API (v1) client: check an account's token, find, read, cancel and edit (drafts) print orders.

Source: Printful's public API reference, "API Documentation | Printful (1.0)",
https://developers.printful.com/docs/ (its OpenAPI file: https://developers.printful.com/docs/openapi.json),
sections "Requests and responses", "Rate Limits", "Authorization", "Orders API" and "Errors".

Confirmed there:
- Base URL https://api.printful.com/; every answer is a JSON object `{"code": <HTTP status>, "result": ...}`;
  an error answer is `{"code": 4xx, "result": "<message>", "error": {"reason": ..., "message": ...}}`.
- Authentication `Authorization: Bearer <token>`. A token is store-level (one store) or account-level (every
  store of the account); an account-level token names the store in the `X-PF-Store-Id` header on the
  endpoints that need a store context ("required only for account level token").
- `GET /orders?offset=&limit=` (limit at most 100; filter `status` only: no external-id filter), `GET
  /orders/{id}` by Printful order id (an integer) or by external id when prefixed with `@`; `DELETE
  /orders/{id}` "Cancels pending order or draft" (answers 200 with the order; 401; 404); `PUT /orders/{id}`
  "Updates unsubmitted order": items named by `id` are updated, items left out are deleted; error OR-1
  ORDER_NO_LONGER_EDITABLE: only `draft` and `failed` orders are editable.
- Order statuses: draft, pending, failed, canceled, inprocess ("can no longer be cancelled or modified"),
  onhold, partial, fulfilled, archived ("archived and hidden from the UI").
- External ID: up to 32 characters (digits, Latin letters, dashes, underscores), unique within the store;
  line items carry an `external_id` too. So one store order is at most one Printful order per store:
  Printful does not split a reference over several orders the way Gelato does.
- Rate limit: 120 calls per minute in general (429 TOO MANY REQUESTS; 60 s lockout documented for
  the shipping-rate API); the "Errors" table also lists 419 RATE LIMITED WARNING (taken as RateLimited).
  401 UNAUTHORIZED, 403 FORBIDDEN.
- Read in full from a copy of that OpenAPI file (github.com/reisr3/printful-demo, printfulapi.json, 2024-09);
  the status list also matches Printful's v2 SDK docs (spencerlepine.github.io/printful-sdk-js-v2, OrderSummary).

Assumed (the documentation leaves it open):
- What DELETE answers for an order past `pending`: not documented; taken to be a 4xx error body (400, or
  409), read as a refusal. The job then re-reads the order and the provider's status decides.
- Which reference Printful's own Shopify integration writes as `external_id` (the numeric Shopify order id,
  or the order name, with or without "#"): not documented. find_orders answers for any reference, exactly,
  and plugin/providers/reference_search.py tries each form.
- Whether `failed` and `onhold` orders can be cancelled: not documented (UNKNOWN: a cancel is tried).
"""

from __future__ import annotations

from urllib.parse import quote

import requests

from plugin import write_fence
from plugin.errors import ProviderError, ProviderRefused, RateLimited
from plugin.http import error_summary, parse_retry_after
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
from plugin.providers.answers import blank, optional_text, result_of, send_blanking

# Confirmed: DELETE cancels a pending order or a draft.
CANCELLABLE = frozenset({"draft", "pending"})
# Confirmed: inprocess "can no longer be cancelled"; partial and fulfilled have shipped items.
TOO_LATE = frozenset({"inprocess", "partial", "fulfilled"})
# What a too-late print order will do next, in the words a store-order note uses.
FATES = {
    "inprocess": "is being fulfilled: it will be printed and shipped to the customer as placed",
    "partial": "has partly shipped: the rest will follow to the customer",
    "fulfilled": "has already shipped: it is on its way to the customer",
}
CANCELED = "canceled"
# failed (returned for review before fulfilment), onhold (a problem during fulfilment) and archived (hidden
# from the UI, any stage) are UNKNOWN: the docs do not say whether DELETE accepts them, so Printful decides.
# Confirmed (error OR-1): only these statuses can be edited with PUT /orders/{id}.
EDITABLE = frozenset({"draft", "failed"})
# Confirmed ("Errors"): 419 RATE LIMITED WARNING, "returned by the API when the client is being rate limited".
RATE_LIMITED_WARNING = 419
# Assumed: the statuses a refused DELETE or PUT answers with (not documented).
REFUSAL_STATUSES = frozenset({400, 409})
# Printful recipient field ↔ Address field (the app's, Shopify's names); Printful has one `name` only.
_ADDRESS_FIELDS = (
    ("name", "name"),
    ("company", "company"),
    ("address1", "address1"),
    ("address2", "address2"),
    ("city", "city"),
    ("zip", "zip"),
    ("state_code", "province_code"),
    ("country_code", "country_code"),
    ("phone", "phone"),
    ("email", "email"),
)


def phase_of(status: str) -> Phase:
    """What a Printful order status means for cancelling."""
    return classify(status, CANCELLABLE, TOO_LATE, CANCELED)


class PrintfulClient:
    """Talks to https://api.printful.com (or PRINTFUL_API_URL) with one account's bearer token.

    With a store_id, every request names that store in X-PF-Store-Id (an account-level token needs it; a
    store-level token works without it) and only that store's orders are accepted as found.
    """

    name = "printful"
    # This app does not place replacement print orders at Printful: changes it cannot make are noted instead.
    supports_replacement = False

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
        self._store_id = (store_id or "").strip() or None
        if self._store_id is not None and not (self._store_id.isascii() and self._store_id.isdigit()):
            # Printful store ids are integers; anything else would only reach Printful as a broken header.
            raise ProviderError(f"a Printful store id is a number (as GET /stores lists it), not {self._store_id[:40]!r}")
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        if self._store_id is not None:
            self._headers["X-PF-Store-Id"] = self._store_id
        self._session = session
        self._timeout = timeout

    def check_account(self) -> None:
        """One cheap live call (a one-order list in the token's store); ProviderRefused when Printful refuses the token."""
        response = self._request("GET", "/orders", what="Printful account check", params={"limit": 1})
        if response.status_code in (401, 403):
            raise ProviderRefused(f"Printful refused the API token (HTTP {response.status_code}): {self._summary(response)}")
        if response.status_code != 200:
            raise ProviderError(f"Printful account check: HTTP {response.status_code} {self._summary(response)}")
        # A 200 from something that is not Printful's API (a wrong PRINTFUL_API_URL) proves nothing.
        if not isinstance(_result(response, "Printful account check"), list):
            raise ProviderError("Printful account check: answer has no 'result' list")

    def find_orders(self, reference_id: str) -> list[PrintOrder]:
        """The Printful order whose external_id is exactly reference_id (in the store, if set): GET /orders/@{id}."""
        if not isinstance(reference_id, str) or not reference_id.strip():
            return []  # an empty external id names no order, and "@" alone must never be asked
        # quote(safe="") keeps the reference one path segment ("#", "/", "?", "%" encoded); the "@" prefix makes
        # Printful read it as an external id, never as a Printful order id, even when it is all digits.
        response = self._request("GET", f"/orders/@{quote(reference_id, safe='')}", what="Printful order search")
        if response.status_code == 404:
            return []
        if response.status_code == 400 and not _valid_external_id(reference_id):
            # Assumed: Printful refuses a reference no external id can have ("#1001"); no order is filed under it.
            return []
        if response.status_code != 200:
            raise ProviderError(f"Printful order search: HTTP {response.status_code} {self._summary(response)}")
        order = _parse_order(_result_object(response, "Printful order search"))
        # Re-check: a lax lookup must never hand back another order (or another store's) to be cancelled.
        if order.reference_id != reference_id or not self._in_store(order.raw):
            return []
        return [order]

    def get_order(self, order_id: str) -> PrintOrder | None:
        """GET /orders/{id} by Printful order id; None on 404."""
        response = self._request("GET", self._order_path(order_id), what="Printful get order")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ProviderError(f"Printful get order: HTTP {response.status_code} {self._summary(response)}")
        order = _parse_order(_result_object(response, "Printful get order"))
        return order if self._in_store(order.raw) else None

    def cancel_order(self, order_id: str) -> CancelResult:
        """DELETE /orders/{id}: 200 cancelled, 404 not found, 400/409 refused (no longer pending or a draft)."""
        path = self._order_path(order_id)
        write_fence.check()  # a job that lost its order lock must not write (plugin/write_fence.py)
        response = self._request("DELETE", path, what="Printful cancel")
        return result_of(
            response,
            "Printful cancel",
            {200: CancelResult.CANCELLED, 404: CancelResult.NOT_FOUND, **dict.fromkeys(REFUSAL_STATUSES, CancelResult.REFUSED)},
            self._summary(response),
        )

    def patch_order(self, order_id: str, quantities: dict[str, int], address: Address | None) -> PatchResult:
        """PUT /orders/{id} on a draft (or failed) order: item quantities by Printful item id, and the recipient."""
        if not quantities and address is None:
            return PatchResult.PATCHED
        path = self._order_path(order_id)
        response = self._request("GET", path, what="Printful read draft")
        if response.status_code == 404:
            return PatchResult.NOT_FOUND
        if response.status_code != 200:
            raise ProviderError(f"Printful read draft: HTTP {response.status_code} {self._summary(response)}")
        raw = _result_object(response, "Printful read draft")
        current = _parse_order(raw)
        if not self._in_store(raw):
            return PatchResult.NOT_FOUND
        if current.status not in EDITABLE:
            return PatchResult.REFUSED  # OR-1: no write that Printful would refuse anyway
        body: dict = {}
        if quantities:
            body["items"] = _items_with_quantities(raw, quantities)
        if address is not None:
            # Cleared parts (no second line any more) are sent empty so the draft loses them too.
            body["recipient"] = {theirs: getattr(address, ours) for theirs, ours in _ADDRESS_FIELDS if ours != "email"}
            if address.email:
                body["recipient"]["email"] = address.email
        write_fence.check()
        response = self._request("PUT", path, what="Printful patch draft", json=body)
        return result_of(
            response,
            "Printful patch draft",
            {200: PatchResult.PATCHED, 404: PatchResult.NOT_FOUND, **dict.fromkeys(REFUSAL_STATUSES, PatchResult.REFUSED)},
            self._summary(response),
        )

    def create_order(self, order: NewPrintOrder) -> PrintOrder:
        """Not offered: this app places no replacement print orders at Printful (supports_replacement is False)."""
        raise ProviderError(
            "Printful: this app does not place print orders at Printful; place the order in the Printful dashboard"
        )

    def _order_path(self, order_id: str) -> str:
        """The path of a Printful order by its id; an id that is not one (e.g. "@…", an external id) is refused."""
        if not isinstance(order_id, str) or not order_id.isascii() or not order_id.isdigit():
            raise ProviderError(f"Printful order ids are integers, not {str(order_id)[:40]!r}")
        return f"/orders/{order_id}"

    def _in_store(self, raw: dict) -> bool:
        """With a store id, an order Printful says is another store's is not ours (the header should already ensure it)."""
        store = raw.get("store")
        return self._store_id is None or store is None or str(store) == self._store_id

    def _summary(self, response: requests.Response) -> str:
        """Printful's own words for an error (error.message, else result), with the token blanked should it echo it."""
        return blank(_printful_message(response) or error_summary(response), self._api_key, "[API token]")

    def _request(self, method: str, path: str, *, what: str, **kwargs) -> requests.Response:
        response = send_blanking(
            self._session,
            method,
            self._base_url + path,
            secret=self._api_key,
            label="[API token]",
            what=what,
            timeout=self._timeout,
            headers=self._headers,
            **kwargs,
        )
        if response.status_code == RATE_LIMITED_WARNING:
            # Printful's own rate-limit answer besides 429 ("Errors"): worth retrying later, not a refusal.
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise RateLimited(f"{what}: HTTP 419 {self._summary(response)}", retry_after=retry_after)
        return response


def _printful_message(response: requests.Response, limit: int = 200) -> str | None:
    """The message of Printful's documented error shape, or None when the body is not that shape."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str) and error["message"].strip():
        return error["message"].strip().replace("\n", " ")[:limit]
    if isinstance(body.get("result"), str) and body["result"].strip():
        return body["result"].strip().replace("\n", " ")[:limit]
    return None


def _valid_external_id(reference: str) -> bool:
    """Whether a reference fits Printful's documented external id: 1-32 digits, Latin letters, '-' or '_'."""
    return 0 < len(reference) <= 32 and all(c.isascii() and (c.isalnum() or c in "-_") for c in reference)


def _result(response: requests.Response, what: str) -> object:
    """The `result` of Printful's `{"code", "result"}` envelope."""
    try:
        body = response.json()
    except ValueError as exc:
        raise ProviderError(f"{what}: answer is not JSON") from exc
    if not isinstance(body, dict) or "result" not in body:
        raise ProviderError(f"{what}: answer is not Printful's {{code, result}} object")
    return body["result"]


def _result_object(response: requests.Response, what: str) -> dict:
    result = _result(response, what)
    if not isinstance(result, dict):
        raise ProviderError(f"{what}: 'result' is not an object")
    return result


def _items_with_quantities(raw: dict, quantities: dict[str, int]) -> list[dict]:
    """Every item of the order by id, with the new quantities: PUT deletes the items a request leaves out."""
    items = [item for item in raw.get("items") or () if isinstance(item, dict)]
    known = {str(item.get("id")) for item in items}
    unknown = sorted(set(quantities) - known)
    if unknown:
        raise ProviderError(f"Printful patch draft: the order has no item {unknown[0]!r}")
    for item_id, quantity in quantities.items():
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise ProviderError(f"Printful patch draft: quantity of item {item_id!r} must be a positive integer")
    return [{"id": item["id"], "quantity": quantities.get(str(item["id"]), item.get("quantity"))} for item in items]


def _parse_order(raw: dict) -> PrintOrder:
    """A PrintOrder from a Printful order object; a shape no Printful order has is a ProviderError."""
    order_id = raw.get("id")
    if isinstance(order_id, bool) or not isinstance(order_id, (int, str)) or not str(order_id).isdigit():
        raise ProviderError("Printful order without an integer id")
    status = raw.get("status")
    if status is not None and not isinstance(status, str):
        raise ProviderError(f"Printful order {order_id}: status is not text")
    status = (status or "unknown").strip().lower() or "unknown"
    raw_items = raw.get("items")
    if raw_items is None:
        raw_items = []
    if not isinstance(raw_items, list):
        raise ProviderError(f"Printful order {order_id}: items is not a list")
    recipient = raw.get("recipient")
    if recipient is not None and not isinstance(recipient, dict):
        raise ProviderError(f"Printful order {order_id}: recipient is not an object")
    recipient = recipient or {}
    costs = raw.get("costs")
    return PrintOrder(
        id=str(order_id),
        reference_id=optional_text(raw.get("external_id")) or "",
        status=status,
        phase=phase_of(status),
        order_type="draft" if status == "draft" else "order",
        items=tuple(_parse_item(item, order_id) for item in raw_items),
        shipping_address=recipient,
        raw=raw,
        address=Address(**{ours: optional_text(recipient.get(theirs)) or "" for theirs, ours in _ADDRESS_FIELDS}),
        currency=optional_text(costs.get("currency")) if isinstance(costs, dict) else None,
        shipment_method=optional_text(raw.get("shipping")),
    )


def _parse_item(item: object, order_id: object) -> PrintItem:
    """A PrintItem from a Printful line item; its external_id is the store's line item id."""
    if not isinstance(item, dict):
        raise ProviderError(f"Printful order {order_id}: an item is not an object")
    quantity = item.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
        raise ProviderError(f"Printful order {order_id}: an item's quantity is not a count")
    files = item.get("files")
    return PrintItem(
        id=optional_text(item.get("id")) or "",
        reference_id=optional_text(item.get("external_id")),
        quantity=quantity,
        product_uid=optional_text(item.get("variant_id")),
        files=tuple(f for f in files if isinstance(f, dict)) if isinstance(files, list) else (),
    )
