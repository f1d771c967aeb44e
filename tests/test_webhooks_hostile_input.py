"""Property-based: whatever arrives at /webhooks, never a 5xx, and never a job unless signed and valid."""

import json
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.cancellation import mirror_cancellation
from jobs.tell_store import tell_cancellation
from plugin.errors import InvalidPayload, PermanentError
from plugin.shopify.webhook_signature import sign
from tests.conftest import API_SECRET, SHOP

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)
# Newlines cannot travel in an HTTP header at all; everything else printable can.
header_text = st.text(
    alphabet=string.printable.replace("\n", "").replace("\r", "").replace("\x0b", "").replace("\x0c", ""), max_size=80
)
topics = st.sampled_from(["orders/cancelled", "orders/updated", "app/uninstalled", "products/update", "", "ORDERS/CANCELLED"])
shops = st.sampled_from([SHOP, "evil.com", "x.myshopify.com.evil.com", "", "127.0.0.1", "other.myshopify.com"])


@pytest.fixture
def client(app, installed_shop):
    return app.test_client()


def _post(client, body: bytes, headers: dict):
    return client.post("/webhooks", data=body, headers={k: v for k, v in headers.items() if v is not None})


@SETTINGS
@given(body=st.binary(max_size=2000), topic=topics, shop=shops, webhook_id=header_text, signature=header_text)
def test_unsigned_garbage_never_5xx_never_queued(client, queue, body, topic, shop, webhook_id, signature):
    response = _post(
        client,
        body,
        {
            "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": shop,
            "X-Shopify-Webhook-Id": webhook_id,
            "X-Shopify-Hmac-Sha256": signature,
        },
    )
    assert response.status_code == 401
    assert queue.count == 0


@SETTINGS
@given(payload=json_values, topic=topics, shop=shops, webhook_id=st.uuids())
def test_signed_arbitrary_json_never_5xx_and_jobs_only_for_valid_orders(client, queue, payload, topic, shop, webhook_id):
    body = json.dumps(payload).encode()
    before = queue.count
    response = _post(
        client,
        body,
        {
            "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": shop,
            "X-Shopify-Webhook-Id": str(webhook_id),
            "X-Shopify-Hmac-Sha256": sign(body, API_SECRET),
        },
    )
    assert response.status_code < 500
    if queue.count > before:
        assert response.status_code == 200
        assert shop == SHOP and isinstance(payload, dict)
        job = queue.jobs[-1]
        assert job.kwargs["shop"] == SHOP
        if topic != "app/uninstalled":  # the uninstall job is about the shop, not an order
            assert job.kwargs["order_id"].isdigit()


@SETTINGS
@given(
    field=st.sampled_from(["id", "line_items", "shipping_address", "updated_at", "cancelled_at", "note", "tags"]),
    value=json_values,
    encoding=st.sampled_from(["utf-8", "utf-16", "latin-1"]),
    webhook_id=st.uuids(),
)
def test_wrong_types_in_known_fields(client, queue, shopify, field, value, encoding, webhook_id):
    order_id = 820982911946154508
    payload = {"id": order_id, "updated_at": "2026-11-27T10:00:00-05:00", "line_items": [], "shipping_address": None}
    payload[field] = value
    text = json.dumps(payload, ensure_ascii=False)
    try:
        body = text.encode(encoding)
    except UnicodeEncodeError:
        body = text.encode("utf-8", "surrogatepass")
    for topic in ("orders/cancelled", "orders/updated"):
        response = _post(
            client,
            body,
            {
                "X-Shopify-Topic": topic,
                "X-Shopify-Shop-Domain": SHOP,
                "X-Shopify-Webhook-Id": f"{webhook_id}-{topic}",
                "X-Shopify-Hmac-Sha256": sign(body, API_SECRET),
            },
        )
        assert response.status_code < 500, (topic, payload, response.get_json())
        assert response.status_code in (200, 400)


def test_huge_and_deeply_nested_json(client, queue):
    for body in (
        b"[" * 50_000 + b"]" * 50_000,
        json.dumps({"id": 1, "x": [[[[[[]]]]]] * 10000}).encode(),
        b'{"id": 1, "a": "' + "é".encode() * 400_000 + b'"}',
    ):
        response = _post(
            client,
            body,
            {
                "X-Shopify-Topic": "orders/cancelled",
                "X-Shopify-Shop-Domain": SHOP,
                "X-Shopify-Webhook-Id": "deep",
                "X-Shopify-Hmac-Sha256": sign(body, API_SECRET),
            },
        )
        assert response.status_code in (200, 400, 413)
    assert queue.count <= 1


@settings(max_examples=60, deadline=None)
@given(order_id=json_values.filter(lambda v: not (isinstance(v, str) and v.isascii() and v.isdigit())))
def test_job_with_wrong_argument_types_fails_permanently(order_id):
    with pytest.raises(InvalidPayload):
        mirror_cancellation(SHOP, order_id)


@settings(max_examples=60, deadline=None)
@given(provider_name=json_values, outcomes=json_values)
def test_a_note_job_with_wrong_arguments_fails_permanently(provider_name, outcomes):
    with pytest.raises(PermanentError):
        tell_cancellation(SHOP, "820982911946154508", provider_name, outcomes if outcomes != [] else [1])
