"""FakeShopify: a local HTTP fake of the Shopify Admin GraphQL API, OAuth and webhook delivery."""

from __future__ import annotations

import json
import queue
import re
import threading
import time
from typing import Any

from graphql import build_schema
from werkzeug.wrappers import Request, Response

from .._common import Call, FakeService, json_response
from .graphql import SCHEMA_PATH, GraphQLMixin
from .oauth import OAuthMixin
from .store import FIRST_LINE_ITEM_ID, FIRST_ORDER_ID, FIRST_SUBSCRIPTION_ID, NOT_FOUND_BODY, SAMPLE_ORDER_PATH, ShopStore, _Shop
from .webhooks import WebhooksMixin

_GRAPHQL_PATH = re.compile(r"^/(?P<shop>[^/]+)/admin/api/(?P<version>[^/]+)/graphql\.json$")
_OAUTH_PATH = re.compile(r"^/(?P<shop>[^/]+)/admin/oauth/(?P<action>authorize|access_token)$")
_SHOP_PATH = re.compile(r"^/(?P<shop>[^/]+)/")
_API_VERSION = re.compile(r"^(\d{4}-\d{2}|unstable)$")


class FakeShopify(ShopStore, OAuthMixin, GraphQLMixin, WebhooksMixin, FakeService):
    """Fake Shopify Admin (GraphQL, OAuth) plus a webhook sender, served on 127.0.0.1."""

    def __init__(self, api_key: str = "test-api-key", api_secret: str = "test-api-secret"):
        """Create an empty, unstarted fake for an app with these client credentials."""
        super().__init__()
        self.api_key = api_key
        self.api_secret = api_secret
        self.clock_offset = 0.0  # seconds added to the wall clock: tokens expire, timestamps move
        self.authorize_requests: list[dict] = []
        self.deliveries: list[dict] = []
        self._shops: dict[str, _Shop] = {}
        self._codes: dict[str, dict] = {}
        self._throttles: list[int] = []  # one HTTP status per throttled answer still to give
        self._graphql_hooks: list[dict] = []  # before_graphql: {"field", "callback", "remaining"}
        self._last_stamp = 0
        self._ids = {"order": FIRST_ORDER_ID, "line_item": FIRST_LINE_ITEM_ID, "subscription": FIRST_SUBSCRIPTION_ID}
        self._echo_target: str | None = None
        self._echo_secret: str | None = None
        self._echo_generation = 0
        self._echo_queue: queue.Queue = queue.Queue()
        self._echo_thread: threading.Thread | None = None
        self._deliveries_changed = threading.Condition()
        with open(SAMPLE_ORDER_PATH, encoding="utf-8") as fh:
            # The stdlib parses the 18-digit ids as exact ints, never floats.
            self._sample = json.load(fh)
        self._schema = build_schema(SCHEMA_PATH.read_text(encoding="utf-8"))
        self._compiled: dict[str, tuple] = {}  # query text -> (document, syntax error, validation errors)
        # False: every answer reports a nearly full bucket, so an app that paces itself on
        # throttleStatus never slows the tests down; True: a real leaky bucket per shop, refilling
        # at RESTORE_RATE points a second, that throttles a query costing more than it holds
        # (set_bucket empties or fills it; throttle_next still throttles on demand).
        self.drain_bucket = False
        # Not None: the scopes the merchant "granted", reported by the code exchange instead of the
        # requested ones (a merchant or a Partner Dashboard config granting less).
        self.granted_scopes_override: str | None = None
        self._bind_resolvers()

    # -- controls --------------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        times: int = 1,
        path_regex: str | None = None,
        body: Any = None,
        headers: dict | None = None,
        method: str | None = None,
    ) -> None:
        """Answer the next `times` requests (matching path_regex/method if given) with HTTP `status`."""
        self._add_fault(method, path_regex, status, times, body, headers)

    def set_bucket(self, shop: str, points: float) -> None:
        """Set what the shop's cost bucket holds now (it refills from here when drain_bucket is True)."""
        with self._lock:
            state = self._shops[shop]
            state.bucket = float(points)
            state.bucket_time = time.monotonic()

    def _default_fault_body(self, status: int) -> Any:
        """Shopify-style error body for injected failures."""
        return {"errors": "Internal Server Error" if status >= 500 else f"Injected failure ({status})"}

    def reset(self) -> None:
        """Forget shops, orders, tokens, subscriptions, faults, throttles, hooks, echo settings and logs."""
        with self._lock:
            self._reset_common()
            self._shops.clear()
            self._codes.clear()
            self._throttles.clear()
            self._graphql_hooks.clear()
            self.authorize_requests.clear()
            self.clock_offset = 0.0
            self.drain_bucket = False
            self.granted_scopes_override = None
            self._echo_target = None
            self._echo_secret = None
            self._echo_generation += 1
        with self._deliveries_changed:
            self.deliveries.clear()
            self._deliveries_changed.notify_all()

    def stop(self) -> None:
        """Stop serving and the echo sender."""
        super().stop()
        with self._lock:
            thread, self._echo_thread = self._echo_thread, None
        if thread is not None:
            self._echo_queue.put(None)
            thread.join(timeout=5)

    # -- HTTP dispatch ---------------------------------------------------------------------

    def _handle(self, request: Request, call: Call) -> Response:
        """Route to GraphQL or OAuth; everything else is 404 like an unknown Admin path."""
        shop_match = _SHOP_PATH.match(request.path)
        if shop_match:
            call.shop = shop_match["shop"]
        match = _GRAPHQL_PATH.match(request.path)
        if match and _API_VERSION.match(match["version"]):
            if request.method != "POST":
                return json_response(NOT_FOUND_BODY, 404)
            return self._graphql(request, call, match["shop"], match["version"])
        match = _OAUTH_PATH.match(request.path)
        if match and match["action"] == "authorize" and request.method == "GET":
            return self._authorize(request, match["shop"])
        if match and match["action"] == "access_token" and request.method == "POST":
            return self._access_token(request, call, match["shop"])
        return json_response(NOT_FOUND_BODY, 404)
