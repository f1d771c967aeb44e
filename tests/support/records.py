"""What the app recorded, read back for assertions: log events and database history."""

from __future__ import annotations

import json

from sqlalchemy import select

from plugin.store.models import Activity, NoteEntry


def events(caplog, name: str) -> list[dict]:
    """The JSON log events called name, in the order they were logged."""
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "print_mirror.events"]
    return [line for line in lines if line["event"] == name]


def history(app) -> set[tuple[str, str, str]]:
    """{(kind, shop, order id)} of every activity row and every note-ledger entry."""
    with app.extensions["database"].session() as session:
        rows = {("activity", a.shop, a.store_order_id) for a in session.scalars(select(Activity))}
        rows |= {("note", n.shop, n.store_order_id) for n in session.scalars(select(NoteEntry))}
    return rows
