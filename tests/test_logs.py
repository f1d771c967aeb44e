"""Structured log lines: one JSON object per event, secret-named fields dropped, Shopify tokens redacted everywhere."""

import io
import json
import logging

import pytest

from plugin.logs import _Formatter, log_event

TOKEN = "shpat_0123456789abcdef0123456789abcdef"


@pytest.fixture
def captured():
    """Lines written through the app's formatter, from any logger."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_Formatter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


def test_event_is_one_json_line_without_secret_fields(captured):
    log_event(
        "job",
        shop="demo.myshopify.com",
        order_id="820982911946154508",
        outcome="too_late",
        duration_ms=12.5,
        token=TOKEN,
        access_token=TOKEN,
        refresh_token="shprt_abcdefabcdef",
        shop_token=TOKEN,
        gelato_api_key="key-123",
        client_secret="s3cret",
        error=None,
    )
    [line] = captured.getvalue().splitlines()
    record = json.loads(line)
    assert record["event"] == "job" and record["ts"].endswith("+00:00")
    assert {k: record[k] for k in ("shop", "order_id", "outcome", "duration_ms")} == {
        "shop": "demo.myshopify.com",
        "order_id": "820982911946154508",
        "outcome": "too_late",
        "duration_ms": 12.5,
    }
    assert set(record) == {"ts", "event", "shop", "order_id", "outcome", "duration_ms"}
    for secret in (TOKEN, "shprt_abcdefabcdef", "key-123", "s3cret"):
        assert secret not in line


def test_tokens_inside_messages_are_redacted_for_every_logger(captured):
    logging.getLogger("requests.somewhere").warning("retrying with header X-Shopify-Access-Token: %s", TOKEN)
    log_event("job_failed", error=f"refused token {TOKEN} and refresh shprt_0a1b2c3d4e5f")
    output = captured.getvalue()
    assert TOKEN not in output and "shprt_0a1b2c3d4e5f" not in output
    assert output.count("shpat_[redacted]") == 2 and "shprt_[redacted]" in output
    json.loads(output.splitlines()[1])  # still one valid JSON line
