"""The Printful client against FakePrintful over real HTTP: phases, references, the token check, cancel, edit, faults."""

from __future__ import annotations

import pytest
import requests

from plugin import write_fence
from plugin.dev.fakes.printful import DEFAULT_STORE_ID, FakePrintful
from plugin.errors import ProviderError, ProviderRefused, RateLimited, TransientError
from plugin.http import make_session
from plugin.providers import Address, CancelResult, NewPrintOrder, PatchResult, Phase
from plugin.providers.printful import PrintfulClient, phase_of
from plugin.providers.reference_search import find_print_orders

PRINTFUL_KEY = "test-printful-key"  # the fake's default, store-level token
ACCOUNT_KEY = "account-level-printful-token-0123456789"
TIMEOUT = (2.0, 5.0)


@pytest.fixture(scope="module")
def _printful_server():
    with FakePrintful(api_key=PRINTFUL_KEY) as fake:
        yield fake


@pytest.fixture
def printful(_printful_server):
    """The Printful fake, emptied for this test."""
    _printful_server.reset()
    return _printful_server


@pytest.fixture
def session():
    with make_session() as http:
        yield http


@pytest.fixture
def client(printful, session):
    """A factory of PrintfulClients pointed at the fake."""

    def make(api_key: str = PRINTFUL_KEY, store_id: str | None = None) -> PrintfulClient:
        return PrintfulClient(printful.url, api_key, session, TIMEOUT, store_id=store_id)

    return make


# -- statuses --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "phase"),
    [
        ("draft", Phase.CANCELLABLE),
        ("pending", Phase.CANCELLABLE),
        ("failed", Phase.UNKNOWN),
        ("onhold", Phase.UNKNOWN),
        ("archived", Phase.UNKNOWN),
        ("inprocess", Phase.TOO_LATE),
        ("partial", Phase.TOO_LATE),
        ("fulfilled", Phase.TOO_LATE),
        ("canceled", Phase.CANCELED),
        ("something-new", Phase.UNKNOWN),
    ],
)
def test_statuses_map_to_phases_as_read_from_printful(printful, client, status, phase):
    """Each documented status (and an unknown one) reaches the PrintOrder's phase, by search and by id."""
    assert phase_of(status) is phase
    print_id = printful.add_order("5550001", status=status)
    [found] = client().find_orders("5550001")
    assert (found.id, found.status, found.phase) == (print_id, status, phase)
    assert client().get_order(print_id).phase is phase
    assert found.is_draft is (status == "draft")


def test_an_order_is_parsed_with_items_recipient_and_reference(printful, client):
    """Items carry Printful's id and the store's line item id; the recipient becomes the Address."""
    print_id = printful.add_order(
        "5550001",
        status="pending",
        items=[{"external_id": "11111", "quantity": 2}, {"external_id": "22222"}],
        recipient={"name": "Jon Snow", "address1": "1 Wall St", "city": "Castle Black", "state_code": "NO", "zip": "00001"},
    )
    order = client().get_order(print_id)
    raw_items = printful.order(print_id)["items"]
    assert [(i.id, i.reference_id, i.quantity) for i in order.items] == [
        (str(raw_items[0]["id"]), "11111", 2),
        (str(raw_items[1]["id"]), "22222", 1),
    ]
    assert (order.address.name, order.address.address1, order.address.province_code, order.address.zip) == (
        "Jon Snow",
        "1 Wall St",
        "NO",
        "00001",
    )
    assert (order.reference_id, order.currency, order.shipment_method) == ("5550001", "USD", "STANDARD")


# -- finding by reference --------------------------------------------------------------------------


@pytest.mark.parametrize("reference", ["5550001234567", "#1001", "1001", "SHOP-1001"])
def test_find_by_every_reference_form(printful, client, reference):
    """The numeric id, the name with and without "#": each found by its exact external id, via GET /orders/@…."""
    print_id = printful.add_order(reference)
    assert [o.id for o in client().find_orders(reference)] == [print_id]
    [call] = printful.calls_matching("GET", r"^/orders/@")
    assert call.path == f"/orders/@{reference}"  # the "#" arrived encoded, not cut off as a fragment


def test_find_matches_exactly_and_never_returns_another_order(printful, client):
    """Near misses, path tricks and a Printful order id are never mistaken for the reference."""
    printful.add_order("1001")
    printful.add_order("A")
    printful.add_order("x", order_id="7001")
    for reference in ("#1001", " 1001", "1001 ", "01001", "%41", "@1001", "1001/../1001", "1001?x=1", "7001", ".."):
        assert client().find_orders(reference) == [], reference
    assert client().find_orders("") == [] and client().find_orders("   ") == []
    # Blank references are not asked at all; the others each once, as one encoded path segment.
    assert len(printful.calls_matching("GET", r"^/orders/@")) == 10


def test_find_print_orders_tries_each_form_in_turn(printful, client):
    """Through reference_search: no order under the id, so the name with "#", then without it."""
    by_name = printful.add_order("1002")
    found = find_print_orders(client(), "5550002", "#1002")
    assert [o.id for o in found.orders] == [by_name]
    assert (found.matched, found.tried) == ("1002", ("5550002", "#1002", "1002"))


def test_a_reference_printful_refuses_as_malformed_is_not_found(printful, client):
    """Should Printful answer 400 for a reference no external id can be ("#1001"), nothing is filed under it."""
    printful.fail_next("GET", r"^/orders/@", 400, body={"code": 400, "result": "Invalid external id"})
    assert client().find_orders("#1001") == []
    printful.fail_next("GET", r"^/orders/@", 400, body={"code": 400, "result": "Bad request"})
    with pytest.raises(ProviderError, match="Bad request"):
        client().find_orders("1001")  # a valid external id refused: something else is wrong


def test_a_store_sees_only_its_own_orders(printful, client):
    """An account-level token names the store in X-PF-Store-Id; the same reference in another store stays apart."""
    printful.add_account(ACCOUNT_KEY, store_ids=["11", "12"])
    in_11 = printful.add_order("3001", api_key=ACCOUNT_KEY, store_id="11")
    in_12 = printful.add_order("3001", api_key=ACCOUNT_KEY, store_id="12")
    mine = printful.add_order("3001")

    assert [o.id for o in client(ACCOUNT_KEY, store_id="11").find_orders("3001")] == [in_11]
    assert [o.id for o in client(ACCOUNT_KEY, store_id="12").find_orders("3001")] == [in_12]
    assert [o.id for o in client().find_orders("3001")] == [mine]
    assert printful.calls_matching("GET")[0].headers["X-PF-Store-Id"] == "11"
    assert "X-PF-Store-Id" not in printful.calls_matching("GET")[-1].headers
    assert client(ACCOUNT_KEY, store_id="11").get_order(in_12) is None
    assert client(ACCOUNT_KEY, store_id="11").cancel_order(in_12) is CancelResult.NOT_FOUND
    assert client().cancel_order(in_11) is CancelResult.NOT_FOUND
    assert printful.status_of(in_12) == printful.status_of(in_11) == "draft"
    # Without a store id an account-level token has no store context: Printful says so.
    with pytest.raises(ProviderError, match="X-PF-Store-Id"):
        client(ACCOUNT_KEY).find_orders("3001")
    assert [c.status for c in printful.calls_with_key(ACCOUNT_KEY, "DELETE")] == [404]


# -- the account check -----------------------------------------------------------------------------


def test_check_account_passes_for_good_tokens(printful, client):
    """A store-level token without a store id, an account-level one with its store: one one-order list each."""
    printful.add_account(ACCOUNT_KEY, store_ids=["11"])
    client().check_account()
    client(store_id=str(DEFAULT_STORE_ID)).check_account()
    client(ACCOUNT_KEY, store_id="11").check_account()
    checks = printful.calls_matching("GET", r"^/orders$")
    assert [c.query for c in checks] == [{"limit": "1"}] * 3
    assert [c.headers.get("Authorization") for c in checks] == [f"Bearer {PRINTFUL_KEY}"] * 2 + [f"Bearer {ACCOUNT_KEY}"]


def test_check_account_refuses_an_unknown_token_in_printfuls_words(printful, client):
    """An unknown token: ProviderRefused with Printful's own message and the status, never the token."""
    bad = "printful-token-the-merchant-mistyped-0123456789"
    answer = requests.get(f"{printful.url}/orders", headers={"Authorization": f"Bearer {bad}"}, timeout=5)
    assert answer.status_code == 401 and answer.json()["code"] == 401
    with pytest.raises(ProviderRefused) as refused:
        client(bad).check_account()
    assert answer.json()["error"]["message"] in str(refused.value) and "401" in str(refused.value)
    assert bad not in str(refused.value)


def test_check_account_refuses_a_store_the_token_cannot_use(printful, client):
    """A store id the token has no access to is refused (403), so the merchant fixes it before connecting."""
    printful.add_account(ACCOUNT_KEY, store_ids=["11"])
    with pytest.raises(ProviderRefused, match="403"):
        client(ACCOUNT_KEY, store_id="99").check_account()


def test_a_store_id_that_is_not_a_number_is_refused_before_any_call(printful, client):
    for bad in ("my-store", "12 13", "€", "١٢"):
        with pytest.raises(ProviderError, match="store id is a number"):
            client(store_id=bad)
    assert printful.calls == []


def test_check_account_blanks_a_token_echoed_by_printful(printful, client):
    """Should Printful echo the token in an error, no error message carries it."""
    key = "echoed-token-abcdef"
    body = {"code": 403, "result": f"token {key} lacks the orders scope", "error": {"reason": "Forbidden", "message": f"{key}?"}}
    printful.fail_next("GET", r"^/orders$", 403, body=body)
    with pytest.raises(ProviderRefused) as refused:
        client(key).check_account()
    assert key not in str(refused.value) and "[API token]" in str(refused.value)
    printful.fail_next("GET", r"^/orders$", 500, body={"code": 500, "result": f"bad {key}"})
    with pytest.raises(TransientError) as transient:
        client(key).check_account()
    assert key not in str(transient.value) and transient.value.__cause__ is None
    printful.fail_next("GET", r"^/orders$", 429, body={"code": 429, "result": f"slow down {key}"})
    with pytest.raises(RateLimited) as limited:
        client(key).check_account()
    assert key not in str(limited.value) and limited.value.retry_after == 60


def test_check_account_other_failures(printful, client):
    """Another 4xx is a ProviderError but no refusal; a 5xx is transient; a 200 that is not Printful's fails."""
    printful.add_account(ACCOUNT_KEY, store_ids=["11"])
    with pytest.raises(ProviderError) as failed:
        client(ACCOUNT_KEY).check_account()  # an account-level token without its store
    assert not isinstance(failed.value, ProviderRefused) and "X-PF-Store-Id" in str(failed.value)
    printful.fail_next("GET", r"^/orders$", 503)
    with pytest.raises(TransientError):
        client().check_account()
    printful.fail_next("GET", r"^/orders$", 200, body="<html>not the Printful API</html>")
    with pytest.raises(ProviderError):
        client().check_account()
    printful.fail_next("GET", r"^/orders$", 200, body={"code": 200, "result": {"not": "a list"}})
    with pytest.raises(ProviderError):
        client().check_account()


# -- cancel ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["draft", "pending"])
def test_cancel_a_draft_or_pending_order(printful, client, status):
    print_id = printful.add_order("5550001", status=status)
    assert client().cancel_order(print_id) is CancelResult.CANCELLED
    assert printful.status_of(print_id) == "canceled"
    assert [c.path for c in printful.calls_matching("DELETE")] == [f"/orders/{print_id}"]


@pytest.mark.parametrize("status", ["inprocess", "partial", "fulfilled", "canceled", "failed"])
def test_cancel_refused_past_pending(printful, client, status):
    print_id = printful.add_order("5550001", status=status)
    assert client().cancel_order(print_id) is CancelResult.REFUSED
    assert printful.status_of(print_id) == status


def test_cancel_not_found_and_bad_ids(printful, client):
    assert client().cancel_order("424242") is CancelResult.NOT_FOUND
    for bad in ("@5550001", "12a", "", "١٢"):
        with pytest.raises(ProviderError):
            client().cancel_order(bad)
        with pytest.raises(ProviderError):
            client().get_order(bad)
    assert len(printful.calls) == 1  # an id that is not Printful's never reaches the API
    assert client().get_order("424242") is None


def test_cancel_checks_the_write_fence_first(printful, client):
    """A job that lost its order lock stops before the DELETE."""
    print_id = printful.add_order("5550001")

    class LostLock:
        def confirm(self) -> None:
            raise TransientError("order lock lost")

    with write_fence.fencing(LostLock()), pytest.raises(TransientError, match="lock lost"):
        client().cancel_order(print_id)
    assert printful.calls_matching("DELETE") == [] and printful.status_of(print_id) == "draft"


# -- faults and malformed answers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "call"),
    [
        ("GET", r"^/orders/@", lambda c, oid: c.find_orders("5550001")),
        ("GET", r"^/orders/\d+$", lambda c, oid: c.get_order(oid)),
        ("DELETE", r"^/orders/\d+$", lambda c, oid: c.cancel_order(oid)),
    ],
)
def test_5xx_and_429_are_transient(printful, client, method, path, call):
    print_id = printful.add_order("5550001")
    printful.fail_next(method, path, 502)
    with pytest.raises(TransientError) as transient:
        call(client(), print_id)
    assert not isinstance(transient.value, RateLimited)
    printful.fail_next(method, path, 429)
    with pytest.raises(RateLimited) as limited:
        call(client(), print_id)
    assert limited.value.retry_after == 60
    printful.fail_next(method, path, 429, headers={"Retry-After": "7"})
    with pytest.raises(RateLimited) as limited:
        call(client(), print_id)
    assert limited.value.retry_after == 7
    # Printful's documented 419 RATE LIMITED WARNING is a rate limit too, not a refusal.
    printful.fail_next(method, path, 419, headers={"Retry-After": "3"})
    with pytest.raises(RateLimited) as limited:
        call(client(), print_id)
    assert limited.value.retry_after == 3 and "419" in str(limited.value)
    assert printful.status_of(print_id) == "draft"


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        [1, 2],
        {"code": 200},
        {"code": 200, "result": "text"},
        {"code": 200, "result": {"status": "draft"}},
        {"code": 200, "result": {"id": "abc", "status": "draft"}},
        {"code": 200, "result": {"id": True, "status": "draft"}},
        {"code": 200, "result": {"id": 1, "status": 5}},
        {"code": 200, "result": {"id": 1, "status": "draft", "items": {"id": 1}}},
        {"code": 200, "result": {"id": 1, "status": "draft", "items": ["x"]}},
        {"code": 200, "result": {"id": 1, "status": "draft", "items": [{"id": 1, "quantity": "2"}]}},
        {"code": 200, "result": {"id": 1, "status": "draft", "recipient": "Jon"}},
    ],
)
def test_malformed_answers_are_provider_errors(printful, client, body):
    printful.fail_next("GET", r"^/orders/", 200, body=body, times=2)
    with pytest.raises(ProviderError):
        client().find_orders("5550001")
    with pytest.raises(ProviderError):
        client().get_order("1")


def test_unexpected_statuses_are_provider_errors_in_printfuls_words(printful, client):
    print_id = printful.add_order("5550001")
    body = {"code": 405, "result": "Method Not Allowed", "error": {"reason": "MethodNotAllowed", "message": "Nope, not here"}}
    printful.fail_next("DELETE", r"^/orders/", 405, body=body)
    with pytest.raises(ProviderError, match="HTTP 405 Nope, not here"):
        client().cancel_order(print_id)


# -- edit a draft, no replacement orders -----------------------------------------------------------


def test_patch_a_draft_sends_every_item_and_the_recipient(printful, client):
    """PUT deletes items left out, so every item is sent by id; the recipient is replaced part by part."""
    print_id = printful.add_order("5550001", items=[{"external_id": "1", "quantity": 2}, {"external_id": "2", "quantity": 1}])
    first, second = (item["id"] for item in printful.order(print_id)["items"])
    address = Address(name="Steve Shipper", address1="9 New Road", city="Newtown", zip="40004", country_code="US")
    assert client().patch_order(print_id, {str(first): 1}, address) is PatchResult.PATCHED
    [put] = printful.calls_matching("PUT")
    assert put.json["items"] == [{"id": first, "quantity": 1}, {"id": second, "quantity": 1}]
    assert put.json["recipient"]["address2"] == "" and "email" not in put.json["recipient"]
    order = printful.order(print_id)
    assert [(i["id"], i["quantity"], i["external_id"]) for i in order["items"]] == [(first, 1, "1"), (second, 1, "2")]
    assert (order["recipient"]["name"], order["recipient"]["city"]) == ("Steve Shipper", "Newtown")


def test_patch_refused_not_found_and_bad_items(printful, client):
    placed = printful.add_order("5550001", status="pending")
    item = str(printful.order(placed)["items"][0]["id"])
    assert client().patch_order(placed, {item: 3}, None) is PatchResult.REFUSED
    assert client().patch_order("424242", {item: 3}, None) is PatchResult.NOT_FOUND
    assert client().patch_order(placed, {}, None) is PatchResult.PATCHED
    draft = printful.add_order("5550002")
    with pytest.raises(ProviderError, match="no item"):
        client().patch_order(draft, {"999": 3}, None)
    with pytest.raises(ProviderError, match="positive"):
        client().patch_order(draft, {str(printful.order(draft)["items"][0]["id"]): 0}, None)
    assert printful.calls_matching("PUT") == []  # nothing Printful would refuse, or that would lose items, is sent
    # A draft confirmed between the read and the write: Printful's OR-1 refusal.
    draft_item = str(printful.order(draft)["items"][0]["id"])
    printful.before("PUT", r"^/orders/", lambda call: printful.set_status(draft, "pending"), times=1)
    assert client().patch_order(draft, {draft_item: 2}, None) is PatchResult.REFUSED
    assert printful.order(draft)["items"][0]["quantity"] == 1


def test_no_replacement_orders_at_printful(client):
    printful_client = client()
    assert (printful_client.name, printful_client.supports_replacement) == ("printful", False)
    new = NewPrintOrder(reference_id="1", customer_reference_id="c", currency="USD", address=Address(), items=())
    with pytest.raises(ProviderError, match="does not place"):
        printful_client.create_order(new)
