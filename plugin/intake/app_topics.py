"""Handlers for app lifecycle and privacy topics: app/uninstalled, customers/data_request,
customers/redact, shop/redact. Privacy topics arrive after an uninstall too, so they do not
require an installed shop."""

from __future__ import annotations

from plugin.intake.delivery import Delivery, Rejection
from plugin.intake.registry import JobRequest, Route
from plugin.orders.ids import optional_id

FORGET_UNINSTALLED_SHOP = "jobs.uninstall.forget_uninstalled_shop"
REPORT_CUSTOMER_DATA = "jobs.privacy.report_customer_data"
REDACT_CUSTOMER = "jobs.privacy.redact_customer"
REDACT_SHOP = "jobs.privacy.redact_shop"


def app_uninstalled(delivery: Delivery) -> JobRequest:
    """The merchant removed the app: mark the shop uninstalled and delete its tokens."""
    # The payload is the Shop resource; its myshopify_domain must be the signed-for shop. No
    # X-Shopify-Triggered-At in the job: an unsigned header must not decide whether tokens go.
    _require_same_shop(delivery, "myshopify_domain")
    return JobRequest(
        func=FORGET_UNINSTALLED_SHOP,
        kwargs={"shop": delivery.shop, "webhook_id": delivery.webhook_id},
    )


def customers_data_request(delivery: Delivery) -> JobRequest:
    """A customer asked for their data: report which records concern their orders."""
    _require_same_shop(delivery, "shop_domain")
    data_request = delivery.payload.get("data_request")
    return JobRequest(
        func=REPORT_CUSTOMER_DATA,
        kwargs={
            "shop": delivery.shop,
            "order_ids": _id_list(delivery.payload, "orders_requested"),
            "customer_id": _customer_id(delivery.payload),
            "data_request_id": optional_id(data_request.get("id")) if isinstance(data_request, dict) else None,
            "webhook_id": delivery.webhook_id,
        },
    )


def customers_redact(delivery: Delivery) -> JobRequest:
    """A customer's data must go: delete the records about the listed orders."""
    _require_same_shop(delivery, "shop_domain")
    return JobRequest(
        func=REDACT_CUSTOMER,
        kwargs={
            "shop": delivery.shop,
            "order_ids": _id_list(delivery.payload, "orders_to_redact"),
            "customer_id": _customer_id(delivery.payload),
            "webhook_id": delivery.webhook_id,
        },
    )


def shop_redact(delivery: Delivery) -> JobRequest:
    """48 hours after an uninstall: delete everything the app keeps about the shop."""
    _require_same_shop(delivery, "shop_domain")
    return JobRequest(
        func=REDACT_SHOP,
        kwargs={"shop": delivery.shop, "webhook_id": delivery.webhook_id},
    )


def _require_same_shop(delivery: Delivery, field: str) -> None:
    """The signed body must name the header's shop; a body that names none is refused too.

    Only the body is signed: without this, a captured shop/redact body replayed with another
    X-Shopify-Shop-Domain header would erase the wrong shop. Shopify always sends the field on
    these topics; a body without it names no shop, so nothing signed ties it to the header's.
    """
    named = delivery.payload.get(field)
    if named is None or named == "":
        raise Rejection(400, f"payload '{field}' is missing: the signed body must name X-Shopify-Shop-Domain")
    if not isinstance(named, str) or named.lower() != delivery.shop:
        raise Rejection(400, f"payload '{field}' does not match X-Shopify-Shop-Domain")


def _id_list(payload: dict, field: str) -> list[str]:
    """A list of order ids as decimal strings (ints or digit strings; never floats)."""
    values = payload.get(field, [])
    if not isinstance(values, list):
        raise Rejection(400, f"payload '{field}' must be a list of order ids")
    ids = []
    for value in values:
        parsed = optional_id(value)
        if parsed is None:
            raise Rejection(400, f"payload '{field}' must be a list of order ids")
        ids.append(parsed)
    return sorted(set(ids))


def _customer_id(payload: dict) -> str | None:
    customer = payload.get("customer")
    return optional_id(customer.get("id")) if isinstance(customer, dict) else None


ROUTES = (
    Route("app/uninstalled", app_uninstalled),
    Route("customers/data_request", customers_data_request, requires_installed_shop=False),
    Route("customers/redact", customers_redact, requires_installed_shop=False),
    Route("shop/redact", shop_redact, requires_installed_shop=False),
)
