"""Write to the store order exactly once: note paragraphs and tags, guarded by a ledger."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import delete, select

from plugin.admin_api import AdminClient
from plugin.db import Database
from plugin.models import NoteEntry
from plugin.orders_api import add_tags, append_paragraph, order_gid, read_order_note, remove_tags

from .paragraphs import paragraph_ref

# Ledger entries for tags use this in place of a print order id.
STORE_ORDER = ""


def pending_entries(database: Database, shop: str, order_id: str, entries: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (print order id, entry key) pairs not yet written to this order, in the given order."""
    with database.session() as session:
        rows = session.execute(
            select(NoteEntry.print_order_id, NoteEntry.entry_key).where(
                NoteEntry.shop == shop, NoteEntry.store_order_id == order_id
            )
        )
        done = {(print_order_id, entry_key) for print_order_id, entry_key in rows}
    return [entry for entry in entries if entry not in done]


def write_paragraph_once(
    database: Database,
    client: AdminClient,
    shop: str,
    order_id: str,
    entries: list[tuple[str, str]],
    compose: Callable[[list[tuple[str, str]], str], str],
) -> bool:
    """Append compose(pending, ref) to the note unless every entry was already written.

    The ref marker makes this safe across a crash between the Admin write and the ledger
    insert: a re-run finds the marker in the note and only completes the ledger.
    """
    pending = pending_entries(database, shop, order_id, entries)
    if not pending:
        return False
    ref = paragraph_ref(shop, order_id, pending)
    current = read_order_note(client, order_gid(order_id))
    written = f"[{ref}]" not in current.note
    if written:
        append_paragraph(client, current, compose(pending, ref))
    _remember(database, shop, order_id, pending, ref)
    return written


def add_tag_once(database: Database, client: AdminClient, shop: str, order_id: str, tag: str) -> bool:
    """tagsAdd the tag unless the ledger says it was added already."""
    entry = (STORE_ORDER, f"tag:{tag}")
    if not pending_entries(database, shop, order_id, [entry]):
        return False
    add_tags(client, order_gid(order_id), [tag])
    _remember(database, shop, order_id, [entry], tag)
    return True


def _remember(database: Database, shop: str, order_id: str, entries: list[tuple[str, str]], ref: str) -> None:
    with database.session() as session:
        session.add_all(
            NoteEntry(shop=shop, store_order_id=order_id, print_order_id=p, entry_key=k, ref=ref[:32])
            for p, k in entries
        )


def remove_tag(database: Database, client: AdminClient, shop: str, order_id: str, tag: str) -> None:
    """tagsRemove the tag and forget it in the ledger, so a later add_tag_once adds it again."""
    remove_tags(client, order_gid(order_id), [tag])
    with database.session() as session:
        session.execute(
            delete(NoteEntry).where(
                NoteEntry.shop == shop, NoteEntry.store_order_id == order_id,
                NoteEntry.print_order_id == STORE_ORDER, NoteEntry.entry_key == f"tag:{tag}",
            )
        )


def entries_with_prefix(database: Database, shop: str, order_id: str, prefix: str) -> list[str]:
    """The store-order ledger keys of this order that start with prefix."""
    with database.session() as session:
        return list(
            session.scalars(
                select(NoteEntry.entry_key).where(
                    NoteEntry.shop == shop, NoteEntry.store_order_id == order_id,
                    NoteEntry.print_order_id == STORE_ORDER, NoteEntry.entry_key.startswith(prefix, autoescape=True),
                )
            )
        )
