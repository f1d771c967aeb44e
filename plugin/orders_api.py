"""Admin GraphQL operations on a store order: read the note, append a paragraph, add tags."""

from __future__ import annotations

from dataclasses import dataclass

from .admin_api import AdminClient, raise_user_errors
from .errors import AdminAPIError

ORDER_NOTE_QUERY = """
query OrderNote($id: ID!) {
  order(id: $id) {
    id
    name
    note
    tags
  }
}
"""

ORDER_NOTE_UPDATE = """
mutation OrderNoteUpdate($input: OrderInput!) {
  orderUpdate(input: $input) {
    order {
      id
      note
    }
    userErrors {
      field
      message
    }
  }
}
"""

TAGS_ADD = """
mutation OrderTagsAdd($id: ID!, $tags: [String!]!) {
  tagsAdd(id: $id, tags: $tags) {
    node {
      id
    }
    userErrors {
      field
      message
    }
  }
}
"""

TAGS_REMOVE = """
mutation OrderTagsRemove($id: ID!, $tags: [String!]!) {
  tagsRemove(id: $id, tags: $tags) {
    node {
      id
    }
    userErrors {
      field
      message
    }
  }
}
"""

PARAGRAPH_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class OrderNote:
    """An order's name, current note and tags."""

    gid: str
    name: str
    note: str
    tags: tuple[str, ...]


def order_gid(order_id: str) -> str:
    """The GraphQL id of a store order from its numeric id."""
    return f"gid://shopify/Order/{order_id}"


def read_order_note(client: AdminClient, gid: str) -> OrderNote:
    """Read the order's current note and tags."""
    order = client.execute(ORDER_NOTE_QUERY, {"id": gid}).get("order")
    if not isinstance(order, dict):
        raise AdminAPIError(f"order {gid} not found in {client.shop}")
    return OrderNote(
        gid=gid,
        name=str(order.get("name") or ""),
        note=order.get("note") or "",
        tags=tuple(order.get("tags") or ()),
    )


def append_paragraph(client: AdminClient, current: OrderNote, paragraph: str) -> str:
    """Write current note + paragraph (orderUpdate replaces the note, so never send less)."""
    note = current.note.rstrip() + PARAGRAPH_SEPARATOR + paragraph if current.note.strip() else paragraph
    data = client.execute(ORDER_NOTE_UPDATE, {"input": {"id": current.gid, "note": note}})
    raise_user_errors(data.get("orderUpdate"), f"orderUpdate {current.gid}")
    return note


def add_tags(client: AdminClient, gid: str, tags: list[str]) -> None:
    """Add tags to the order without touching its other tags."""
    data = client.execute(TAGS_ADD, {"id": gid, "tags": tags})
    raise_user_errors(data.get("tagsAdd"), f"tagsAdd {gid}")


def remove_tags(client: AdminClient, gid: str, tags: list[str]) -> None:
    """Remove tags from the order without touching its other tags."""
    data = client.execute(TAGS_REMOVE, {"id": gid, "tags": tags})
    raise_user_errors(data.get("tagsRemove"), f"tagsRemove {gid}")
