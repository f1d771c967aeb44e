"""Shopify Admin GraphQL client: constant documents, variables only, errors mapped to the hierarchy."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

import requests

from plugin import write_fence
from plugin.errors import (
    AdminAPIError,
    AdminForbidden,
    AdminUnauthorized,
    RateLimited,
)
from plugin.http import error_summary, send
from plugin.shopify.shop_domain import admin_base_url

log = logging.getLogger(__name__)

# A throttled call waits in place for the bucket to refill when that takes at most this long,
# instead of burning an RQ retry (the bucket refills at restoreRate points per second).
MAX_INLINE_THROTTLE_WAIT = 2.0
MAX_INLINE_THROTTLE_TRIES = 5
# Shopify's restore rate for a standard shop; used when a throttled answer omits it.
DEFAULT_RESTORE_RATE = 100.0
# A document whose operation is a mutation (after comments and blank lines): a write to fence.
_MUTATION = re.compile(r"\A(?:\s|#[^\n]*)*mutation\b")


def graphql_url(admin_url_template: str, shop: str, api_version: str) -> str:
    """{SHOPIFY_ADMIN_URL}/admin/api/{version}/graphql.json for the shop."""
    return f"{admin_base_url(admin_url_template, shop)}/admin/api/{api_version}/graphql.json"


class AdminClient:
    """Runs GraphQL documents against one shop's Admin API."""

    def __init__(
        self,
        shop: str,
        url: str,
        access_token: Callable[[], str],
        session: requests.Session,
        timeout: tuple[float, float],
        on_unauthorized: Callable[[], bool] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_inline_wait: float = MAX_INLINE_THROTTLE_WAIT,
    ):
        """max_inline_wait: the longest throttle waited out in place; longer ones raise RateLimited (0: never wait)."""
        self.shop = shop
        self._url = url
        self._access_token = access_token
        self._session = session
        self._timeout = timeout
        # Called once on a 401; True means a fresh token is available and the call is worth repeating.
        self._on_unauthorized = on_unauthorized
        self._sleep = sleep
        self._max_inline_wait = max_inline_wait
        # The store's cost bucket as the last answer reported it: (currently available, maximum, restore rate).
        self.bucket: tuple[float, float, float] | None = None

    def execute(self, document: str, variables: dict | None = None, *, wait_inline: bool = True) -> dict:
        """Run one document with variables and return its `data`; raise on any error.

        A short throttle is waited out here and the same request sent again; wait_inline=False
        raises RateLimited at once instead (execute_write: a write built from a read must not be
        sent unchanged after a wait, because what it read may have changed meanwhile).
        """
        retried_unauthorized = False
        for attempt in range(MAX_INLINE_THROTTLE_TRIES + 1):
            try:
                return self._execute_once(document, variables or {})
            except AdminUnauthorized:
                if retried_unauthorized or self._on_unauthorized is None or not self._on_unauthorized():
                    raise
                retried_unauthorized = True
            except (_Throttled, RateLimited) as throttled:
                wait = throttled.wait if isinstance(throttled, _Throttled) else (throttled.retry_after or 1.0)
                if not wait_inline or wait > self._max_inline_wait or attempt == MAX_INLINE_THROTTLE_TRIES:
                    raise RateLimited(f"Admin API throttled for {self.shop}", retry_after=wait) from throttled
                log.info("Admin API throttled for %s; waiting %.2fs for the bucket to refill", self.shop, wait)
                self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def execute_write(self, build: Callable[[], tuple[str, dict] | None]) -> dict | None:
        """Run the mutation build() returns, rebuilding it from a fresh read after each throttle wait.

        build() reads what the write depends on (e.g. the order's note) and returns (document,
        variables), or None when nothing is left to write (then this returns None). No throttle
        wait ever falls between that read and the write: a throttled write waits, then reads again.
        """
        for attempt in range(MAX_INLINE_THROTTLE_TRIES + 1):
            request = build()
            if request is None:
                return None
            document, variables = request
            try:
                return self.execute(document, variables, wait_inline=False)
            except RateLimited as throttled:
                wait = throttled.retry_after or 1.0
                if wait > self._max_inline_wait or attempt == MAX_INLINE_THROTTLE_TRIES:
                    raise RateLimited(f"Admin API throttled for {self.shop}", retry_after=wait) from throttled
                log.info("Admin API throttled for %s; waiting %.2fs, then reading again before the write", self.shop, wait)
                self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _execute_once(self, document: str, variables: dict) -> dict:
        headers = {
            "X-Shopify-Access-Token": self._access_token(),
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        if _MUTATION.match(document):
            # The last moment before a write (after any token refresh): a job that lost its order
            # lock must not write (plugin/write_fence.py); a no-op outside an order lock.
            write_fence.check()
        response = send(
            self._session,
            "POST",
            self._url,
            what=f"Admin API ({self.shop})",
            timeout=self._timeout,
            headers=headers,
            json={"query": document, "variables": variables},
            allow_redirects=False,
        )
        if response.status_code == 401:
            raise AdminUnauthorized(f"Admin API ({self.shop}): access token refused")
        if response.status_code == 403:
            # Its own class (still an AdminAPIError for other callers): the uninstall probe takes a
            # 403 as Shopify refusing the token, like a 401.
            raise AdminForbidden(f"Admin API ({self.shop}): HTTP 403 {error_summary(response)}")
        try:
            body = response.json()
        except ValueError as exc:
            raise AdminAPIError(f"Admin API ({self.shop}): HTTP {response.status_code}, answer is not JSON") from exc
        if not isinstance(body, dict):
            raise AdminAPIError(f"Admin API ({self.shop}): answer is not a JSON object")
        errors = body.get("errors")
        if errors:
            if _is_throttled(errors):
                raise _Throttled(_throttle_wait(body))
            raise AdminAPIError(f"Admin API ({self.shop}): {_describe_errors(errors)}")
        if response.status_code != 200:
            raise AdminAPIError(f"Admin API ({self.shop}): HTTP {response.status_code} {error_summary(response)}")
        self.bucket = _bucket(body) or self.bucket
        data = body.get("data")
        if not isinstance(data, dict):
            raise AdminAPIError(f"Admin API ({self.shop}): answer has no data")
        return data


def raise_user_errors(payload: dict | None, what: str) -> dict:
    """Return a mutation payload, or raise AdminAPIError when it carries userErrors."""
    if not isinstance(payload, dict):
        raise AdminAPIError(f"{what}: empty mutation payload")
    user_errors = payload.get("userErrors") or []
    if user_errors:
        messages = "; ".join(str(error.get("message", error)) for error in user_errors if isinstance(error, dict))
        raise AdminAPIError(f"{what}: {messages or user_errors}")
    return payload


class _Throttled(Exception):
    def __init__(self, wait: float):
        super().__init__(f"throttled, retry in {wait:.2f}s")
        self.wait = wait


def _is_throttled(errors) -> bool:
    if not isinstance(errors, list):
        return False
    return any(
        isinstance(error, dict) and isinstance(error.get("extensions"), dict) and error["extensions"].get("code") == "THROTTLED"
        for error in errors
    )


def _throttle_wait(body: dict) -> float:
    """Seconds until the cost bucket holds enough points for the request again."""
    cost = (body.get("extensions") or {}).get("cost") or {}
    status = cost.get("throttleStatus") or {}
    try:
        restore_rate = float(status.get("restoreRate") or DEFAULT_RESTORE_RATE)
        available = float(status.get("currentlyAvailable") or 0.0)
        needed = float(cost.get("requestedQueryCost") or 50.0)
    except (TypeError, ValueError):
        return 1.0
    return max(0.05, (needed - available) / max(restore_rate, 1.0))


def _bucket(body: dict) -> tuple[float, float, float] | None:
    """(currently available, maximum, restore rate) from an answer's extensions.cost.throttleStatus, if well formed.

    Shopify reports the bucket on every answer (https://shopify.dev/docs/api/usage/rate-limits#graphql-admin-api-rate-limits).
    """
    status = ((body.get("extensions") or {}).get("cost") or {}).get("throttleStatus")
    if not isinstance(status, dict):
        return None
    try:
        return float(status["currentlyAvailable"]), float(status["maximumAvailable"]), float(status["restoreRate"])
    except (KeyError, TypeError, ValueError):
        return None


def _describe_errors(errors) -> str:
    if isinstance(errors, list):
        return "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)[:500]
    return str(errors)[:500]
