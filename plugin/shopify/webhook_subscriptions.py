"""Register the app's webhook subscriptions on a shop, idempotently."""

from __future__ import annotations

from plugin.errors import ConfigurationError
from plugin.shopify.admin_api import AdminClient, raise_user_errors

# The topics the app mirrors or must react to; privacy topics are declared in shopify.app.toml.
TOPICS = ("ORDERS_CANCELLED", "ORDERS_UPDATED", "APP_UNINSTALLED")
# Shopify renamed callbackUrl to uri in API version 2025-10.
FIRST_VERSION_WITH_URI = "2025-10"

SUBSCRIPTIONS_QUERY_URI = """
query WebhookSubscriptions($first: Int!, $after: String) {
  webhookSubscriptions(first: $first, after: $after) {
    edges {
      node {
        id
        topic
        uri
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
"""

SUBSCRIPTIONS_QUERY_CALLBACK_URL = """
query WebhookSubscriptions($first: Int!, $after: String) {
  webhookSubscriptions(first: $first, after: $after) {
    edges {
      node {
        id
        topic
        endpoint {
          __typename
          ... on WebhookHttpEndpoint {
            callbackUrl
          }
        }
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
"""

SUBSCRIPTION_CREATE = """
mutation WebhookSubscriptionCreate($topic: WebhookSubscriptionTopic!, $webhookSubscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) {
    webhookSubscription {
      id
      topic
    }
    userErrors {
      field
      message
    }
  }
}
"""

_PAGE = 100


# WEBHOOK_SUBSCRIPTIONS: "app" registers per-shop subscriptions on install; "toml" leaves them to
# shopify.app.toml (both at once would deliver every event twice).
REGISTER_BY_APP = "app"
REGISTER_BY_TOML = "toml"


def registered_by_app(config) -> bool:
    """True when the app registers each shop's subscriptions itself; ConfigurationError for an unknown mode."""
    mode = config["WEBHOOK_SUBSCRIPTIONS"]
    if mode not in (REGISTER_BY_APP, REGISTER_BY_TOML):
        raise ConfigurationError(f"WEBHOOK_SUBSCRIPTIONS must be '{REGISTER_BY_APP}' or '{REGISTER_BY_TOML}', not {mode!r}")
    return mode == REGISTER_BY_APP


def uses_uri_field(api_version: str) -> bool:
    """True for API versions that name the address `uri` (2025-10 and later)."""
    # YYYY-MM strings order correctly as text; "unstable" is newest of all.
    return api_version == "unstable" or api_version >= FIRST_VERSION_WITH_URI


def existing_subscriptions(client: AdminClient, api_version: str) -> set[tuple[str, str]]:
    """The (topic, address) pairs already subscribed on the shop."""
    use_uri = uses_uri_field(api_version)
    document = SUBSCRIPTIONS_QUERY_URI if use_uri else SUBSCRIPTIONS_QUERY_CALLBACK_URL
    found: set[tuple[str, str]] = set()
    after = None
    while True:
        data = client.execute(document, {"first": _PAGE, "after": after})["webhookSubscriptions"]
        for edge in data.get("edges") or ():
            node = edge.get("node") or {}
            address = node.get("uri") if use_uri else (node.get("endpoint") or {}).get("callbackUrl")
            if address:
                found.add((node.get("topic"), address))
        page = data.get("pageInfo") or {}
        if not page.get("hasNextPage"):
            return found
        after = page.get("endCursor")


def register_webhooks(client: AdminClient, address: str, api_version: str) -> list[str]:
    """Subscribe every topic in TOPICS to address; return the topics newly created."""
    existing = existing_subscriptions(client, api_version)
    field = "uri" if uses_uri_field(api_version) else "callbackUrl"
    created = []
    for topic in TOPICS:
        if (topic, address) in existing:
            continue
        data = client.execute(
            SUBSCRIPTION_CREATE,
            {"topic": topic, "webhookSubscription": {field: address, "format": "JSON"}},
        )
        raise_user_errors(data.get("webhookSubscriptionCreate"), f"webhookSubscriptionCreate {topic}")
        created.append(topic)
    return created
