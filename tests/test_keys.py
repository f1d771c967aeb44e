"""Every Redis key is named in plugin.store.keys, and every kind that concerns a shop is found by erasure."""

from __future__ import annotations

import ast
from pathlib import Path

from jobs.privacy import redact_shop
from plugin.store import keys
from tests.conftest import SHOP

ROOT = Path(__file__).resolve().parent.parent
OTHER_SHOP = "other.myshopify.com"


def test_no_module_spells_a_key_of_its_own():
    spelled = []
    for package in ("plugin", "jobs", "webhooks"):
        for path in (ROOT / package).rglob("*.py"):
            if path == ROOT / "plugin/store/keys.py" or "dev" in path.relative_to(ROOT).parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(keys.PREFIX):
                    spelled.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert spelled == []


def test_every_kind_is_listed_once_under_the_prefix():
    assert len({kind.prefix for kind in keys.KINDS}) == len(keys.KINDS)
    assert all(kind.prefix.startswith(keys.PREFIX) for kind in keys.KINDS)


def test_shop_redact_erases_every_kind_that_names_the_shop_and_only_that_shop(app, redis_client):
    naming = [kind for kind in keys.KINDS if kind.names_shop]
    assert naming
    for kind in naming:
        redis_client.set(kind.key(SHOP, "820982911946154508"), "1")
        redis_client.set(kind.key(OTHER_SHOP, "820982911946154509"), "1")
    with app.app_context():
        assert redact_shop(SHOP)["result"] == "erased"
    left = {raw.decode() for raw in redis_client.scan_iter(match=f"{keys.PREFIX}*")}
    assert not [key for key in left if SHOP in key.split(":") and ":lock:" not in key]
    assert {kind.key(OTHER_SHOP, "820982911946154509") for kind in naming} <= left
