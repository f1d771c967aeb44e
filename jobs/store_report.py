"""Write to the store order exactly once: note paragraphs and tags, guarded by the order's ledger."""

from __future__ import annotations

from collections.abc import Callable

from plugin.orders.ids import order_gid
from plugin.shopify.admin_api import AdminClient
from plugin.shopify.orders_api import add_tags, append_paragraph, read_order_note, remove_tags

from .ledger import STORE_ORDER, OrderLedger
from .paragraphs import paragraph_ref


def write_paragraph_once(
    ledger: OrderLedger,
    client: AdminClient,
    entries: list[tuple[str, str]],
    compose: Callable[[list[tuple[str, str]], str], str],
) -> bool:
    """Append compose(pending, ref) to the note unless every entry was already written.

    The ref marker makes this safe across a crash between the Admin write and the ledger
    insert: a re-run finds the marker in the note and only completes the ledger. The note is
    read right before the write, after the paragraph is composed, and re-read if the write has to
    wait (append_paragraph), so a merchant's edit in the meantime is kept, not overwritten.
    """
    pending = ledger.pending(entries)
    if not pending:
        return False
    ref = paragraph_ref(ledger.shop, ledger.order_id, pending)
    marker = f"[{ref}]"
    paragraph = compose(pending, ref)
    current = read_order_note(client, order_gid(ledger.order_id))
    written = marker not in current.note and append_paragraph(client, current, paragraph, marker) is not None
    ledger.remember(pending, ref)
    return written


def add_tag_once(ledger: OrderLedger, client: AdminClient, tag: str) -> bool:
    """tagsAdd the tag unless the ledger says it was added already."""
    entry = (STORE_ORDER, f"tag:{tag}")
    if not ledger.pending([entry]):
        return False
    add_tags(client, order_gid(ledger.order_id), [tag])
    ledger.remember([entry], tag)
    return True


def remove_tag(ledger: OrderLedger, client: AdminClient, tag: str) -> None:
    """tagsRemove the tag and forget it in the ledger, so a later add_tag_once adds it again."""
    remove_tags(client, order_gid(ledger.order_id), [tag])
    ledger.forget((STORE_ORDER, f"tag:{tag}"))
