"""The Printify client against the Printify fake over real HTTP: phases, the bounded search, the account check, cancel and failures."""

from __future__ import annotations

import pytest
import requests

from plugin import write_fence
from plugin.dev.fakes import FakePrintify
from plugin.errors import ProviderError, ProviderRefused, RateLimited, TransientError
from plugin.http import make_session
from plugin.providers import Address, CancelResult, NewPrintOrder, PatchResult, Phase
from plugin.providers.printify import FATES, MAX_PAGES, PAGE_SIZE, TOO_LATE, PrintifyClient, phase_of
from plugin.providers.reference_search import find_print_orders

KEY = "test-printify-key"
OTHER_KEY = "other-merchant-printify-token-0002"
OTHER_SHOP = "7654321"
TIMEOUT = (2.0, 5.0)
LIST = r"/orders\.json$"
CANCEL = r"/cancel\.json$"


@pytest.fixture(scope="module")
def _server():
    with FakePrintify(api_key=KEY) as fake:
        yield fake


@pytest.fixture
def printify(_server):
    """The Printify fake, emptied for this test."""
    _server.reset()
    return _server


@pytest.fixture
def session():
    with make_session() as http:
        yield http


@pytest.fixture
def client(printify, session):
    """A factory of PrintifyClients pointed at the fake (default: the default account and shop)."""

    def make(api_key: str = KEY, store_id: str | None = "default", base_url: str | None = None) -> PrintifyClient:
        shop = printify.default_shop_id if store_id == "default" else store_id
        return PrintifyClient(base_url or printify.url, api_key, session, TIMEOUT, store_id=shop)

    return make


def list_calls(printify) -> list:
    return printify.calls_matching("GET", LIST)


# -- statuses ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "phase"),
    [
        ("on-hold", Phase.CANCELLABLE),
        ("payment-not-received", Phase.CANCELLABLE),
        ("pending", Phase.UNKNOWN),
        ("sending-to-production", Phase.TOO_LATE),
        ("in-production", Phase.TOO_LATE),
        ("partially-fulfilled", Phase.TOO_LATE),
        ("fulfilled", Phase.TOO_LATE),
        ("canceled", Phase.CANCELED),
        ("had-issues", Phase.UNKNOWN),
        ("has-issues", Phase.UNKNOWN),
        ("something-new", Phase.UNKNOWN),
    ],
)
def test_each_status_is_read_with_its_phase(printify, client, status, phase):
    """The status read back keeps Printify's words; its phase comes from phase_of."""
    order_id = printify.add_order("5550001", status=status)
    [found] = client().find_orders("5550001")
    assert (found.id, found.status, found.phase) == (order_id, status, phase)
    assert client().get_order(order_id).phase is phase
    assert phase_of(status.upper()) is phase  # case does not change the meaning


def test_an_order_is_parsed_from_printifys_fields(printify, client):
    """Address, items and reference come from address_to, line_items and metadata."""
    order_id = printify.add_order("5550001", items=[{"quantity": 2}, {"product_id": "p2", "variant_id": 9, "quantity": 1}])
    order = client().get_order(order_id)
    assert order.reference_id == "5550001" and order.order_type == "order" and not order.is_draft
    assert [(i.id, i.quantity, i.status, i.reference_id) for i in order.items] == [
        ("5b05842f3921c9547531758d:17887", 2, "on-hold", None),
        ("p2:9", 1, "on-hold", None),
    ]
    assert (order.address.name, order.address.country_code, order.address.zip) == ("John Smith", "BE", "2470")


# -- find_orders ---------------------------------------------------------------------------------


def test_find_matches_every_reference_form_exactly(printify, client):
    """The numeric id, the name with and without "#": each finds only the order filed under exactly it."""
    by_id = printify.add_order("5550001", label="#1001")
    by_hash = printify.add_order("#1002")
    by_number = printify.add_order("1003")
    printify.add_order("10030")  # a longer number is another order
    own = client()
    assert [o.id for o in own.find_orders("5550001")] == [by_id]
    assert [o.id for o in own.find_orders("#1001")] == [by_id]  # the label
    assert [o.id for o in own.find_orders("#1002")] == [by_hash]
    assert own.find_orders("1002") == []
    assert [o.id for o in own.find_orders("1003")] == [by_number]
    assert own.find_orders("#1003") == [] and own.find_orders("103") == [] and own.find_orders("") == []


def test_reference_search_falls_back_to_the_name_forms(printify, client):
    """Through reference_search: the id first, then "#1001", then "1001"."""
    hashed = printify.add_order("#1001")
    found = find_print_orders(client(), "5550001", "#1001")
    assert ([o.id for o in found.orders], found.matched, found.tried) == ([hashed], "#1001", ("5550001", "#1001"))
    plain = printify.add_order("1002")
    found = find_print_orders(client(), "5550002", "#1002")
    assert ([o.id for o in found.orders], found.matched) == ([plain], "1002")


def test_an_api_orders_external_id_and_label_are_matched_too(printify, client):
    """Should an answer carry external_id or label at the top level (API orders), they count exactly."""
    page = {
        "current_page": 1,
        "last_page": 1,
        "next_page_url": None,
        "data": [
            {"id": "a1", "status": "on-hold", "external_id": "5550001", "metadata": {"order_type": "api"}},
            {"id": "a2", "status": "on-hold", "label": "#1001", "metadata": {"shop_order_id": 999}},
            {"id": "a3", "status": "on-hold", "external_id": 5550001.0},  # a float is never an id
            {"id": "a4", "status": "on-hold", "external_id": True},
        ],
    }
    printify.fail_next("GET", LIST, 200, body=page)
    assert [(o.id, o.reference_id) for o in client().find_orders("5550001")] == [("a1", "5550001")]
    printify.fail_next("GET", LIST, 200, body=page)
    assert [o.id for o in client().find_orders("#1001")] == ["a2"]


def test_find_pages_newest_first_and_stops_after_the_run_of_matches(printify, client):
    """An order on the second page is found; the third page, without a match, ends the search early."""
    for n in range(3 * PAGE_SIZE):
        printify.add_order(str(7000 + n))  # older orders of other store orders
    target = printify.add_order("5550001")
    for n in range(PAGE_SIZE + 5):
        printify.add_order(str(9000 + n))  # newer ones
    assert [o.id for o in client().find_orders("5550001")] == [target]
    pages = [c.query for c in list_calls(printify)]
    assert pages == [{"page": str(n), "limit": str(PAGE_SIZE)} for n in (1, 2, 3)]


def test_a_split_across_a_page_boundary_is_found_whole(printify, client):
    """Two orders for one reference on two pages, the older on the last page: both found."""
    older, newer = printify.add_split_order("5550001", statuses=["on-hold", "in-production"])
    for n in range(PAGE_SIZE - 1):
        printify.add_order(str(7000 + n))
    for n in range(2 * PAGE_SIZE):
        printify.add_order(str(8000 + n))
    printify.calls.clear()
    # Newest first: 20 others (pages 1-2), 9 others and `newer` (page 3), `older` (page 4), end.
    found = client().find_orders("5550001")
    assert [(o.id, o.phase) for o in found] == [(newer, Phase.TOO_LATE), (older, Phase.CANCELLABLE)]
    assert len(list_calls(printify)) == 4


def test_a_small_shop_without_the_order_answers_none_in_one_call(printify, client):
    printify.add_order("42")
    assert client().find_orders("5550001") == []
    assert len(list_calls(printify)) == 1


def test_the_search_reads_at_most_max_pages_once_for_every_reference_form(printify, client, caplog):
    """More orders than MAX_PAGES pages and none for the store order: none found after exactly MAX_PAGES calls,
    all three reference forms served by the same pages, and the bound logged."""
    caplog.set_level("INFO", logger="print_mirror.events")
    for n in range(MAX_PAGES * PAGE_SIZE + 1):
        printify.add_order(str(7000 + n))
    search = client().find_orders_by_any(("5550001", "#1001", "1001"))
    assert (search.orders, search.matched, search.tried, search.complete) == ([], None, ("5550001", "#1001", "1001"), False)
    assert len(list_calls(printify)) == MAX_PAGES
    assert "provider_search_bounded" in caplog.text


def test_one_pass_prefers_the_numeric_id_over_the_name(printify, client):
    """An order under the name on page 1 and another under the id on page 2: the id's wins, as with Gelato."""
    by_id = printify.add_order("5550001")
    for n in range(PAGE_SIZE):
        printify.add_order(str(8000 + n))
    printify.add_order("#1001")
    search = client().find_orders_by_any(("5550001", "#1001", "1001"))
    assert (search.matched, [o.id for o in search.orders], search.tried, search.complete) == (
        "5550001",
        [by_id],
        ("5550001",),
        True,
    )


def test_the_bound_raises_when_matches_run_on_past_it(printify, client):
    """Matches on the last page allowed: more may follow, so the answer is not certain."""
    for _ in range(MAX_PAGES * PAGE_SIZE + 1):
        printify.add_order("5550001")
    with pytest.raises(ProviderError, match="continue past"):
        client().find_orders("5550001")


def test_each_account_and_shop_sees_only_its_own_orders(printify, client):
    """Same reference in two accounts and two shops of one account: each client finds its shop's order only."""
    printify.add_account(OTHER_KEY, store_ids=[OTHER_SHOP])
    printify.add_shop("2222222")
    mine = printify.add_order("5550001")
    in_second_shop = printify.add_order("5550001", store_id="2222222")
    theirs = printify.add_order("5550001", api_key=OTHER_KEY)
    assert [o.id for o in client().find_orders("5550001")] == [mine]
    assert [o.id for o in client(store_id="2222222").find_orders("5550001")] == [in_second_shop]
    assert [o.id for o in client(OTHER_KEY, OTHER_SHOP).find_orders("5550001")] == [theirs]
    assert client().get_order(in_second_shop) is None
    assert client().cancel_order(in_second_shop) is CancelResult.NOT_FOUND
    assert printify.status_of(in_second_shop) == "on-hold"
    # Another account's shop is refused outright.
    with pytest.raises(ProviderRefused, match="403"):
        client(store_id=OTHER_SHOP).find_orders("5550001")
    with pytest.raises(ProviderRefused):
        client(store_id=OTHER_SHOP).cancel_order(theirs)
    assert printify.status_of(theirs) == "on-hold"
    assert [c.status for c in printify.calls_with_key(OTHER_KEY)] == [200]


# -- check_account -------------------------------------------------------------------------------


def test_check_account_passes_for_a_good_token_and_shop(printify, client):
    """A good token and one of its shops: the shop list and one one-order page."""
    printify.add_account(OTHER_KEY, store_ids=[OTHER_SHOP])
    client().check_account()
    client(OTHER_KEY, OTHER_SHOP).check_account()
    paths = [(c.path, c.query) for c in printify.calls]
    assert paths == [
        ("/v1/shops.json", {}),
        (f"/v1/shops/{printify.default_shop_id}/orders.json", {"page": "1", "limit": "1"}),
        ("/v1/shops.json", {}),
        (f"/v1/shops/{OTHER_SHOP}/orders.json", {"page": "1", "limit": "1"}),
    ]
    assert all(c.headers["Authorization"].startswith("Bearer ") for c in printify.calls)


def test_check_account_refuses_an_unknown_token_in_printifys_words(printify, client):
    bad_key = "printify-token-the-merchant-mistyped-0123456789"
    answer = requests.get(f"{printify.url}/v1/shops.json", headers={"Authorization": f"Bearer {bad_key}"}, timeout=5)
    assert answer.status_code == 401
    with pytest.raises(ProviderRefused) as refused:
        client(bad_key).check_account()
    assert answer.json()["message"] in str(refused.value) and "401" in str(refused.value)
    assert bad_key not in str(refused.value)


def test_check_account_refuses_a_shop_of_another_account_in_plain_words(printify, client):
    """The token is good but the shop is not its account's: refused, naming the shops it has."""
    printify.add_account(OTHER_KEY, store_ids=[OTHER_SHOP])
    with pytest.raises(ProviderRefused) as refused:
        client(store_id=OTHER_SHOP).check_account()
    message = str(refused.value)
    assert f"Printify shop {OTHER_SHOP} is not a shop of the account" in message
    assert f"{printify.default_shop_id} (My new store)" in message and KEY not in message
    assert printify.calls_matching("GET", LIST) == []


def test_check_account_refuses_a_token_without_order_access(printify, client):
    """Shops readable, orders not (a token without orders.read): refused."""
    printify.fail_next("GET", LIST, 403, body={"status": "error", "code": 403, "message": "Missing scope orders.read"})
    with pytest.raises(ProviderRefused, match="orders.read"):
        client().check_account()


def test_check_account_blanks_a_token_echoed_by_printify(printify, client):
    key = "echoed-token-abcdef-0123"
    printify.fail_next("GET", r"shops\.json$", 403, body={"status": "error", "message": f"token {key} lacks access"})
    with pytest.raises(ProviderRefused) as refused:
        client(key).check_account()
    assert key not in str(refused.value) and "lacks access" in str(refused.value)


def test_check_account_other_failures(printify, client):
    """Other 4xx: ProviderError but no refusal; 5xx: transient; a 200 that is not a shop list: ProviderError."""
    printify.fail_next("GET", r"shops\.json$", 402, body={"status": "error", "message": "quota reached"})
    with pytest.raises(ProviderError) as failed:
        client().check_account()
    assert not isinstance(failed.value, ProviderRefused) and "quota reached" in str(failed.value)
    printify.fail_next("GET", r"shops\.json$", 503)
    with pytest.raises(TransientError):
        client().check_account()
    printify.fail_next("GET", r"shops\.json$", 200, body="<html>not the API</html>")
    with pytest.raises(ProviderError, match="not JSON"):
        client().check_account()
    printify.fail_next("GET", r"shops\.json$", 200, body={"data": []})
    with pytest.raises(ProviderError, match="not a JSON array"):
        client().check_account()


def test_without_a_shop_id_every_call_says_it_is_required(printify, client):
    """The constructor works; every call raises ProviderError before any request."""
    without = client(store_id=None)
    blank = client(store_id="  ")
    for made in (without, blank):
        for call in (
            made.check_account,
            lambda m=made: m.find_orders("1"),
            lambda m=made: m.get_order("a"),
            lambda m=made: m.cancel_order("a"),
            lambda m=made: m.patch_order("a", {}, None),
        ):
            with pytest.raises(ProviderError, match="Printify shop id is required"):
                call()
    assert printify.calls == []


def test_a_base_url_written_with_v1_works_too(printify, client):
    order_id = printify.add_order("1")
    assert client(base_url=printify.url + "/v1/").get_order(order_id).id == order_id


# -- get, cancel, patch, create ------------------------------------------------------------------


def test_cancel_cancelled_refused_and_not_found(printify, client):
    """On-hold and payment-not-received cancel; in production is refused and untouched; unknown ids are not found."""
    on_hold = printify.add_order("1", status="on-hold")
    unpaid = printify.add_order("2", status="payment-not-received")
    printing = printify.add_order("3", status="in-production")
    pending = printify.add_order("4", status="pending")
    own = client()
    assert own.cancel_order(on_hold) is CancelResult.CANCELLED
    assert own.cancel_order(unpaid) is CancelResult.CANCELLED
    assert (printify.status_of(on_hold), printify.status_of(unpaid)) == ("canceled", "canceled")
    assert printify.order(on_hold)["line_items"][0]["status"] == "canceled"
    assert own.cancel_order(printing) is CancelResult.REFUSED
    assert own.cancel_order(pending) is CancelResult.REFUSED
    assert own.cancel_order(on_hold) is CancelResult.REFUSED  # already canceled
    assert printify.status_of(printing) == "in-production"
    assert own.cancel_order("5f0000000000000000000000") is CancelResult.NOT_FOUND
    assert own.get_order("5f0000000000000000000000") is None
    paths = [c.path for c in printify.calls_matching("POST", CANCEL)]
    assert paths[0] == f"/v1/shops/{printify.default_shop_id}/orders/{on_hold}/cancel.json"


@pytest.mark.parametrize("status", [409, 422])
def test_other_refusal_codes_are_refusals(printify, client, status):
    order_id = printify.add_order("1")
    printify.fail_next("POST", CANCEL, status, body={"status": "error", "message": "Order can't be canceled"})
    assert client().cancel_order(order_id) is CancelResult.REFUSED


def test_cancel_checks_the_write_fence_before_the_request(printify, client):
    """A job that lost its order lock stops before the cancel reaches Printify."""

    class LostLock:
        def confirm(self) -> None:
            raise TransientError("lock lost")

    order_id = printify.add_order("1")
    with write_fence.fencing(LostLock()), pytest.raises(TransientError, match="lock lost"):
        client().cancel_order(order_id)
    assert printify.calls_matching("POST", CANCEL) == [] and printify.status_of(order_id) == "on-hold"


def test_patch_is_refused_and_create_is_not_supported(printify, client):
    order_id = printify.add_order("1")
    own = client()
    assert own.name == "printify" and own.supports_replacement is False
    assert own.patch_order(order_id, {"x": 2}, Address(city="Elsewhere")) is PatchResult.REFUSED
    new = NewPrintOrder(reference_id="1", customer_reference_id="c", currency="USD", address=Address(), items=())
    with pytest.raises(ProviderError, match="does not place replacement"):
        own.create_order(new)
    assert printify.calls == []


# -- failures ------------------------------------------------------------------------------------


def test_server_errors_and_throttling_are_transient(printify, client):
    order_id = printify.add_order("1")
    printify.fail_next("GET", LIST, 500, times=1)
    with pytest.raises(TransientError) as failed:
        client().find_orders("1")
    assert not isinstance(failed.value, RateLimited)
    printify.fail_next("POST", CANCEL, 429, headers={"Retry-After": "7"})
    with pytest.raises(RateLimited) as limited:
        client().cancel_order(order_id)
    assert limited.value.retry_after == 7.0
    printify.fail_next("GET", r"\.json$", 429)  # Printify documents no Retry-After
    with pytest.raises(RateLimited) as limited:
        client().get_order(order_id)
    assert limited.value.retry_after is None
    printify.fail_next("GET", LIST, 503, headers={"Retry-After": "3"})
    with pytest.raises(TransientError) as unavailable:
        client().find_orders("1")
    assert unavailable.value.retry_after == 3.0
    assert printify.status_of(order_id) == "on-hold"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("<html>gateway</html>", "not JSON"),
        ([], "not a JSON object"),
        ({"current_page": 1}, "no 'data' list"),
        ({"data": {"id": "x"}}, "no 'data' list"),
        ({"data": ["x"]}, "not a JSON object"),
        ({"data": [{"status": "on-hold", "metadata": {"shop_order_id": 1}}]}, "without an id"),
        ({"data": [{"id": 5, "status": "on-hold", "metadata": {"shop_order_id": 1}}]}, "without an id"),
        ({"data": [{"id": "x", "metadata": {"shop_order_id": 1}}]}, "has no status"),
        ({"data": [{"id": "x", "status": ["on-hold"], "metadata": {"shop_order_id": 1}}]}, "has no status"),
        ({"data": [{"id": "x", "status": "on-hold", "line_items": "many", "metadata": {"shop_order_id": 1}}]}, "line_items"),
    ],
)
def test_malformed_search_answers_are_provider_errors(printify, client, body, words):
    printify.fail_next("GET", LIST, 200, body=body)
    with pytest.raises(ProviderError, match=words):
        client().find_orders("1")


def test_malformed_order_answers_are_provider_errors(printify, client):
    order_id = printify.add_order("1")
    printify.fail_next("GET", r"\.json$", 200, body={"id": "another-order", "status": "on-hold"})
    with pytest.raises(ProviderError, match="asked for"):
        client().get_order(order_id)
    printify.fail_next("GET", r"\.json$", 200, body="null")
    with pytest.raises(ProviderError):
        client().get_order(order_id)
    printify.fail_next("POST", CANCEL, 402, body={"status": "error", "message": "Payment required"})
    with pytest.raises(ProviderError, match="Payment required"):
        client().cancel_order(order_id)


def test_the_token_never_appears_in_an_error(printify, client):
    """Whatever fails, and whatever Printify echoes, the message carries no token."""
    key = "secret-printify-token-0123456789abcdef"
    printify.add_account(key, store_ids=["3333333"])
    order_id = printify.add_order("1", api_key=key, store_id="3333333")
    own = client(key, "3333333")
    echo = {"status": "error", "message": f"bad token {key}", "errors": {"reason": key}}
    attempts = [
        (lambda: printify.fail_next("GET", r"shops\.json$", 401, body=echo), own.check_account),
        (lambda: printify.fail_next("GET", LIST, 400, body=echo), lambda: own.find_orders("1")),
        (lambda: printify.fail_next("GET", LIST, 500, body=echo), lambda: own.find_orders("1")),
        (lambda: printify.fail_next("GET", r"\.json$", 403, body=echo), lambda: own.get_order(order_id)),
        (lambda: printify.fail_next("POST", CANCEL, 418, body=echo), lambda: own.cancel_order(order_id)),
        (lambda: None, lambda: client(key, OTHER_SHOP).check_account()),
    ]
    for inject, call in attempts:
        inject()
        with pytest.raises((ProviderError, TransientError)) as failed:
            call()
        assert key not in str(failed.value), str(failed.value)


def test_every_too_late_status_has_a_fate_for_the_note():
    """The note says what happens next for each status Printify's module calls too late."""
    assert set(FATES) == set(TOO_LATE) and all(phase_of(status) is Phase.TOO_LATE for status in FATES)
