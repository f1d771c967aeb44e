"""What mirroring did to one print order (or to the store order), as stored in the activity log."""

from __future__ import annotations

import enum


class PrintOutcome(enum.StrEnum):
    """One print order's outcome; the values are the activity log's words, kept stable."""

    CANCELLED = "cancelled"
    ALREADY_CANCELED = "already_canceled"
    TOO_LATE = "too_late"
    NOT_FOUND = "not_found"
    NO_PRINT_ORDERS = "no_print_orders"
    NOT_CONFIRMED = "not_confirmed"  # Shopify did not confirm what the delivery said: nothing touched
    NO_PROVIDER_ACCOUNT = "no_provider_account"  # the store connected no print provider: nothing sent
    IN_SYNC = "in_sync"
    CHANGE_TOO_LATE = "change_too_late"
    PATCHED = "patched"
    NEEDS_ACTION = "needs_action"
    SUPERSEDED = "superseded"
    REPLACED = "replaced"
    REPLACE_FAILED = "replace_failed"
