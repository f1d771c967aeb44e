"""Smoke tests of the Gelato and Shopify HTTP fakes, driven over real HTTP with requests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import threading
import time
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from werkzeug.wrappers import Request, Response

from plugin.dev.fakes import FakeShopify, oauth_hmac, order_gid, sign
from plugin.dev.fakes.server import LocalServer
from plugin.dev.fakes.shopify import requested_cost

SHOP = "demo.myshopify.com"
API = f"/{SHOP}/admin/api/2026-10/graphql.json"
GELATO_KEY = "test-gelato-key"


# -- fixtures: the Gelato fake is conftest.py's; one Shopify fake for the module, reset between tests --


@pytest.fixture(scope="module")
def shopify_server():
    """A FakeShopify running for the whole module."""
    with FakeShopify() as fake:
        yield fake


@pytest.fixture
def shopify(shopify_server):
    """The module's FakeShopify, emptied before each test."""
    shopify_server.reset()
    return shopify_server


class Receiver:
    """A tiny app that records webhook deliveries (raw body and headers) and answers 200."""

    def __init__(self):
        """Start empty."""
        self.requests: list[tuple[bytes, dict]] = []
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        """Record one request."""
        request = Request(environ)
        with self.lock:
            self.requests.append((request.get_data(), dict(request.headers)))
        return Response("ok")(environ, start_response)


@pytest.fixture
def receiver():
    """A running webhook receiver; yields (Receiver, url)."""
    app = Receiver()
    with LocalServer(app) as server:
        yield app, server.url + "/webhooks"


def gql(shopify, token, query, variables=None, version="2026-10"):
    """POST one GraphQL request to the fake shop's Admin API."""
    return requests.post(
        f"{shopify.url}/{SHOP}/admin/api/{version}/graphql.json",
        json={"query": query, "variables": variables or {}},
        headers={"X-Shopify-Access-Token": token},
        timeout=5,
    )


# -- server ---------------------------------------------------------------------------------


def test_local_server_stop_cuts_keepalive_and_restart_keeps_port():
    """stop() refuses even pooled connections; start() again serves on the same URL."""
    app = Receiver()
    server = LocalServer(app).start()
    url = server.url
    session = requests.Session()  # keep-alive: the same connection would be reused
    assert session.post(url + "/x", data=b"1", timeout=5).text == "ok"
    server.stop()
    with pytest.raises(requests.ConnectionError):
        session.post(url + "/x", timeout=1)
    server.start()
    try:
        assert server.url == url and requests.post(url + "/x", timeout=5).status_code == 200
    finally:
        server.stop()


def test_local_server_keeps_connections_alive():
    """Two calls travel on one TCP connection, as with the real APIs (and a request body is drained)."""
    server = LocalServer(Receiver()).start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        connection.request("POST", "/x", body=b"first")
        first = connection.getresponse()
        assert first.read() == b"ok" and not first.will_close
        sock = connection.sock
        connection.request("POST", "/x", body=b"second")
        assert connection.getresponse().read() == b"ok" and connection.sock is sock
        connection.close()
    finally:
        server.stop()


# -- Gelato ---------------------------------------------------------------------------------


def test_gelato_requires_api_key(gelato, g):
    """Requests without the right X-API-KEY get 401; GET returns the full v4 order or 404."""
    order_id = gelato.add_order("1001")
    response = requests.get(f"{gelato.url}/v4/orders/{order_id}", headers={"X-API-KEY": "wrong"}, timeout=5)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    full = g.get(g.url(f"/v4/orders/{order_id}")).json()
    assert full["orderReferenceId"] == "1001" and full["fulfillmentStatus"] == "passed"
    assert full["items"][0]["files"][0]["url"] and full["shippingAddress"]["postCode"]
    assert g.get(g.url("/v4/orders/does-not-exist")).json() == {"code": "not_found", "message": "Order not found"}


def test_gelato_cancel_routes_on_colon_path_and_enforces_status(gelato, g):
    """POST /v4/orders/{id}:cancel cancels before production and answers 409 after, 404 if unknown."""
    passed = gelato.add_order("1001", status="passed")
    printed = gelato.add_order("1002", status="printed")
    response = g.post(g.url(f"/v4/orders/{passed}:cancel"))
    assert (response.status_code, response.json()) == (200, {})
    assert gelato.order(passed)["fulfillmentStatus"] == "canceled"
    assert {i["fulfillmentStatus"] for i in gelato.order(passed)["items"]} == {"canceled"}
    again = g.post(g.url(f"/v4/orders/{passed}:cancel"))
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    assert g.post(g.url(f"/v4/orders/{printed}:cancel")).status_code == 409
    assert gelato.order(printed)["fulfillmentStatus"] == "printed"
    assert g.post(g.url("/v4/orders/nope:cancel")).status_code == 404
    # One printed item blocks cancelling an order that still reads "passed".
    mixed = gelato.add_order("1003", items=[{"itemReferenceId": "a"}, {"itemReferenceId": "b"}])
    gelato.set_item_status(mixed, "b", "printed")
    assert g.post(g.url(f"/v4/orders/{mixed}:cancel")).status_code == 409


def test_gelato_search_filters_and_paginates_beyond_100(gelato, g):
    """orders:search filters by reference/ids/status and pages with offset/limit (max 100)."""
    ids = [gelato.add_order("big", status="passed" if i % 2 else "printed") for i in range(130)]
    gelato.add_order("other")
    seen = []
    for offset in (0, 100, 200):
        page = g.post(g.url("/v4/orders:search"), json={"orderReferenceIds": ["big"], "limit": 100, "offset": offset})
        assert page.status_code == 200
        seen += [o["id"] for o in page.json()["orders"]]
    assert seen == ids  # every order once, in creation order
    summary = g.post(g.url("/v4/orders:search"), json={"ids": [ids[1]]}).json()["orders"]
    assert len(summary) == 1 and "items" not in summary[0] and summary[0]["connectedOrderIds"] == []
    printed = g.post(g.url("/v4/orders:search"), json={"orderReferenceIds": ["big"], "fulfillmentStatuses": ["printed"]})
    assert len(printed.json()["orders"]) == 50  # default limit
    assert g.post(g.url("/v4/orders:search"), json={"limit": 101}).status_code == 400
    malformed = g.post(g.url("/v4/orders:search"), data=b"{not json", headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400


def test_gelato_search_by_several_references_keeps_creation_order(gelato, g):
    """Orders of several references come back interleaved as created; a deleted draft is gone."""
    made = [gelato.add_order(ref) for ref in ("r1", "r2", "r1", "r3", "r2")]
    draft = gelato.add_order("r1", order_type="draft")
    assert g.delete(g.url(f"/v4/orders/{draft}")).status_code == 204
    found = g.post(g.url("/v4/orders:search"), json={"orderReferenceIds": ["r2", "r1"]}).json()["orders"]
    assert [o["id"] for o in found] == [made[0], made[1], made[2], made[4]]


def test_gelato_split_orders_are_connected(gelato, g):
    """A split order is several orders sharing the reference, each listing the others."""
    first, second = gelato.add_split_order("2001", statuses=["passed", "printed"])
    found = g.post(g.url("/v4/orders:search"), json={"orderReferenceIds": ["2001"]}).json()["orders"]
    assert {o["id"]: o["connectedOrderIds"] for o in found} == {first: [second], second: [first]}
    assert [o["fulfillmentStatus"] for o in gelato.orders_for("2001")] == ["passed", "printed"]


def test_gelato_fault_injection_latency_and_call_log(gelato, g):
    """fail_next answers canned errors `times` times; latency delays; calls records each request."""
    order_id = gelato.add_order("3001")
    gelato.fail_next("GET", r"^/v4/orders/", 500, times=2)
    gelato.fail_next("POST", r":cancel$", 429, headers={"Retry-After": "2"})
    assert [g.get(g.url(f"/v4/orders/{order_id}")).status_code for _ in range(3)] == [500, 500, 200]
    throttled = g.post(g.url(f"/v4/orders/{order_id}:cancel"))
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "2"
    assert g.post(g.url(f"/v4/orders/{order_id}:cancel")).status_code == 200
    cancels = gelato.calls_matching("POST", r":cancel$")
    assert [c.status for c in cancels] == [429, 200]
    assert cancels[0].headers["x-api-key"] == GELATO_KEY and cancels[0].time <= cancels[1].time
    gelato.latency = 0.15
    started = time.monotonic()
    g.get(g.url(f"/v4/orders/{order_id}"))
    assert time.monotonic() - started >= 0.15


def test_gelato_before_hook_simulates_race_with_production(gelato, g):
    """A before-hook flips the status between the app's search and its cancel."""
    order_id = gelato.add_order("4001", status="passed")
    gelato.before("POST", r":cancel$", lambda call: gelato.set_status(order_id, "printed"), times=1)
    found = g.post(g.url("/v4/orders:search"), json={"orderReferenceIds": ["4001"]}).json()["orders"]
    assert found[0]["fulfillmentStatus"] == "passed"  # what the app saw
    response = g.post(g.url(f"/v4/orders/{order_id}:cancel"))
    assert response.status_code == 409 and "printed" in response.json()["message"]


def test_gelato_create_validates_and_drafts_can_be_patched(gelato, g):
    """POST /v4/orders names missing fields; PATCH edits and promotes drafts only."""
    body = {
        "orderType": "draft",
        "orderReferenceId": "5001",
        "customerReferenceId": "c-1",
        "currency": "USD",
        "items": [
            {
                "itemReferenceId": "li-1",
                "productUid": "poster",
                "quantity": 1,
                "files": [{"type": "default", "url": "https://x.test/a.pdf"}],
            }
        ],
        "shippingAddress": {
            "firstName": "A",
            "lastName": "B",
            "addressLine1": "1 St",
            "city": "C",
            "country": "US",
            "email": "a@b.test",
        },
    }
    missing = g.post(g.url("/v4/orders"), json=body)
    assert missing.status_code == 400 and "shippingAddress.postCode" in missing.json()["message"]
    body["shippingAddress"]["postCode"] = "11203"
    draft = g.post(g.url("/v4/orders"), json=body).json()
    assert (draft["orderType"], draft["fulfillmentStatus"]) == ("draft", "draft")
    patched = g.patch(
        g.url(f"/v4/orders/{draft['id']}"),
        json={"items": [{"itemReferenceId": "li-1", "quantity": 3}], "shippingAddress": {"city": "Boston"}, "orderType": "order"},
    ).json()
    assert patched["items"][0]["quantity"] == 3 and patched["shippingAddress"]["city"] == "Boston"
    assert (patched["orderType"], patched["fulfillmentStatus"]) == ("order", "created")
    refused = g.patch(g.url(f"/v4/orders/{draft['id']}"), json={"shippingAddress": {"city": "X"}})
    assert refused.status_code == 409 and refused.json()["message"]


def test_gelato_accounts_are_isolated_by_key(gelato, g):
    """Each key sees only its account's orders (another's is 404); storeIds filters; reset drops accounts."""
    other = {"X-API-KEY": "key-b"}
    gelato.add_account("key-b", store_ids=["store-b1"])
    mine = gelato.add_order("7001")
    draft = gelato.add_order("7001", order_type="draft", api_key="key-b")
    placed, in_store = gelato.add_split_order("7001", api_key="key-b", store_id="store-b1")
    assert [o["id"] for o in g.post(g.url("/v4/orders:search"), json={}).json()["orders"]] == [mine]
    theirs = requests.post(g.url("/v4/orders:search"), json={"orderReferenceIds": ["7001"]}, headers=other, timeout=5)
    assert [o["id"] for o in theirs.json()["orders"]] == [draft, placed, in_store]
    in_b1 = requests.post(g.url("/v4/orders:search"), json={"storeIds": ["store-b1"]}, headers=other, timeout=5)
    assert [o["id"] for o in in_b1.json()["orders"]] == [placed, in_store]
    for method, path in (("GET", draft), ("POST", f"{placed}:cancel"), ("PATCH", draft), ("DELETE", draft)):
        answer = g.request(method, g.url(f"/v4/orders/{path}"), json={} if method == "PATCH" else None)
        assert (answer.status_code, answer.json()) == (404, {"code": "not_found", "message": "Order not found"})
    assert gelato.order(placed)["fulfillmentStatus"] == "passed" and gelato.order(draft)["orderType"] == "draft"
    assert requests.post(g.url(f"/v4/orders/{placed}:cancel"), headers=other, timeout=5).status_code == 200
    assert [c.status for c in gelato.calls_with_key("key-b", "POST", ":cancel$")] == [200]
    assert [c.status for c in gelato.calls_with_key(GELATO_KEY, "POST", ":cancel$")] == [404]
    assert (gelato.account_of(placed), gelato.account_of(mine)) == ("key-b", GELATO_KEY)
    with pytest.raises(ValueError):
        gelato.add_order("7002", store_id="store-b1")  # a store belongs to one account
    with pytest.raises(ValueError):
        gelato.add_order("7002", api_key="key-unknown")
    gelato.reset()
    assert requests.post(g.url("/v4/orders:search"), json={}, headers=other, timeout=5).status_code == 401
    assert g.post(g.url("/v4/orders:search"), json={}).json() == {"orders": []}


# -- Shopify GraphQL ------------------------------------------------------------------------

ORDER_QUERY = """
query Order($id: ID!) {
  order(id: $id) {
    id legacyResourceId name note tags cancelledAt updatedAt
    shippingAddress { name address1 city zip provinceCode countryCodeV2 }
    lineItems(first: 10) { nodes { id sku quantity currentQuantity } pageInfo { hasNextPage } }
  }
}
"""


def test_shopify_graphql_auth_big_ids_and_cost(shopify):
    """GraphQL needs a current token of that shop; ids above 2^53 survive; cost is reported."""
    token = shopify.add_shop(SHOP)
    other = shopify.add_shop("other.myshopify.com")
    order_id = shopify.add_order(SHOP, note="Gift wrap please", tags=["vip"])
    assert order_id > 2**53
    response = gql(shopify, token, ORDER_QUERY, {"id": order_gid(order_id)})
    assert response.status_code == 200
    order = response.json()["data"]["order"]
    assert order["legacyResourceId"] == str(order_id) and order["tags"] == ["vip"]
    assert order["shippingAddress"]["countryCodeV2"] == "US" and len(order["lineItems"]["nodes"]) == 2
    assert int(order["lineItems"]["nodes"][0]["id"].rsplit("/", 1)[1]) > 2**53
    cost = response.json()["extensions"]["cost"]
    assert cost["throttleStatus"]["maximumAvailable"] == 2000.0 and cost["requestedQueryCost"] > 0
    for bad in ("nope", other):
        denied = gql(shopify, bad, ORDER_QUERY, {"id": order_gid(order_id)})
        assert denied.status_code == 401 and "Invalid API key or access token" in denied.json()["errors"]
    assert gql(shopify, token, ORDER_QUERY, {"id": order_gid(1)}).json()["data"] == {"order": None}
    assert shopify.graphql_calls("order")[0].variables == {"id": order_gid(order_id)}


def test_shopify_rejects_invalid_queries_like_shopify(shopify):
    """A typo in a field or a missing variable is a 200 answer with coded errors."""
    token = shopify.add_shop(SHOP)
    typo = gql(shopify, token, '{ order(id: "gid://shopify/Order/1") { id nmae } }')
    assert typo.status_code == 200
    error = typo.json()["errors"][0]
    assert error["extensions"]["code"] == "undefinedField" and "nmae" in error["message"] and error["locations"]
    assert "data" not in typo.json() and "cost" in typo.json()["extensions"]
    missing_var = gql(shopify, token, ORDER_QUERY, {})
    assert missing_var.json()["errors"][0]["extensions"]["code"] == "INVALID_VARIABLE"


def test_shopify_order_update_replaces_note_and_tags_add_keeps_others(shopify):
    """orderUpdate overwrites the note; tagsAdd adds without duplicates; updated_at moves."""
    token = shopify.add_shop(SHOP)
    order_id = shopify.add_order(SHOP, note="Customer note", tags=["vip", "gift"])
    before = shopify.order(SHOP, order_id)["updated_at"]
    updated = gql(
        shopify,
        token,
        "mutation($input: OrderInput!) { orderUpdate(input: $input) { order { note } userErrors { field message } } }",
        {"input": {"id": order_gid(order_id), "note": "Print order cancelled"}},
    ).json()["data"]["orderUpdate"]
    assert updated == {"order": {"note": "Print order cancelled"}, "userErrors": []}
    tags_add = "mutation($id: ID!, $tags: [String!]!) { tagsAdd(id: $id, tags: $tags) { node { id } userErrors { message } } }"
    gql(shopify, token, tags_add, {"id": order_gid(order_id), "tags": ["print-cancelled", "vip"]})
    stored = shopify.order(SHOP, order_id)
    assert stored["tags"] == ["vip", "gift", "print-cancelled"] and stored["note"] == "Print order cancelled"
    assert stored["updated_at"] > before  # strictly increasing even within one second
    missing = gql(
        shopify,
        token,
        'mutation { orderUpdate(input: {id: "gid://shopify/Order/42", note: "x"}) { userErrors { field message } } }',
    ).json()["data"]["orderUpdate"]
    assert missing["userErrors"] == [{"field": ["id"], "message": "Order does not exist"}]


def test_shopify_orders_query_filters_and_cursor_pagination(shopify):
    """orders(query:) filters on updated_at and status; cursors page through every match once."""
    token = shopify.add_shop(SHOP)
    old = [shopify.add_order(SHOP) for _ in range(3)]
    cutoff = shopify.order(SHOP, old[-1])["updated_at"]
    shopify.cancel_order(SHOP, old[0])
    fresh = [shopify.add_order(SHOP) for _ in range(4)]
    query = """query($after: String, $q: String) { orders(first: 2, after: $after, query: $q, sortKey: UPDATED_AT) {
      edges { cursor node { legacyResourceId cancelledAt } } pageInfo { hasNextPage endCursor } } }"""
    ids, after = [], None
    while True:
        page = gql(shopify, token, query, {"after": after, "q": f"updated_at:>'{cutoff}'"}).json()["data"]["orders"]
        ids += [int(e["node"]["legacyResourceId"]) for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert ids == [old[0], *fresh]  # the cancellation bumped old[0] past the cutoff
    cancelled = gql(shopify, token, '{ orders(first: 50, query: "status:cancelled") { nodes { legacyResourceId } } }')
    assert cancelled.json()["data"]["orders"]["nodes"] == [{"legacyResourceId": str(old[0])}]


def test_shopify_throttling_and_failures(shopify):
    """throttle_next answers THROTTLED (429 with Retry-After, or 200); fail_next answers a status."""
    token = shopify.add_shop(SHOP)
    shopify.throttle_next(times=1, http_status=429)
    shopify.throttle_next(times=1, http_status=200)
    shopify.fail_next(502, path_regex=r"graphql\.json$")
    failed = gql(shopify, token, "{ shop { name } }")
    assert failed.status_code == 502
    first = gql(shopify, token, "{ shop { name myshopifyDomain } }")
    assert first.status_code == 429 and first.headers["Retry-After"] == "1"
    assert first.json()["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert first.json()["extensions"]["cost"]["throttleStatus"]["restoreRate"] == 100.0
    second = gql(shopify, token, "{ shop { name } }")
    assert second.status_code == 200 and second.json()["errors"][0]["extensions"]["code"] == "THROTTLED"
    ok = gql(shopify, token, "{ shop { name myshopifyDomain } }").json()
    assert ok["data"]["shop"]["myshopifyDomain"] == SHOP


def test_shopify_webhook_subscriptions(shopify):
    """webhookSubscriptionCreate takes uri (2025-10+) or callbackUrl and refuses duplicates."""
    token = shopify.add_shop(SHOP)
    create = """mutation($topic: WebhookSubscriptionTopic!, $sub: WebhookSubscriptionInput!) {
      webhookSubscriptionCreate(topic: $topic, webhookSubscription: $sub) {
        webhookSubscription { id topic uri endpoint { __typename ... on WebhookHttpEndpoint { callbackUrl } } }
        userErrors { field message } } }"""
    address = "https://app.example.com/webhooks"
    made = gql(shopify, token, create, {"topic": "ORDERS_CANCELLED", "sub": {"uri": address}}).json()
    sub = made["data"]["webhookSubscriptionCreate"]["webhookSubscription"]
    assert sub["topic"] == "ORDERS_CANCELLED" and sub["endpoint"] == {"__typename": "WebhookHttpEndpoint", "callbackUrl": address}
    dup = gql(shopify, token, create, {"topic": "ORDERS_CANCELLED", "sub": {"uri": address}}).json()
    assert dup["data"]["webhookSubscriptionCreate"]["userErrors"][0]["message"] == "Address for this topic has already been taken"
    old = gql(shopify, token, create, {"topic": "ORDERS_UPDATED", "sub": {"uri": address}}, version="2024-10").json()
    assert old["data"]["webhookSubscriptionCreate"]["userErrors"]
    legacy = gql(shopify, token, create, {"topic": "ORDERS_UPDATED", "sub": {"callbackUrl": address}}, version="2024-10")
    assert legacy.json()["data"]["webhookSubscriptionCreate"]["userErrors"] == []
    listed = gql(shopify, token, "{ webhookSubscriptions(first: 10, topics: [ORDERS_UPDATED]) { nodes { topic uri } } }")
    assert listed.json()["data"]["webhookSubscriptions"]["nodes"] == [{"topic": "ORDERS_UPDATED", "uri": address}]
    assert [s["topic"] for s in shopify.subscriptions(SHOP)] == ["ORDERS_CANCELLED", "ORDERS_UPDATED"]
    bad_topic = gql(shopify, token, create, {"topic": "ORDERS_CANCELED", "sub": {"uri": address}}).json()
    assert bad_topic["errors"]


# -- Shopify webhooks -----------------------------------------------------------------------


def test_send_webhook_signs_raw_body_and_keeps_big_ids(shopify, receiver):
    """send_webhook posts the REST payload with a valid HMAC and the X-Shopify-* headers."""
    app, url = receiver
    shopify.add_shop(SHOP)
    order_id = shopify.add_order(SHOP, tags=["b", "a"], note="")
    shopify.cancel_order(SHOP, order_id)
    payload = shopify.order_payload(SHOP, order_id)
    assert payload["tags"] == "b, a" and payload["note"] is None and payload["cancelled_at"]
    response = shopify.send_webhook(url, SHOP, "orders/cancelled", payload, webhook_id="wh-1", event_id="ev-1")
    assert response.status_code == 200
    body, headers = app.requests[0]
    expected = base64.b64encode(hmac.new(b"test-api-secret", body, hashlib.sha256).digest()).decode()
    assert headers["X-Shopify-Hmac-Sha256"] == expected == sign(body, "test-api-secret")
    assert headers["X-Shopify-Topic"] == "orders/cancelled" and headers["X-Shopify-Shop-Domain"] == SHOP
    assert (headers["X-Shopify-Webhook-Id"], headers["X-Shopify-Event-Id"]) == ("wh-1", "ev-1")
    assert headers["X-Shopify-Api-Version"] == "2026-10" and headers["X-Shopify-Triggered-At"].endswith("Z")
    received = json.loads(body)
    assert received["id"] == order_id and received["admin_graphql_api_id"] == order_gid(order_id)
    assert str(order_id) in body.decode()  # written as an exact integer, not a float
    stored_items = shopify.order(SHOP, order_id)["line_items"]
    assert [li["id"] for li in received["line_items"]] == [li["id"] for li in stored_items]
    assert received["shipping_address"]["zip"] == "40003"


def test_echo_delivers_orders_updated_after_app_writes(shopify, receiver):
    """With echo on, a changing tagsAdd triggers one orders/updated delivery; a no-op does not."""
    app, url = receiver
    token = shopify.add_shop(SHOP)
    order_id = shopify.add_order(SHOP, tags=["vip"])
    shopify.echo_order_updates(url)
    tags_add = "mutation($id: ID!, $tags: [String!]!) { tagsAdd(id: $id, tags: $tags) { userErrors { message } } }"
    gql(shopify, token, tags_add, {"id": order_gid(order_id), "tags": ["print-cancelled"]})
    gql(shopify, token, tags_add, {"id": order_gid(order_id), "tags": ["vip"]})  # no change: no webhook
    deliveries = shopify.wait_for_deliveries(1, timeout=5)
    time.sleep(0.1)
    assert len(shopify.deliveries) == 1 and deliveries[0]["status"] == 200
    body, headers = app.requests[0]
    assert headers["X-Shopify-Topic"] == "orders/updated"
    assert json.loads(body)["tags"] == "vip, print-cancelled"


# -- Shopify OAuth --------------------------------------------------------------------------


def test_oauth_install_expiring_tokens_and_refresh(shopify, monkeypatch):
    """authorize redirects with a signed code; the exchange, refresh and expiry behave like Shopify."""
    state = "nonce-123"
    authorize = requests.get(
        f"{shopify.url}/{SHOP}/admin/oauth/authorize",
        params={
            "client_id": "test-api-key",
            "scope": "read_orders,write_orders",
            "redirect_uri": "https://app.example.com/auth/callback",
            "state": state,
        },
        allow_redirects=False,
        timeout=5,
    )
    assert authorize.status_code == 302
    location = urlsplit(authorize.headers["Location"])
    params = dict(parse_qsl(location.query))
    assert location.path == "/auth/callback" and params["state"] == state and params["shop"] == SHOP
    assert params["hmac"] == oauth_hmac(params, "test-api-secret")
    shopify_api = pytest.importorskip("shopify")
    monkeypatch.setattr(shopify_api.Session, "secret", "test-api-secret")
    assert shopify_api.Session.validate_params(params)  # the ShopifyAPI package agrees
    assert shopify_api.Session.validate_hmac(shopify.signed_query({"shop": SHOP, "timestamp": "1"}))

    token_url = f"{shopify.url}/{SHOP}/admin/oauth/access_token"
    creds = {"client_id": "test-api-key", "client_secret": "test-api-secret"}
    grant = requests.post(token_url, json={**creds, "code": params["code"], "expiring": 1}, timeout=5).json()
    assert grant["expires_in"] == 3600 and grant["refresh_token_expires_in"] == 7776000
    assert grant["scope"] == "read_orders,write_orders"
    assert gql(shopify, grant["access_token"], "{ shop { name } }").status_code == 200
    reused = requests.post(token_url, json={**creds, "code": params["code"]}, timeout=5)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_request"

    refreshed = requests.post(
        token_url, data={**creds, "grant_type": "refresh_token", "refresh_token": grant["refresh_token"]}, timeout=5
    ).json()  # form-encoded works too
    assert refreshed["access_token"] != grant["access_token"]
    assert gql(shopify, grant["access_token"], "{ shop { name } }").status_code == 401  # superseded
    stale = requests.post(
        token_url, json={**creds, "grant_type": "refresh_token", "refresh_token": grant["refresh_token"]}, timeout=5
    )
    assert stale.status_code == 400
    shopify.advance_clock(3601)
    assert gql(shopify, refreshed["access_token"], "{ shop { name } }").status_code == 401
    shopify.revoke_refresh_token(SHOP)
    revoked = requests.post(
        token_url, json={**creds, "grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"]}, timeout=5
    )
    assert revoked.status_code == 400
    assert shopify.authorize_requests[0]["state"] == state


# -- Shopify requested query cost, MAX_COST_EXCEEDED and before_graphql ----------------------

# Shopify's worked example of a refused query: 2 + 25 x (1 order + 1 address + (2 + 100 x 1 line item)).
COSTLY_ORDERS = """
query Costly($first: Int!) {
  orders(first: $first) {
    edges { node { id updatedAt shippingAddress { city } lineItems(first: 100) { nodes { id quantity } } } }
    pageInfo { hasNextPage }
  }
}
"""


def test_requested_cost_follows_shopifys_documented_rule():
    """Scalars 0, objects 1, connections 2 + size x node (nested ones multiply), mutations 10."""
    assert requested_cost(COSTLY_ORDERS, {"first": 25}) == 2602
    assert requested_cost(COSTLY_ORDERS.replace("($first: Int!)", "").replace("$first", "25")) == 2602
    assert requested_cost("{ shop { name myshopifyDomain } }") == 1
    assert requested_cost("{ orders(first: 10) { nodes { id note } } }") == 2 + 10 * 1
    # edges { node }, nodes and pageInfo are the connection's wrappers: no extra cost.
    assert requested_cost("{ orders(first: 10) { edges { cursor node { id } } pageInfo { hasNextPage } } }") == 12
    # A literal and a variable first (or a variable's default) price the same; last sizes too.
    literal = requested_cost("{ orders(first: 40) { nodes { id shippingAddress { city } } } }")
    variable = requested_cost("query($n: Int!) { orders(first: $n) { nodes { id shippingAddress { city } } } }", {"n": 40})
    default = requested_cost("query($n: Int = 40) { orders(last: $n) { nodes { id shippingAddress { city } } } }")
    assert literal == variable == default == 2 + 40 * 2
    nested = "{ orders(first: 5) { nodes { lineItems(first: 7) { nodes { id } } } } }"
    assert requested_cost(nested) == 2 + 5 * (1 + (2 + 7 * 1))
    mutation = "mutation($input: OrderInput!) { orderUpdate(input: $input) { order { id note } userErrors { message } } }"
    assert requested_cost(mutation, {"input": {"id": "gid://shopify/Order/1"}}) == 10
    # An interface or union costs its dearest possible selection, not the sum of them.
    union = '{ node(id: "x") { id ... on Order { shippingAddress { city } } ... on Shop { name } } }'
    assert requested_cost(union) == 1 + 1


def test_requested_cost_refuses_what_it_cannot_price():
    """An unsized connection, a typo or a syntax error is a ValueError, not a silent 0."""
    with pytest.raises(ValueError, match="no first/last"):
        requested_cost(COSTLY_ORDERS)
    with pytest.raises(ValueError, match="invalid"):
        requested_cost("{ shop { nmae } }")
    with pytest.raises(ValueError, match="not a GraphQL document"):
        requested_cost("{ shop { name }")


def test_shopify_refuses_a_query_over_1000_points_before_running_it(shopify):
    """HTTP 200, MAX_COST_EXCEEDED with cost and maxCost, no data; the same query on a smaller page runs."""
    token = shopify.add_shop(SHOP)
    shopify.add_order(SHOP)
    shopify.throttle_next(times=1)
    refused = gql(shopify, token, COSTLY_ORDERS, {"first": 25})
    assert refused.status_code == 200
    body = refused.json()
    assert "data" not in body and len(body["errors"]) == 1
    error = body["errors"][0]
    assert error["message"].startswith("Query cost is 2602, which exceeds the single query max cost limit (1000).")
    assert error["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert (error["extensions"]["cost"], error["extensions"]["maxCost"]) == (2602, 1000)
    assert body["extensions"]["cost"]["requestedQueryCost"] == 2602
    assert body["extensions"]["cost"]["actualQueryCost"] == 0
    # A query that can never run is refused as such; the queued throttle hits the next request.
    assert gql(shopify, token, "{ shop { name } }").json()["errors"][0]["extensions"]["code"] == "THROTTLED"
    small = gql(shopify, token, COSTLY_ORDERS, {"first": 9}).json()  # 2 + 9 x 104 = 938
    assert "errors" not in small and len(small["data"]["orders"]["edges"]) == 1
    assert small["extensions"]["cost"]["requestedQueryCost"] == 938


def test_before_graphql_runs_between_parse_and_execution(shopify):
    """A hook on a root field runs before that request executes; it may use the controls and the fake itself."""
    token = shopify.add_shop(SHOP)
    order_id = shopify.add_order(SHOP, note="Customer note")
    seen = []

    def customer_edits(call):
        """The customer edits the note between the app's read and its write; then reads it over HTTP."""
        seen.append((call.fields, call.variables["input"]["note"]))
        shopify.set_order(SHOP, order_id, note="Customer note, edited")
        again = gql(shopify, token, ORDER_QUERY, {"id": order_gid(order_id)}).json()
        seen.append(again["data"]["order"]["note"])

    shopify.before_graphql("orderUpdate", customer_edits, times=1)
    update = "mutation($input: OrderInput!) { orderUpdate(input: $input) { order { note } userErrors { message } } }"
    assert gql(shopify, token, ORDER_QUERY, {"id": order_gid(order_id)}).status_code == 200  # not orderUpdate
    assert seen == []
    gql(shopify, token, update, {"input": {"id": order_gid(order_id), "note": "App note"}})
    assert seen == [(("orderUpdate",), "App note"), "Customer note, edited"]
    assert shopify.order(SHOP, order_id)["note"] == "App note"  # the write ran after the hook
    gql(shopify, token, update, {"input": {"id": order_gid(order_id), "note": "Second"}})
    assert len(seen) == 2  # times=1
    shopify.before_graphql("tagsAdd", lambda call: seen.append("hook"))
    shopify.reset()
    token = shopify.add_shop(SHOP)
    order_id = shopify.add_order(SHOP)
    tags_add = "mutation($id: ID!, $tags: [String!]!) { tagsAdd(id: $id, tags: $tags) { userErrors { message } } }"
    gql(shopify, token, tags_add, {"id": order_gid(order_id), "tags": ["x"]})
    assert len(seen) == 2  # reset() forgot the hook


# -- thread safety --------------------------------------------------------------------------


def test_concurrent_requests_are_safe(gelato, shopify):
    """Parallel cancels of one order succeed once; parallel tagsAdd calls lose no tag."""
    order_id = gelato.add_order("6001")
    token = shopify.add_shop(SHOP)
    store_order = shopify.add_order(SHOP, tags=["vip"])
    statuses: list[int] = []
    tags_add = "mutation($id: ID!, $tags: [String!]!) { tagsAdd(id: $id, tags: $tags) { userErrors { message } } }"

    def cancel():
        """Cancel the print order once."""
        response = requests.post(f"{gelato.url}/v4/orders/{order_id}:cancel", headers={"X-API-KEY": GELATO_KEY}, timeout=5)
        statuses.append(response.status_code)

    def tag(n):
        """Add five tags of this worker, one request each."""
        for i in range(5):
            gql(shopify, token, tags_add, {"id": order_gid(store_order), "tags": [f"w{n}-{i}", "shared"]})

    threads = [threading.Thread(target=cancel) for _ in range(8)]
    threads += [threading.Thread(target=tag, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [409] * 7
    tags = shopify.order(SHOP, store_order)["tags"]
    assert len(tags) == len(set(tags)) == 1 + 1 + 8 * 5
