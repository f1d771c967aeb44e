"""Every Redis key the app writes, named in one place, and whether each names the shop.

A key "names the shop" when the shop domain is one of its ':'-separated segments, right after the
kind: that is how shop/redact and customers/redact (jobs/privacy) find what to erase, so a kind that
holds anything about a shop or its orders must name it. RQ's own keys (rq:*) are not listed: jobs
and results are erased through RQ's API.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "print-mirror:"


@dataclass(frozen=True)
class KeyKind:
    """One kind of key: its prefix, whether it names the shop, and what it holds."""

    prefix: str
    names_shop: bool
    holds: str

    def key(self, *parts: str) -> str:
        """The key for these segments (shop first for a kind that names the shop)."""
        return self.prefix + ":".join(parts)


METRICS = KeyKind(f"{PREFIX}metrics", False, "every /metrics counter, one hash")
RECONCILE_DUE = KeyKind(f"{PREFIX}reconcile:due", False, "when the next reconciliation sweep is due")
OAUTH_STATE = KeyKind(f"{PREFIX}oauth-state:", False, "one OAuth state nonce, for 10 minutes")
WEBHOOK_DELIVERY = KeyKind(f"{PREFIX}webhook:", False, "a delivery seen: topic and webhook id → job id")
WEBHOOK_BODY = KeyKind(f"{PREFIX}webhook-body:", True, "a signed body seen: shop, topic, sha256 → job id")
INSTALLED = KeyKind(f"{PREFIX}installed:", True, "the shop is installed (spares the door a database read)")
FINGERPRINT = KeyKind(f"{PREFIX}fingerprint:", True, "the last print-relevant state queued for an order")
UPDATED_AT = KeyKind(f"{PREFIX}updated-at:", True, "the newest update queued for an order")
ORDER_LOCK = KeyKind(f"{PREFIX}lock:order:", True, "the per-order lock")
TOKEN_LOCK = KeyKind(f"{PREFIX}lock:token:", True, "the per-shop token-refresh lock")
LANE = KeyKind(f"{PREFIX}lane:", True, "a store's jobs waiting on one queue, oldest first (jobs/lanes.py)")
LANE_RING = KeyKind(
    f"{PREFIX}lanes:", False, "the stores with jobs waiting on one queue, by last turn (a store leaves when its lane empties)"
)
LANE_TURN = KeyKind(f"{PREFIX}lane-turn", False, "a counter of turns given, for the rings' scores")
LANE_DOORBELL = KeyKind(f"{PREFIX}lane-doorbell", False, "wakes an idle worker when a job enters a lane")
ACCOUNT_DOWN = KeyKind(
    f"{PREFIX}account-down:", False, "a remote account held as down (until a probe succeeds) or paused (for its TTL)"
)
ACCOUNT_PROBE = KeyKind(
    f"{PREFIX}account-probe:", False, "a down account was probed less than one probe interval ago (the released job id)"
)
ACCOUNT_FAILURES = KeyKind(
    f"{PREFIX}account-failures:", False, "transient failures of an account since its last answer, for a short window"
)
ACCOUNT_HELD = KeyKind(f"{PREFIX}account-held:", False, "ids of the jobs set aside while an account is down, by when")
ACCOUNTS_DOWN = KeyKind(f"{PREFIX}accounts-down", False, "every account held as down or paused, by when it went down")

KINDS = (
    METRICS,
    RECONCILE_DUE,
    OAUTH_STATE,
    WEBHOOK_DELIVERY,
    WEBHOOK_BODY,
    INSTALLED,
    FINGERPRINT,
    UPDATED_AT,
    ORDER_LOCK,
    TOKEN_LOCK,
    LANE,
    LANE_RING,
    LANE_TURN,
    LANE_DOORBELL,
    ACCOUNT_DOWN,
    ACCOUNT_PROBE,
    ACCOUNT_FAILURES,
    ACCOUNT_HELD,
    ACCOUNTS_DOWN,
)
