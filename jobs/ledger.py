"""The ledger of what was written to one store order, read once per job while the order lock is held."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, insert, select

from plugin.store.db import Database
from plugin.store.models import NoteEntry

# Entries about the store order itself (tags, failure notes) use this in place of a print order id.
STORE_ORDER = ""

Entry = tuple[str, str]  # (print order id, entry key)


class OrderLedger:
    """The (print order id, entry key) pairs already written for one store order.

    Every writer of an order's ledger holds the order lock, so the rows read once at the first
    question stay true for the whole job: one database read per job instead of one per question.
    Every write goes to the database first and is then added here.
    """

    def __init__(self, database: Database, shop: str, order_id: str):
        self.database = database
        self.shop = shop
        self.order_id = order_id
        self._written: set[Entry] | None = None

    def pending(self, entries: Iterable[Entry]) -> list[Entry]:
        """The entries not yet written to this order, in the given order."""
        written = self._rows()
        return [entry for entry in entries if entry not in written]

    def store_order_keys(self, prefix: str) -> list[str]:
        """The keys of this order's store-order entries that start with prefix, sorted."""
        return sorted(key for print_order_id, key in self._rows() if print_order_id == STORE_ORDER and key.startswith(prefix))

    def remember(self, entries: list[Entry], ref: str) -> None:
        """Record entries as written, with the paragraph ref (or tag) that wrote them."""
        if not entries:
            return
        rows = [
            dict(shop=self.shop, store_order_id=self.order_id, print_order_id=p, entry_key=k, ref=ref[:32]) for p, k in entries
        ]
        try:
            with self.database.session() as session:
                session.execute(insert(NoteEntry), rows)
        except BaseException:
            # A concurrent writer (e.g. a lock that expired) may have added rows: read again next time.
            self._written = None
            raise
        self._rows().update(entries)

    def forget(self, entry: Entry) -> None:
        """Remove one entry, so that it can be written again."""
        print_order_id, key = entry
        with self.database.session() as session:
            session.execute(
                delete(NoteEntry).where(
                    NoteEntry.shop == self.shop,
                    NoteEntry.store_order_id == self.order_id,
                    NoteEntry.print_order_id == print_order_id,
                    NoteEntry.entry_key == key,
                )
            )
        self._rows().discard(entry)

    def _rows(self) -> set[Entry]:
        if self._written is None:
            with self.database.session() as session:
                rows = session.execute(
                    select(NoteEntry.print_order_id, NoteEntry.entry_key).where(
                        NoteEntry.shop == self.shop, NoteEntry.store_order_id == self.order_id
                    )
                )
                self._written = {(print_order_id, key) for print_order_id, key in rows}
        return self._written
