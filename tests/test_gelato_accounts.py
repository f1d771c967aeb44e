"""One Gelato account per shop: key isolation, the live key check, the store filter and the reference fallback."""

from __future__ import annotations

import pytest
import requests

from plugin.errors import ProviderError, ProviderRefused, TransientError
from plugin.http import make_session
from plugin.providers import CancelResult, PatchResult
from plugin.providers.gelato import GelatoClient
from plugin.providers.reference_search import find_print_orders, store_order_references

GELATO_KEY = "test-gelato-key"  # the fake's default account (tests/conftest.py)
OTHER_KEY = "other-merchant-gelato-key"
TIMEOUT = (2.0, 5.0)


@pytest.fixture
def session():
    """One pooled session shared by every client, as the app shares one per process."""
    with make_session() as http:
        yield http


@pytest.fixture
def client(gelato, session):
    """A factory of GelatoClients pointed at the fake."""

    def make(api_key: str = GELATO_KEY, store_id: str | None = None) -> GelatoClient:
        """A client for that key (and store)."""
        return GelatoClient(gelato.url, api_key, session, TIMEOUT, store_id=store_id)

    return make


def test_each_key_sees_and_cancels_only_its_own_orders(gelato, client):
    """Two accounts with an order under the same reference: each key finds, reads and cancels its own only."""
    gelato.add_account(OTHER_KEY)
    mine = gelato.add_order("1001")
    theirs = gelato.add_order("1001", api_key=OTHER_KEY)
    own, other = client(), client(OTHER_KEY)

    assert [o.id for o in own.find_orders("1001")] == [mine]
    assert [o.id for o in other.find_orders("1001")] == [theirs]
    assert own.get_order(theirs) is None
    assert own.cancel_order(theirs) is CancelResult.NOT_FOUND
    assert gelato.order(theirs)["fulfillmentStatus"] == "passed"

    assert other.cancel_order(theirs) is CancelResult.CANCELLED
    assert gelato.order(theirs)["fulfillmentStatus"] == "canceled"
    assert gelato.order(mine)["fulfillmentStatus"] == "passed"
    # The other merchant's cancellation reached its own account only, and by its own key.
    assert gelato.account_of(theirs) == OTHER_KEY and gelato.account_of(mine) == GELATO_KEY
    assert [c.path for c in gelato.calls_with_key(OTHER_KEY, "POST", r":cancel$")] == [f"/v4/orders/{theirs}:cancel"]
    assert [c.status for c in gelato.calls_with_key(GELATO_KEY, "POST", r":cancel$")] == [404]


def test_a_key_cannot_edit_another_accounts_draft(gelato, client):
    """PATCH of another account's draft is not found, and the draft is untouched."""
    gelato.add_account(OTHER_KEY)
    draft = gelato.add_order("2001", order_type="draft", api_key=OTHER_KEY)
    item = gelato.order(draft)["items"][0]["id"]
    assert client().patch_order(draft, {item: 5}, None) is PatchResult.NOT_FOUND
    assert gelato.order(draft)["items"][0]["quantity"] == 1
    assert client(OTHER_KEY).patch_order(draft, {item: 5}, None) is PatchResult.PATCHED
    assert gelato.order(draft)["items"][0]["quantity"] == 5


def test_check_account_passes_for_a_good_key(gelato, client):
    """A key Gelato accepts passes with one one-result search, for every account."""
    gelato.add_account(OTHER_KEY, store_ids=["store-b"])
    client().check_account()
    client(OTHER_KEY, store_id="store-b").check_account()
    checks = gelato.calls_matching("POST", r"orders:search$")
    assert [c.json for c in checks] == [{"limit": 1}, {"limit": 1, "storeIds": ["store-b"]}]


def test_check_account_refuses_an_unknown_key_in_gelatos_words(gelato, client):
    """An unknown key raises ProviderRefused with the fake's own message, never with the key."""
    bad_key = "gelato-key-the-merchant-mistyped-0123456789"
    answer = requests.post(f"{gelato.url}/v4/orders:search", json={"limit": 1}, headers={"X-API-KEY": bad_key}, timeout=5)
    assert answer.status_code == 401
    with pytest.raises(ProviderRefused) as refused:
        client(bad_key).check_account()
    assert answer.json()["message"] in str(refused.value)
    assert "401" in str(refused.value)
    assert bad_key not in str(refused.value)


def test_check_account_blanks_a_key_echoed_by_gelato(gelato, client):
    """Should Gelato ever echo the key in its 403 message, the error still does not carry it."""
    key = "echoed-key-abcdef"
    gelato.fail_next("POST", r"orders:search$", 403, body={"code": "forbidden", "message": f"key {key} lacks access"})
    with pytest.raises(ProviderRefused) as refused:
        client(key).check_account()
    assert key not in str(refused.value) and "lacks access" in str(refused.value)


def test_a_5xx_echoing_the_key_is_retried_without_it(gelato, client):
    """A transient answer that quotes the key: the error (logged, kept in RQ's registry) carries the label instead."""
    gelato.fail_next("POST", r"orders:search$", 503, body={"message": f"upstream rejected {GELATO_KEY}"})
    with pytest.raises(TransientError) as failed:
        client().find_orders("5550001")
    assert GELATO_KEY not in str(failed.value) and "[API key]" in str(failed.value)
    assert failed.value.__cause__ is None and failed.value.__suppress_context__


def test_check_account_other_failures(gelato, client):
    """Any other 4xx is a ProviderError but no refusal; a 5xx is transient; a 200 that is not Gelato's fails."""
    gelato.fail_next("POST", r"orders:search$", 400, body={"code": "bad_request", "message": "limit is wrong"})
    with pytest.raises(ProviderError) as failed:
        client().check_account()
    assert not isinstance(failed.value, ProviderRefused) and "limit is wrong" in str(failed.value)
    gelato.fail_next("POST", r"orders:search$", 503)
    with pytest.raises(TransientError):
        client().check_account()
    gelato.fail_next("POST", r"orders:search$", 200, body="<html>not the order API</html>")
    with pytest.raises(ProviderError):
        client().check_account()


def test_store_id_restricts_the_search(gelato, client):
    """With a store id the search sends storeIds and finds that store's orders only."""
    gelato.add_account(OTHER_KEY, store_ids=["store-1", "store-2"])
    in_one = gelato.add_order("3001", api_key=OTHER_KEY, store_id="store-1")
    in_two = gelato.add_order("3001", api_key=OTHER_KEY, store_id="store-2")
    by_api = gelato.add_order("3001", api_key=OTHER_KEY)

    assert [o.id for o in client(OTHER_KEY, store_id="store-1").find_orders("3001")] == [in_one]
    assert gelato.calls_matching("POST", r"orders:search$")[-1].json["storeIds"] == ["store-1"]
    assert [o.id for o in client(OTHER_KEY).find_orders("3001")] == [in_one, in_two, by_api]
    assert "storeIds" not in gelato.calls_matching("POST", r"orders:search$")[-1].json
    # Another account's store id finds nothing: a key never reaches into another account.
    assert client(store_id="store-1").find_orders("3001") == []


def test_find_print_orders_prefers_the_numeric_id(gelato, client):
    """An order filed under the numeric id is found by it; the name is not searched at all."""
    by_id = gelato.add_order("5550001")
    gelato.add_order("#1001")
    found = find_print_orders(client(), "5550001", "#1001")
    assert [o.id for o in found.orders] == [by_id]
    assert (found.matched, found.tried) == ("5550001", ("5550001",))


def test_find_print_orders_falls_back_to_the_name(gelato, client):
    """No order under the id: the name as Shopify gives it, then without its "#"."""
    with_hash = gelato.add_order("#1001")
    found = find_print_orders(client(), "5550001", "#1001")
    assert [o.id for o in found.orders] == [with_hash]
    assert (found.matched, found.tried) == ("#1001", ("5550001", "#1001"))

    split = gelato.add_split_order("1002", statuses=["passed", "printed"])
    found = find_print_orders(client(), "5550002", "#1002")
    assert [o.id for o in found.orders] == split
    assert (found.matched, found.tried) == ("1002", ("5550002", "#1002", "1002"))


def test_find_print_orders_reports_every_reference_tried_when_none_matches(gelato, client):
    """Nothing under any form: no orders, no match, all three references searched in order."""
    gelato.add_order("9999")
    found = find_print_orders(client(), "5550003", "#1003")
    assert (found.orders, found.matched, found.tried) == ([], None, ("5550003", "#1003", "1003"))
    searched = [c.json["orderReferenceIds"] for c in gelato.calls_matching("POST", r"orders:search$")]
    assert searched == [["5550003"], ["#1003"], ["1003"]]


@pytest.mark.parametrize(
    ("order_id", "order_name", "expected"),
    [
        ("5550001", "#1001", ("5550001", "#1001", "1001")),
        ("5550001", "1001", ("5550001", "1001")),
        ("5550001", None, ("5550001",)),
        ("5550001", "", ("5550001",)),
        ("5550001", "#", ("5550001", "#")),
        ("5550001", "  ", ("5550001",)),
        ("1001", "#1001", ("1001", "#1001")),
        ("5550001", "#SHOP-1001", ("5550001", "#SHOP-1001", "SHOP-1001")),
    ],
)
def test_store_order_references(order_id, order_name, expected):
    """Numeric id first, then the name as given and without one leading "#"; no duplicates or empties."""
    assert store_order_references(order_id, order_name) == expected
