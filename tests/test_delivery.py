"""Parsing a raw webhook request into a verified Delivery, or a Rejection with its status."""

import hashlib
import json

import pytest

from plugin.errors import InvalidOrder
from plugin.intake.delivery import Delivery, Rejection, parse_delivery
from plugin.orders.state import order_id_of
from plugin.shopify.webhook_signature import sign

SECRET = "s3cret"
BODY = json.dumps({"id": 820982911946154508, "note": None}).encode()


def headers(body=BODY, **overrides):
    base = {
        "X-Shopify-Hmac-Sha256": sign(body, SECRET),
        "X-Shopify-Topic": "orders/cancelled",
        "X-Shopify-Shop-Domain": "demo.myshopify.com",
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "X-Shopify-Event-Id": "98880550-7158-44d4-b7cd-2c97c8a091b5",
        "X-Shopify-Triggered-At": "2026-11-27T10:00:00.000Z",
        "X-Shopify-API-Version": "2026-10",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


class CaseInsensitive(dict):
    """What Flask hands us: header lookups ignore case."""

    def get(self, key, default=None):
        for name, value in self.items():
            if name.lower() == key.lower():
                return value
        return default


def test_valid_delivery_parsed_with_big_int_id():
    delivery = parse_delivery(CaseInsensitive(headers()), BODY, [SECRET])
    assert delivery.topic == "orders/cancelled"
    assert delivery.shop == "demo.myshopify.com"
    assert delivery.payload["id"] == 820982911946154508
    assert isinstance(delivery.payload["id"], int)


def test_header_names_are_case_insensitive():
    lowered = CaseInsensitive({k.lower(): v for k, v in headers().items()})
    assert parse_delivery(lowered, BODY, [SECRET]).webhook_id == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"


@pytest.mark.parametrize(
    "overrides, status",
    [
        ({"X-Shopify-Hmac-Sha256": None}, 401),
        ({"X-Shopify-Hmac-Sha256": sign(BODY, "other")}, 401),
        ({"X-Shopify-Topic": None}, 400),
        ({"X-Shopify-Shop-Domain": None}, 400),
        ({"X-Shopify-Webhook-Id": None}, 400),
        ({"X-Shopify-Shop-Domain": "evil.com"}, 400),
        ({"X-Shopify-Shop-Domain": "shop.myshopify.com.evil.com"}, 400),
        ({"X-Shopify-Webhook-Id": "x" * 300}, 400),
    ],
)
def test_rejections(overrides, status):
    with pytest.raises(Rejection) as caught:
        parse_delivery(CaseInsensitive(headers(**overrides)), BODY, [SECRET])
    assert caught.value.status == status
    assert caught.value.reason


def test_signature_checked_before_headers():
    # An unsigned request learns nothing about which header it lacks.
    with pytest.raises(Rejection) as caught:
        parse_delivery(CaseInsensitive(headers(**{"X-Shopify-Hmac-Sha256": None, "X-Shopify-Topic": None})), BODY, [SECRET])
    assert caught.value.status == 401


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'"text"', b"\xff\xfe", b"", b"[" * 100000])
def test_bodies_that_are_not_json_objects(body):
    with pytest.raises(Rejection) as caught:
        parse_delivery(CaseInsensitive(headers(body=body)), body, [SECRET])
    assert caught.value.status == 400


def test_no_secret_configured_rejects():
    with pytest.raises(Rejection) as caught:
        parse_delivery(CaseInsensitive(headers()), BODY, [])
    assert caught.value.status == 401


@pytest.mark.parametrize(
    "value, expected", [(820982911946154508, "820982911946154508"), ("820982911946154508", "820982911946154508"), (1, "1")]
)
def test_order_id_accepted(value, expected):
    assert order_id_of({"id": value}) == expected


@pytest.mark.parametrize("value", [8.209829119461545e17, None, True, "", "12a", -5, 0, 2**64, [1], {"id": 1}, "١٢٣"])
def test_order_id_rejected(value):
    with pytest.raises(InvalidOrder, match="must be an integer id"):
        order_id_of({"id": value})


def test_body_digest_is_the_signed_body_whatever_the_headers_say():
    """Replays are recognised by their body: the unsigned headers do not change its digest."""
    first = parse_delivery(CaseInsensitive(headers()), BODY, [SECRET])
    replayed = parse_delivery(
        CaseInsensitive(
            headers(
                **{
                    "X-Shopify-Webhook-Id": "fresh-id",
                    "X-Shopify-Event-Id": "fresh-event",
                    "X-Shopify-Triggered-At": "2026-11-28T10:00:00.000Z",
                }
            )
        ),
        BODY,
        [SECRET],
    )
    assert first.body_digest == replayed.body_digest == hashlib.sha256(BODY).hexdigest()
    other = json.dumps({"id": 820982911946154509}).encode()
    assert parse_delivery(CaseInsensitive(headers(body=other)), other, [SECRET]).body_digest != first.body_digest


def test_a_delivery_built_by_the_app_has_no_body_digest():
    """Deliveries built without a body (the reconciliation sweep) keep working: the digest defaults to None."""
    built = Delivery(
        topic="orders/updated",
        shop="demo.myshopify.com",
        webhook_id="reconcile:1",
        event_id=None,
        triggered_at=None,
        api_version=None,
        payload={},
    )
    assert built.body_digest is None
