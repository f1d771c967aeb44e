"""Admin GraphQL operations on a store order: read the note, append a paragraph, add tags."""

from __future__ import annotations

from dataclasses import dataclass

from plugin.errors import AdminAPIError
from plugin.shopify.admin_api import AdminClient, raise_user_errors

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


def append_paragraph(client: AdminClient, current: OrderNote, paragraph: str, marker: str | None = None) -> str | None:
    """Write the order's note + paragraph; None when a re-read note already carries marker.

    orderUpdate replaces the note, so it must send the note as it is right now: a note the merchant
    edited after our read would lose the edit. The first try sends `current` (read just before); a
    throttled try is not sent again unchanged after the wait but rebuilt from a fresh read
    (AdminClient.execute_write), so no throttle wait ever falls between the read and the write.
    When the fresh note already carries the paragraph's marker (another run wrote it meanwhile),
    nothing is written.
    """
    notes: list[str] = []  # the note each try was built from

    def build() -> tuple[str, dict] | None:
        if not notes:
            notes.append(current.note)  # read by the caller just before
        else:
            fresh = read_order_note(client, current.gid).note
            if marker and marker in fresh:
                return None
            notes.append(fresh)
        return ORDER_NOTE_UPDATE, {"input": {"id": current.gid, "note": with_paragraph(notes[-1], paragraph)}}

    data = client.execute_write(build)
    if data is None:
        return None
    raise_user_errors(data.get("orderUpdate"), f"orderUpdate {current.gid}")
    return with_paragraph(notes[-1], paragraph)


def with_paragraph(note: str, paragraph: str) -> str:
    """note + a blank line + paragraph; just the paragraph on an empty note."""
    return note.rstrip() + PARAGRAPH_SEPARATOR + paragraph if note.strip() else paragraph


def add_tags(client: AdminClient, gid: str, tags: list[str]) -> None:
    """Add tags to the order without touching its other tags."""
    data = client.execute(TAGS_ADD, {"id": gid, "tags": tags})
    raise_user_errors(data.get("tagsAdd"), f"tagsAdd {gid}")


def remove_tags(client: AdminClient, gid: str, tags: list[str]) -> None:
    """Remove tags from the order without touching its other tags."""
    data = client.execute(TAGS_REMOVE, {"id": gid, "tags": tags})
    raise_user_errors(data.get("tagsRemove"), f"tagsRemove {gid}")
