"""Configuration parsing and the database URL mapping."""

import pytest

from plugin.config import (
    DEFAULT_API_VERSION,
    load_config,
    retry_intervals,
    webhook_secrets,
)
from plugin.store.db import database_url


def test_defaults_follow_the_operator_contract():
    config = load_config({})
    assert config["SHOPIFY_API_VERSION"] == DEFAULT_API_VERSION == "2026-10"
    assert config["SHOPIFY_SCOPES"] == "read_orders,write_orders"
    assert config["SHOPIFY_ADMIN_URL"] == "https://{shop}"
    assert config["GELATO_API_URL"] == "https://order.gelatoapis.com"


def test_bad_number_is_a_clear_error():
    with pytest.raises(ValueError, match="WEBHOOK_MAX_BYTES"):
        load_config({"WEBHOOK_MAX_BYTES": "lots"})


def test_retry_intervals():
    assert retry_intervals({"RETRY_INTERVALS": "2, 5,15"}) == [2, 5, 15]
    assert retry_intervals({"RETRY_INTERVALS": ""}) == []  # backoff with jitter
    for bad in ("a,b", "-1"):
        with pytest.raises(ValueError):
            retry_intervals({"RETRY_INTERVALS": bad})


def test_secrets_current_then_old():
    assert webhook_secrets({"SHOPIFY_API_SECRET": "new", "SHOPIFY_API_SECRET_OLD": "old"}) == ["new", "old"]
    assert webhook_secrets({"SHOPIFY_API_SECRET": "new", "SHOPIFY_API_SECRET_OLD": ""}) == ["new"]


def test_database_url_mapping(tmp_path):
    assert database_url("postgres://u:p@h:5432/d", "x") == "postgresql+psycopg://u:p@h:5432/d"
    assert database_url("postgresql://u@h/d", "x") == "postgresql+psycopg://u@h/d"
    assert database_url("", str(tmp_path)) == f"sqlite:///{tmp_path}/print_mirror.db"
