"""Every Admin GraphQL document of the app fits Shopify's 1,000-point limit; docs/admin-queries.md gives each cost."""

from __future__ import annotations

import pytest
import requests

from plugin.dev.fakes.query_costs import DOC_PATH, app_documents, documented_rows
from plugin.dev.fakes.shopify import MAX_QUERY_COST
from plugin.errors import AdminAPIError, PermanentError
from plugin.shopify.admin_api import AdminClient, graphql_url
from tests.conftest import SHOP

DOCUMENTS = app_documents()


def test_the_app_defines_documents_and_each_has_an_operation_name():
    """The collector finds the app's documents (not an empty list that passes vacuously), all named."""
    keys = {doc.key for doc in DOCUMENTS}
    assert {"plugin.shopify.orders_api.ORDER_NOTE_UPDATE", "plugin.shopify.orders_sweep_api.ORDERS_UPDATED_SINCE"} <= keys
    assert [doc.key for doc in DOCUMENTS if not doc.operation] == []


@pytest.mark.parametrize("doc", DOCUMENTS, ids=lambda doc: doc.key)
def test_document_fits_shopifys_single_query_limit(doc):
    """Shopify refuses a request over 1,000 requested points (MAX_COST_EXCEEDED) before running it."""
    assert doc.cost <= MAX_QUERY_COST, (
        f"{doc.key} ({doc.operation}) requests {doc.cost} points with {doc.priced_with}; "
        f"Shopify refuses anything over {MAX_QUERY_COST}"
    )


def test_docs_list_every_document_with_its_cost():
    """docs/admin-queries.md has one row per document, with its operation name and exactly its cost."""
    rows = documented_rows(DOC_PATH.read_text(encoding="utf-8"))
    regenerate = "regenerate with: python -m plugin.dev.fakes.query_costs --write"
    assert sorted(rows) == [doc.key for doc in DOCUMENTS], regenerate
    for doc in DOCUMENTS:
        row = rows[doc.key]
        assert (row["Operation"], row["Requested cost"]) == (doc.operation, str(doc.cost)), f"{doc.key}: {regenerate}"
        assert row["What it is for"] not in ("", "(describe)"), f"{doc.key}: say what the document is for"


def test_app_client_treats_max_cost_exceeded_as_permanent(shopify):
    """The fake's refusal reaches the app's AdminClient as AdminAPIError (a PermanentError), not a retry."""
    token = shopify.add_shop(SHOP)
    client = AdminClient(
        SHOP,
        graphql_url(f"{shopify.url}/{{shop}}", SHOP, "2026-10"),
        access_token=lambda: token,
        session=requests.Session(),
        timeout=(2.0, 5.0),
        sleep=lambda s: pytest.fail("no retry"),
    )
    costly = "query Costly { orders(first: 250) { nodes { id lineItems(first: 10) { nodes { id } } } } }"
    with pytest.raises(AdminAPIError, match="MAX_COST|exceeds the single query max cost limit") as raised:
        client.execute(costly)
    assert isinstance(raised.value, PermanentError)
    assert len(shopify.graphql_calls("orders")) == 1
