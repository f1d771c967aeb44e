"""FakeShopify: a local HTTP fake of the Shopify Admin GraphQL API, OAuth and webhook delivery."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import queue
import re
import secrets
import threading
import time
import uuid
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSyntaxError,
    InlineFragmentNode,
    IntValueNode,
    OperationType,
    VariableNode,
    build_schema,
    execute,
    get_named_type,
    is_abstract_type,
    is_leaf_type,
    parse,
    validate,
)
from graphql.utilities import get_operation_ast
from werkzeug.wrappers import Request, Response

from ._common import Call, FakeService, HookCallback, json_response

DATA_DIR = Path(__file__).resolve().parent / "data"
SAMPLE_ORDER_PATH = DATA_DIR / "shopify-order-webhook.json"
SCHEMA_PATH = Path(__file__).resolve().parent / "shopify_schema.graphql"

DEFAULT_API_VERSION = "2026-10"
# webhookSubscriptionCreate accepts `uri` from this version on; older versions use callbackUrl.
URI_MIN_API_VERSION = "2025-10"
# Shopify ids exceed 2^53 (9007199254740992); start above it so float-rounding bugs show up.
FIRST_ORDER_ID = 820982911946154508
FIRST_LINE_ITEM_ID = 487817672276298554
FIRST_SUBSCRIPTION_ID = 1047897672
ACCESS_TOKEN_TTL = 3600  # expiring offline access tokens live 60 minutes
REFRESH_TOKEN_TTL = 7776000  # refresh tokens live 90 days
AUTHORIZATION_CODE_TTL = 600
# The shop's timezone: REST payloads carry local offsets (like the sample), GraphQL uses UTC.
SHOP_TZ = timezone(timedelta(hours=-5))
BUCKET_MAX = 2000.0
RESTORE_RATE = 100.0
MUTATION_COST = 10
MAX_PAGE_SIZE = 250
# Shopify refuses, before running it, any single query whose requested cost exceeds this.
MAX_QUERY_COST = 1000
INVALID_TOKEN_BODY = {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
NOT_FOUND_BODY = {"errors": "Not Found"}
THROTTLED_ERROR = {
    "message": "Throttled",
    "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"},
}
# Shopify's refusal of a query over MAX_QUERY_COST: HTTP 200, this text and code, the cost and the
# limit in extensions (sample in https://shopify.dev/docs/api/usage/response-codes, "Sample 200
# error responses"; the same body is quoted by client libraries' tests).
MAX_COST_MESSAGE = (
    "Query cost is {cost}, which exceeds the single query max cost limit ({limit}).\n\n"
    "See https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\n"
    "cost of a query is calculated.\n\n"
    "To query larger amounts of data with fewer limits, bulk operations should be used instead.\n"
    "See https://shopify.dev/tutorials/perform-bulk-operations-with-admin-api for usage details.\n"
)
MAX_COST_DOCUMENTATION = "https://shopify.dev/api/usage/limits#rate-limits"
DEFAULT_LINE_ITEMS = (
    {"name": "Classic Poster - 50x70 cm", "title": "Classic Poster", "variant_title": "50x70 cm", "sku": "POSTER-50X70"},
    {"name": "Organic T-shirt - M / White", "title": "Organic T-shirt", "variant_title": "M / White", "sku": "TSHIRT-M-WHT"},
)
DEFAULT_SHIPPING_ADDRESS = {
    "first_name": "Steve",
    "last_name": "Shipper",
    "company": "Shipping Company",
    "address1": "123 Shipping Street",
    "address2": None,
    "city": "Shippington",
    "zip": "40003",
    "province": "Kentucky",
    "province_code": "KY",
    "country": "United States",
    "country_code": "US",
    "phone": "555-555-SHIP",
}
_COUNTRY_NAMES = {"US": "United States", "CA": "Canada", "GB": "United Kingdom", "DE": "Germany", "FR": "France"}
_GID = re.compile(r"^gid://shopify/(?P<type>\w+)/(?P<id>\d+)(?:\?.*)?$")
_GRAPHQL_PATH = re.compile(r"^/(?P<shop>[^/]+)/admin/api/(?P<version>[^/]+)/graphql\.json$")
_OAUTH_PATH = re.compile(r"^/(?P<shop>[^/]+)/admin/oauth/(?P<action>authorize|access_token)$")
_SHOP_PATH = re.compile(r"^/(?P<shop>[^/]+)/")
_API_VERSION = re.compile(r"^(\d{4}-\d{2}|unstable)$")
_SEARCH_TERM = re.compile(r"""(-)?(\w+):(>=|<=|>|<|=)?(?:"([^"]*)"|'([^']*)'|(\S+))""")
_ORDER_FIELDS = frozenset(
    {
        "note",
        "tags",
        "cancelled_at",
        "cancel_reason",
        "closed_at",
        "line_items",
        "shipping_address",
        "name",
        "email",
        "display_fulfillment_status",
        "financial_status",
        "test",
        "custom_attributes",
    }
)


def sign(body: bytes, secret: str) -> str:
    """Shopify's webhook signature: base64 of HMAC-SHA256 over the raw body."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def oauth_hmac(params: dict, secret: str) -> str:
    """Shopify's OAuth query signature: hex HMAC-SHA256 over the sorted `k=v` pairs minus hmac."""
    pairs = []
    for key, value in params.items():
        if key in ("hmac", "signature"):
            continue
        if isinstance(value, (list, tuple)):  # foo[]=1&foo[]=2 is signed as foo=["1", "2"]
            key, value = key[:-2] if key.endswith("[]") else key, json.dumps([str(v) for v in value])
        # Escape the delimiters so a value cannot forge another pair (Shopify's rule).
        key = str(key).replace("%", "%25").replace("=", "%3D")
        value = str(value).replace("%", "%25")
        pairs.append(f"{key}={value}".replace("&", "%26"))
    message = "&".join(sorted(pairs))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def order_gid(order_id: int) -> str:
    """The GraphQL global id of a REST order id."""
    return f"gid://shopify/Order/{int(order_id)}"


def _utc_iso(ts: float | None) -> str | None:
    """GraphQL DateTime format: UTC with a Z suffix, whole seconds."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rest_iso(ts: float | None) -> str | None:
    """REST/webhook format: the shop's local time with its offset, e.g. 2021-12-31T19:00:00-05:00."""
    if ts is None:
        return None
    return datetime.fromtimestamp(int(ts), SHOP_TZ).isoformat()


def _to_ts(value: Any) -> float | None:
    """Accept None, epoch seconds, datetime or ISO 8601 text; return epoch seconds."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    raise TypeError(f"not a timestamp: {value!r}")


def _version_at_least(version: str, minimum: str) -> bool:
    """Compare Admin API versions (YYYY-MM; 'unstable' is newest)."""
    return version == "unstable" or version >= minimum


def _parse_gid(value: Any) -> tuple[str, int]:
    """Split gid://shopify/Type/123 into ("Type", 123) or raise a GraphQL error like Shopify."""
    match = _GID.match(str(value))
    if not match:
        raise GraphQLError(f"Invalid global id '{value}'", extensions={"code": "argumentLiteralsIncompatible"})
    return match["type"], int(match["id"])


def _split_tags(tags: str | Iterable[str]) -> list[str]:
    """Shopify splits tag strings on commas and trims them; empty and duplicate tags are dropped."""
    if isinstance(tags, str):
        tags = [tags]
    out: list[str] = []
    for tag in tags:
        for part in str(tag).split(","):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return out


# -- requested query cost ------------------------------------------------------------------
# Shopify's documented rule (https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits,
# "Cost calculation"; also https://shopify.engineering/rate-limiting-graphql-apis-calculating-query-complexity):
# scalars and enums cost 0, an object 1, an interface or union the maximum of its possible
# selections, a connection is sized by its first/last argument: 2 + size x (one node: 1 plus its
# own selections), so nested connections multiply; a mutation costs 10. `edges`, `node`, `nodes`
# and `pageInfo` are the connection's own wrappers and add nothing beyond that (the docs give
# pageInfo no cost of its own; we count it inside the fixed 2). Shopify may set lower costs on
# particular fields; the fake never does, so it errs on the expensive side.

_DEFAULT_SCHEMA = None


def _default_schema():
    """The fake's schema, built once (building twice in a race is harmless)."""
    global _DEFAULT_SCHEMA
    if _DEFAULT_SCHEMA is None:
        _DEFAULT_SCHEMA = build_schema(SCHEMA_PATH.read_text(encoding="utf-8"))
    return _DEFAULT_SCHEMA


def requested_cost(document: str, variables: dict | None = None, operation_name: str | None = None) -> int:
    """Shopify's requested cost of a GraphQL document; ValueError if it is invalid or a page size is unknown."""
    schema = _default_schema()
    try:
        ast = parse(document)
    except GraphQLSyntaxError as exc:
        raise ValueError(f"not a GraphQL document: {exc.message}") from exc
    errors = validate(schema, ast)
    if errors:
        raise ValueError("invalid against shopify_schema.graphql: " + "; ".join(e.message for e in errors))
    operation = get_operation_ast(ast, operation_name)
    if operation is None:
        raise ValueError("name the operation to cost (operation_name): the document has several or none")
    return _operation_cost(schema, ast, operation, variables or {}, strict=True)


def _operation_cost(schema, document, operation, variables: dict, strict: bool = False) -> int:
    """Requested cost of one operation; strict raises when a connection's size cannot be known."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    # Variable defaults count: `$first: Int = 50` sizes a connection when the request omits it.
    values = {}
    for definition in operation.variable_definitions or ():
        if isinstance(definition.default_value, IntValueNode):
            values[definition.variable.name.value] = int(definition.default_value.value)
    values.update({k: v for k, v in variables.items() if v is not None})
    coster = _Coster(schema, fragments, values, strict)
    if operation.operation == OperationType.MUTATION:
        fields = coster.collect([operation.selection_set], schema.mutation_type)
        return MUTATION_COST * sum(1 for nodes in fields.values() if not nodes[0].name.value.startswith("__"))
    return coster.selections([operation.selection_set], schema.query_type)


class _Coster:
    """Walks selections the way GraphQL merges them (fragments, aliases) and prices them."""

    def __init__(self, schema, fragments: dict, values: dict, strict: bool):
        """Bind the schema, the document's fragments and the known variable values."""
        self.schema = schema
        self.fragments = fragments
        self.values = values
        self.strict = strict

    def collect(self, selection_sets, concrete) -> dict[str, list[FieldNode]]:
        """Fields selected on `concrete`, by response key, looking through fragments that apply to it."""
        out: dict[str, list[FieldNode]] = {}
        for selection_set in selection_sets:
            self._collect(selection_set, concrete, out, set())
        return out

    def _collect(self, selection_set, concrete, out: dict, seen: set) -> None:
        """One selection set into `out` (fragment spreads are followed once, like GraphQL does)."""
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                out.setdefault(sel.alias.value if sel.alias else sel.name.value, []).append(sel)
            elif isinstance(sel, InlineFragmentNode):
                if self._applies(sel.type_condition, concrete):
                    self._collect(sel.selection_set, concrete, out, seen)
            elif isinstance(sel, FragmentSpreadNode) and sel.name.value not in seen:
                fragment = self.fragments.get(sel.name.value)
                if fragment is not None and self._applies(fragment.type_condition, concrete):
                    seen.add(sel.name.value)
                    self._collect(fragment.selection_set, concrete, out, seen)

    def _applies(self, condition, concrete) -> bool:
        """Whether a fragment with this type condition is selected on an object of type `concrete`."""
        if condition is None:
            return True
        wanted = self.schema.get_type(condition.name.value)
        if wanted is None:
            return False
        return wanted is concrete or (is_abstract_type(wanted) and self.schema.is_sub_type(wanted, concrete))

    def selections(self, selection_sets, parent) -> int:
        """Cost of the (merged) selection sets under `parent`: the dearest possible type for an abstract one."""
        possible = list(self.schema.get_possible_types(parent)) if is_abstract_type(parent) else [parent]
        best = 0
        for concrete in possible or [parent]:
            fields = self.collect(selection_sets, concrete)
            best = max(best, sum(self.field(concrete, nodes) for nodes in fields.values()))
        return best

    def field(self, parent, nodes: list[FieldNode]) -> int:
        """Cost of one field (all nodes share a response key): 0 leaf, 1 + children object, sized connection."""
        name = nodes[0].name.value
        definition = getattr(parent, "fields", {}).get(name)
        if name.startswith("__") or definition is None:
            return 0
        named = get_named_type(definition.type)
        if is_leaf_type(named):
            return 0
        children = [n.selection_set for n in nodes if n.selection_set]
        if self._is_connection(named, definition):
            return self._connection(named, nodes, children)
        return 1 + self.selections(children, named)

    @staticmethod
    def _is_connection(named, definition) -> bool:
        """A Relay connection field: pages of nodes with pageInfo, sized by first or last."""
        return (
            isinstance(named, GraphQLObjectType)
            and "pageInfo" in named.fields
            and ("edges" in named.fields or "nodes" in named.fields)
            and ("first" in definition.args or "last" in definition.args)
        )

    def _connection(self, connection, nodes: list[FieldNode], children) -> int:
        """2 + size x (1 + one node's selections), plus anything else selected on the connection."""
        per_node = 0  # the node's own selections; `nodes` and `edges { node }` are the same objects
        other = 0
        for key_nodes in self.collect(children, connection).values():
            name = key_nodes[0].name.value
            sub = [n.selection_set for n in key_nodes if n.selection_set]
            if name == "nodes":
                per_node = max(per_node, self.selections(sub, get_named_type(connection.fields["nodes"].type)))
            elif name == "edges":
                edge = get_named_type(connection.fields["edges"].type)
                edge_cost = 0
                for edge_nodes in self.collect(sub, edge).values():
                    if edge_nodes[0].name.value == "node":
                        node_sub = [n.selection_set for n in edge_nodes if n.selection_set]
                        edge_cost += self.selections(node_sub, get_named_type(edge.fields["node"].type))
                    else:
                        edge_cost += self.field(edge, edge_nodes)  # cursor: a scalar, 0
                per_node = max(per_node, edge_cost)
            elif name != "pageInfo":
                other += self.field(connection, key_nodes)
        return 2 + self._size(nodes) * (1 + per_node) + other

    def _size(self, nodes: list[FieldNode]) -> int:
        """The page size from first/last (a literal or a variable); 0, or ValueError when strict, if unknown."""
        sizes = []
        for arg in nodes[0].arguments or ():
            if arg.name.value not in ("first", "last"):
                continue
            if isinstance(arg.value, IntValueNode):
                sizes.append(int(arg.value.value))
            elif isinstance(arg.value, VariableNode):
                value = self.values.get(arg.value.name.value)
                if isinstance(value, int) and not isinstance(value, bool):
                    sizes.append(value)
        if not sizes:
            if self.strict:
                raise ValueError(f"connection {nodes[0].name.value!r}: no first/last value to size it")
            return 0
        return max(sizes)


class _Shop:
    """State of one installed shop."""

    def __init__(self, domain: str):
        """Start with no tokens, orders or subscriptions."""
        self.domain = domain
        self.name = domain.split(".")[0].replace("-", " ").title()
        self.tokens: dict[str, dict] = {}  # access token -> {expires_at, expiring, scope}
        self.refresh_tokens: dict[str, tuple[float, str]] = {}  # refresh token -> (expires_at, scope)
        self.orders: dict[int, dict] = {}
        self.subscriptions: dict[int, dict] = {}
        self.next_order_number = 1001
        self.bucket = BUCKET_MAX
        self.bucket_time = time.monotonic()


class _Context:
    """Per-request GraphQL context: which shop, which API version, which orders changed."""

    def __init__(self, shop: _Shop, version: str):
        """Bind the request's shop and version."""
        self.shop = shop
        self.version = version
        self.changed_orders: list[int] = []


class FakeShopify(FakeService):
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
        # throttleStatus never slows the tests down; True: a real leaky bucket (never throttles
        # by itself either; use throttle_next for that).
        self.drain_bucket = False
        # Not None: the scopes the merchant "granted", reported by the code exchange instead of the
        # requested ones (a merchant or a Partner Dashboard config granting less).
        self.granted_scopes_override: str | None = None
        self._bind_resolvers()

    # -- clock -----------------------------------------------------------------------------

    def now(self) -> float:
        """The fake's current time in epoch seconds (wall clock plus clock_offset)."""
        return time.time() + self.clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Move the fake's clock forward (e.g. past a token's expiry)."""
        with self._lock:
            self.clock_offset += seconds

    def _stamp(self) -> int:
        """A whole-second timestamp strictly greater than every earlier one (updated_at ordering)."""
        with self._lock:
            self._last_stamp = max(int(self.now()), self._last_stamp + 1)
            return self._last_stamp

    def _next_id(self, kind: str) -> int:
        """Next id of a kind; ids never repeat within one fake, even across reset()."""
        with self._lock:
            value = self._ids[kind]
            self._ids[kind] += 1
            return value

    # -- shops and tokens ------------------------------------------------------------------

    def add_shop(self, shop: str, token: str | None = None) -> str:
        """Install the app on `shop` with a fixed (custom-app) admin token; returns the token."""
        with self._lock:
            state = self._shops.setdefault(shop, _Shop(shop))
            token = token or f"shpat_{secrets.token_hex(16)}"
            state.tokens[token] = {"expires_at": None, "expiring": False, "scope": "read_orders,write_orders"}
            return token

    def shops(self) -> list[str]:
        """Domains of all known shops."""
        with self._lock:
            return list(self._shops)

    def access_tokens(self, shop: str) -> list[str]:
        """Access tokens of `shop` that are valid right now."""
        with self._lock:
            state = self._shop(shop)
            return [t for t in state.tokens if self._token_valid(state, t)]

    def expire_access_token(self, shop: str) -> None:
        """Make every access token of `shop` expired (the next GraphQL call answers 401)."""
        with self._lock:
            for info in self._shop(shop).tokens.values():
                info["expires_at"] = self.now() - 1

    def revoke_refresh_token(self, shop: str) -> None:
        """Invalidate every refresh token of `shop` (refreshing answers 400)."""
        with self._lock:
            self._shop(shop).refresh_tokens.clear()

    def uninstall(self, shop: str) -> None:
        """Simulate an uninstall: all tokens and webhook subscriptions of `shop` are gone."""
        with self._lock:
            state = self._shop(shop)
            state.tokens.clear()
            state.refresh_tokens.clear()
            state.subscriptions.clear()

    def signed_query(self, params: dict, secret: str | None = None) -> dict:
        """A copy of `params` with Shopify's hex `hmac` added (to build install/callback requests)."""
        signed = {k: v for k, v in params.items() if k != "hmac"}
        signed["hmac"] = oauth_hmac(signed, secret or self.api_secret)
        return signed

    def _shop(self, shop: str) -> _Shop:
        """The shop's state or KeyError."""
        try:
            return self._shops[shop]
        except KeyError:
            raise KeyError(f"unknown shop {shop!r}; call add_shop() first") from None

    def _token_valid(self, state: _Shop, token: str | None) -> bool:
        """True when `token` belongs to the shop and has not expired."""
        info = state.tokens.get(token or "")
        return info is not None and (info["expires_at"] is None or info["expires_at"] > self.now())

    # -- orders ----------------------------------------------------------------------------

    def add_order(
        self,
        shop: str,
        note: str | None = None,
        tags: Iterable[str] = (),
        line_items: Iterable[dict] | None = None,
        shipping_address: dict | None = None,
        cancelled: bool = False,
        order_id: int | None = None,
        email: str = "jon@example.com",
        custom_attributes: Iterable[dict] = (),
    ) -> int:
        """Seed an order on `shop` and return its REST id (an int above 2^53)."""
        with self._lock:
            state = self._shop(shop)
            order_id = int(order_id) if order_id is not None else self._next_id("order")
            if order_id in state.orders:
                raise ValueError(f"order {order_id} already exists on {shop}")
            stamp = self._stamp()
            specs = list(line_items) if line_items is not None else [dict(d) for d in DEFAULT_LINE_ITEMS]
            order = {
                "id": order_id,
                "name": f"#{state.next_order_number}",
                "email": email,
                "note": note,
                "tags": _split_tags(tags),
                "test": False,
                "created_at": stamp,
                "processed_at": stamp,
                "updated_at": stamp,
                "cancelled_at": stamp if cancelled else None,
                "cancel_reason": "customer" if cancelled else None,
                "closed_at": None,
                "display_fulfillment_status": "UNFULFILLED",
                "financial_status": "voided" if cancelled else "paid",
                "custom_attributes": [dict(a) for a in custom_attributes],
                "line_items": [self._line_item(spec, i) for i, spec in enumerate(specs)],
                # shipping_address=False seeds an order without one (e.g. a digital-only order).
                "shipping_address": None
                if shipping_address is False
                else self._address(shipping_address or {}, DEFAULT_SHIPPING_ADDRESS),
            }
            state.next_order_number += 1
            state.orders[order_id] = order
            return order_id

    def order(self, shop: str, order_id: int) -> dict:
        """A copy of the order: REST field names, tags as a list, timestamps as ISO text."""
        with self._lock:
            return self._public_order(self._order(shop, order_id))

    def orders(self, shop: str) -> list[dict]:
        """Copies of every order of `shop`, oldest first."""
        with self._lock:
            return [self._public_order(o) for o in self._shop(shop).orders.values()]

    def set_order(self, shop: str, order_id: int, **changes) -> dict:
        """Change order fields (note, tags, cancelled_at, line_items, shipping_address, ...); bumps updated_at."""
        unknown = set(changes) - _ORDER_FIELDS
        if unknown:
            raise TypeError(f"unknown order fields: {sorted(unknown)}")
        with self._lock:
            order = self._order(shop, order_id)
            for key, value in changes.items():
                if key == "tags":
                    value = _split_tags(value)
                elif key in ("cancelled_at", "closed_at"):
                    value = _to_ts(value)
                elif key == "line_items":
                    value = [self._line_item(spec, i) for i, spec in enumerate(value)]
                elif key == "shipping_address":
                    # Merge onto the current address so a test can change one field at a time.
                    value = None if value is None else self._address(value, order["shipping_address"] or {})
                order[key] = value
            order["updated_at"] = self._stamp()
            return self._public_order(order)

    def set_line_item(self, shop: str, order_id: int, line_item_id: int, **changes) -> dict:
        """Change one line item (e.g. current_quantity=0 for a removed item); bumps updated_at."""
        with self._lock:
            order = self._order(shop, order_id)
            item = next((li for li in order["line_items"] if li["id"] == int(line_item_id)), None)
            if item is None:
                raise KeyError(f"order {order_id} has no line item {line_item_id}")
            unknown = set(changes) - set(item)
            if unknown:
                raise TypeError(f"unknown line item fields: {sorted(unknown)}")
            item.update(changes)
            order["updated_at"] = self._stamp()
            return self._public_order(order)

    def cancel_order(self, shop: str, order_id: int, reason: str = "customer") -> dict:
        """Cancel the order as a merchant would: sets cancelled_at and cancel_reason, bumps updated_at."""
        with self._lock:
            order = self._order(shop, order_id)
            stamp = self._stamp()
            order["cancelled_at"] = stamp
            order["cancel_reason"] = reason
            order["financial_status"] = "voided"
            order["updated_at"] = stamp
            return self._public_order(order)

    def order_payload(self, shop: str, order_id: int) -> dict:
        """The REST order JSON that orders/updated and orders/cancelled webhooks carry for this order."""
        with self._lock:
            order = self._order(shop, order_id)
            payload = copy.deepcopy(self._sample)
            number = int(order["name"].lstrip("#")) if order["name"].lstrip("#").isdigit() else payload["order_number"]
            cancelled = order["cancelled_at"] is not None
            payload.update(
                {
                    "id": order["id"],
                    "admin_graphql_api_id": order_gid(order["id"]),
                    "name": order["name"],
                    "number": number - 1000,
                    "order_number": number,
                    "email": order["email"],
                    "contact_email": order["email"],
                    "note": order["note"] or None,
                    "note_attributes": [{"name": a["key"], "value": a.get("value")} for a in order["custom_attributes"]],
                    "tags": ", ".join(order["tags"]),
                    "test": order["test"],
                    "created_at": _rest_iso(order["created_at"]),
                    "processed_at": _rest_iso(order["processed_at"]),
                    "updated_at": _rest_iso(order["updated_at"]),
                    "cancelled_at": _rest_iso(order["cancelled_at"]),
                    "cancel_reason": order["cancel_reason"] if cancelled else None,
                    "closed_at": _rest_iso(order["closed_at"]),
                    "financial_status": order["financial_status"],
                    "fulfillment_status": {"FULFILLED": "fulfilled", "PARTIALLY_FULFILLED": "partial"}.get(
                        order["display_fulfillment_status"]
                    ),
                    "line_items": [self._rest_line_item(li) for li in order["line_items"]],
                    "shipping_address": self._rest_address(order["shipping_address"]),
                    # The sample's refunds/fulfillments reference the sample's own line items.
                    "refunds": [],
                    "fulfillments": [],
                    "returns": [],
                }
            )
            return payload

    def _order(self, shop: str, order_id: int) -> dict:
        """The stored order or KeyError."""
        state = self._shop(shop)
        try:
            return state.orders[int(order_id)]
        except KeyError:
            raise KeyError(f"unknown order {order_id} on {shop}") from None

    def _line_item(self, spec: dict, index: int) -> dict:
        """A stored line item from a partial spec (missing fields get defaults, ids above 2^53)."""
        default = DEFAULT_LINE_ITEMS[index % len(DEFAULT_LINE_ITEMS)]
        quantity = int(spec.get("quantity", 1))
        name = spec.get("name", default["name"])
        return {
            "id": int(spec.get("id") or self._next_id("line_item")),
            "name": name,
            "title": spec.get("title", name if "name" in spec else default["title"]),
            "variant_title": spec.get("variant_title", None if "name" in spec else default["variant_title"]),
            "sku": spec.get("sku", default["sku"]),
            "quantity": quantity,
            "current_quantity": int(spec.get("current_quantity", quantity)),
            "fulfilled_quantity": int(spec.get("fulfilled_quantity", 0)),
            "requires_shipping": bool(spec.get("requires_shipping", True)),
            "properties": list(spec.get("properties", [])),
        }

    @staticmethod
    def _address(spec: dict, base: dict) -> dict:
        """A REST-style address: `spec` over `base`, with the derived `name`."""
        address = {**DEFAULT_SHIPPING_ADDRESS, **base, **spec}
        if "country_code" in spec and "country" not in spec:
            address["country"] = _COUNTRY_NAMES.get(spec["country_code"], spec["country_code"])
        if "province_code" in spec and "province" not in spec:
            address["province"] = spec["province_code"]
        address["name"] = " ".join(p for p in (address.get("first_name"), address.get("last_name")) if p)
        return address

    def _public_order(self, order: dict) -> dict:
        """The Python-facing copy of a stored order."""
        public = copy.deepcopy(order)
        for key in ("created_at", "processed_at", "updated_at", "cancelled_at", "closed_at"):
            public[key] = _rest_iso(order[key])
        public["admin_graphql_api_id"] = order_gid(order["id"])
        return public

    def _rest_line_item(self, item: dict) -> dict:
        """A webhook line item: the sample's fields with this item's ids and quantities."""
        rest = copy.deepcopy(self._sample["line_items"][0])
        unfulfilled = max(0, item["current_quantity"] - item["fulfilled_quantity"])
        status = None if item["fulfilled_quantity"] == 0 else ("fulfilled" if unfulfilled == 0 else "partial")
        rest.update(
            {
                "id": item["id"],
                "admin_graphql_api_id": f"gid://shopify/LineItem/{item['id']}",
                "attributed_staffs": [],
                "name": item["name"],
                "title": item["title"],
                "variant_title": item["variant_title"],
                "sku": item["sku"],
                "quantity": item["quantity"],
                "current_quantity": item["current_quantity"],
                "fulfillable_quantity": unfulfilled,
                "fulfillment_status": status,
                "requires_shipping": item["requires_shipping"],
                "properties": copy.deepcopy(item["properties"]),
            }
        )
        return rest

    @staticmethod
    def _rest_address(address: dict | None) -> dict | None:
        """A webhook shipping address (REST field names)."""
        if address is None:
            return None
        fields = (
            "first_name",
            "last_name",
            "name",
            "company",
            "address1",
            "address2",
            "city",
            "zip",
            "province",
            "province_code",
            "country",
            "country_code",
            "phone",
        )
        rest = {key: address.get(key) for key in fields}
        rest.update({"latitude": None, "longitude": None})
        return rest

    # -- webhooks --------------------------------------------------------------------------

    def send_webhook(
        self,
        target_url: str,
        shop: str,
        topic: str,
        payload: Any,
        secret: str | None = None,
        webhook_id: str | None = None,
        event_id: str | None = None,
        api_version: str = DEFAULT_API_VERSION,
        triggered_at: Any = None,
        headers: dict | None = None,
        timeout: float = 10.0,
    ) -> requests.Response:
        """POST a webhook exactly as Shopify does: raw JSON body, HMAC and X-Shopify-* headers."""
        # Serialise once and sign those exact bytes; bytes/str payloads pass through untouched.
        if isinstance(payload, (bytes, bytearray)):
            body = bytes(payload)
        elif isinstance(payload, str):
            body = payload.encode()
        else:
            body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        if triggered_at is None:
            triggered_at = datetime.fromtimestamp(self.now(), UTC)
        if isinstance(triggered_at, datetime):
            # Shopify sends nanosecond precision with a Z suffix.
            utc = triggered_at.astimezone(UTC)
            triggered_at = utc.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
        all_headers = {
            "Content-Type": "application/json",
            "User-Agent": "Shopify-Captain-Hook",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": sign(body, secret if secret is not None else self.api_secret),
            "X-Shopify-Shop-Domain": shop,
            "X-Shopify-API-Version": api_version,
            "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
            "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
            "X-Shopify-Triggered-At": str(triggered_at),
        }
        # Tests can override or drop (value None) any header to exercise verification paths.
        for key, value in (headers or {}).items():
            all_headers = {k: v for k, v in all_headers.items() if k.lower() != key.lower()}
            if value is not None:
                all_headers[key] = value
        return requests.post(target_url, data=body, headers=all_headers, timeout=timeout)

    def echo_order_updates(self, target_url: str | None, secret: str | None = None) -> None:
        """Send orders/updated to target_url whenever orderUpdate/tagsAdd/tagsRemove changes an order (None: off)."""
        with self._lock:
            self._echo_target = target_url
            self._echo_secret = secret
            if target_url:
                self._ensure_echo_thread()

    def _ensure_echo_thread(self) -> None:
        """Start the background sender if it is not running (also after a stop()/start())."""
        with self._lock:
            if self._echo_thread is None or not self._echo_thread.is_alive():
                self._echo_thread = threading.Thread(target=self._deliver_loop, name="fake-shopify-echo", daemon=True)
                self._echo_thread.start()

    def wait_for_deliveries(self, n: int, timeout: float = 5.0) -> list[dict]:
        """Block until at least n echo deliveries finished; return them (TimeoutError after timeout)."""
        deadline = time.monotonic() + timeout
        with self._deliveries_changed:
            while len(self.deliveries) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(self.deliveries)} of {n} webhook deliveries after {timeout}s")
                self._deliveries_changed.wait(remaining)
            return list(self.deliveries)

    def _queue_echo(self, shop: _Shop, order_ids: list[int], version: str) -> None:
        """Snapshot the changed orders now (Shopify sends the state at event time) and queue them."""
        if not self._echo_target:
            return
        self._ensure_echo_thread()
        for order_id in dict.fromkeys(order_ids):
            payload = self.order_payload(shop.domain, order_id)
            triggered_at = datetime.fromtimestamp(self.now(), UTC)  # the event time, not the send time
            target, secret = self._echo_target, self._echo_secret
            self._echo_queue.put((self._echo_generation, target, secret, shop.domain, payload, version, triggered_at))

    def _deliver_loop(self) -> None:
        """Background sender: one delivery at a time, in event order, like a single Shopify queue."""
        while True:
            job = self._echo_queue.get()
            if job is None:
                return
            generation, target, secret, shop, payload, version, triggered_at = job
            if generation != self._echo_generation:
                continue  # queued before reset(): drop it
            record = {
                "topic": "orders/updated",
                "shop": shop,
                "order_id": payload["id"],
                "webhook_id": str(uuid.uuid4()),
                "event_id": str(uuid.uuid4()),
                "status": None,
                "error": None,
            }
            try:
                response = self.send_webhook(
                    target,
                    shop,
                    "orders/updated",
                    payload,
                    secret=secret,
                    webhook_id=record["webhook_id"],
                    event_id=record["event_id"],
                    api_version=version,
                    triggered_at=triggered_at,
                    timeout=5.0,
                )
                record["status"] = response.status_code
            except Exception as exc:  # keep the sender alive: a failed delivery is data for the test
                record["error"] = repr(exc)
            with self._deliveries_changed:
                if generation == self._echo_generation:
                    self.deliveries.append(record)
                self._deliveries_changed.notify_all()

    # -- controls --------------------------------------------------------------------------

    def throttle_next(self, times: int = 1, http_status: int = 200) -> None:
        """Answer the next `times` GraphQL requests with a THROTTLED error (HTTP 200, or 429 + Retry-After)."""
        if http_status not in (200, 429):
            raise ValueError("Shopify throttles with HTTP 200 or 429")
        with self._lock:
            self._throttles.extend([http_status] * times)

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

    def before_graphql(self, field_name: str, callback: HookCallback, times: int | None = None) -> None:
        """Run callback(call) before executing each request selecting root field `field_name` (times=None: always)."""
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        with self._lock:
            self._graphql_hooks.append({"field": field_name, "callback": callback, "remaining": times})

    def _run_graphql_hooks(self, call: Call) -> None:
        """Run the before_graphql callbacks due for this request; the lock is released while they run."""
        with self._lock:
            due = []
            for hook in list(self._graphql_hooks):
                if hook["field"] in call.fields:
                    due.append(hook["callback"])
                    if hook["remaining"] is not None:
                        hook["remaining"] -= 1
                        if hook["remaining"] <= 0:
                            self._graphql_hooks.remove(hook)
        for callback in due:
            callback(call)

    def _default_fault_body(self, status: int) -> Any:
        """Shopify-style error body for injected failures."""
        return {"errors": "Internal Server Error" if status >= 500 else f"Injected failure ({status})"}

    def graphql_calls(self, field_name: str | None = None) -> list[Call]:
        """Recorded GraphQL calls, only those whose operation selects root field `field_name` if given."""
        with self._lock:
            return [c for c in self.calls if c.path.endswith("/graphql.json") and (field_name is None or field_name in c.fields)]

    def subscriptions(self, shop: str) -> list[dict]:
        """The shop's webhook subscriptions: id (gid), topic, uri, format, api_version."""
        with self._lock:
            return [
                {
                    "id": f"gid://shopify/WebhookSubscription/{sub['id']}",
                    "topic": sub["topic"],
                    "uri": sub["uri"],
                    "format": sub["format"],
                    "filter": sub["filter"],
                    "api_version": sub["api_version"],
                }
                for sub in self._shop(shop).subscriptions.values()
            ]

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

    # -- OAuth -----------------------------------------------------------------------------

    def _authorize(self, request: Request, shop: str) -> Response:
        """Simulate the merchant approving the install: redirect to redirect_uri with a signed code."""
        params = request.args
        record = {"shop": shop, **params.to_dict(), "grant_options[]": params.getlist("grant_options[]")}
        with self._lock:
            self.authorize_requests.append(record)
        if params.get("client_id") != self.api_key:
            return Response("Oauth error invalid_request: The client_id is invalid", status=400)
        redirect_uri = params.get("redirect_uri")
        if not redirect_uri:
            return Response("Oauth error invalid_request: The redirect_uri is missing", status=400)
        code = secrets.token_hex(16)
        with self._lock:
            self._shops.setdefault(shop, _Shop(shop))
            self._codes[code] = {
                "shop": shop,
                "scope": params.get("scope", ""),
                "online": "per-user" in params.getlist("grant_options[]"),
                "issued_at": self.now(),
            }
            now = int(self.now())
        store = shop.split(".")[0]
        callback = {
            "code": code,
            "host": base64.b64encode(f"admin.shopify.com/store/{store}".encode()).decode(),
            "shop": shop,
            "timestamp": str(now),
        }
        if "state" in params:
            callback["state"] = params["state"]
        callback = self.signed_query(callback)
        parts = urlsplit(redirect_uri)
        query = "&".join(q for q in (parts.query, urlencode(callback)) if q)
        location = urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
        return Response(status=302, headers={"Location": location})

    def _access_token(self, request: Request, call: Call, shop: str) -> Response:
        """Exchange an authorization code, or a refresh token, for an access token."""
        params = dict(request.args.to_dict())
        params.update(call.form)
        if isinstance(call.json, dict):
            params.update({k: v for k, v in call.json.items() if v is not None})
        params = {k: str(v) for k, v in params.items()}
        if params.get("client_id") != self.api_key or params.get("client_secret") != self.api_secret:
            return self._oauth_error("invalid_client", "Client credentials are invalid")
        grant_type = params.get("grant_type", "authorization_code")
        with self._lock:
            state = self._shops.get(shop)
            if grant_type == "refresh_token":
                refresh = params.get("refresh_token", "")
                expires_at, scope = state.refresh_tokens.get(refresh, (0.0, "")) if state else (0.0, "")
                if expires_at <= self.now():
                    return self._oauth_error("invalid_request", "The refresh token is invalid, expired or revoked")
                return json_response(self._issue_expiring(state, scope))
            if grant_type != "authorization_code":
                return self._oauth_error("unsupported_grant_type", f"Unsupported grant_type {grant_type!r}")
            grant = self._codes.pop(params.get("code", ""), None)  # a code works once
            if grant is None or grant["shop"] != shop or grant["issued_at"] + AUTHORIZATION_CODE_TTL < self.now():
                return self._oauth_error("invalid_request", "The authorization code was not found or was already used")
            if self.granted_scopes_override is not None:
                grant = {**grant, "scope": self.granted_scopes_override}
            if params.get("expiring") in ("1", "true", "True"):
                return json_response(self._issue_expiring(state, grant["scope"]))
            token = f"shpua_{secrets.token_hex(16)}"
            if grant["online"]:
                # Online (per-user) tokens live a day and are not offline tokens: no revocation by refresh.
                state.tokens[token] = {"expires_at": self.now() + 86400, "expiring": False, "scope": grant["scope"]}
                return json_response(
                    {
                        "access_token": token,
                        "scope": grant["scope"],
                        "expires_in": 86400,
                        "associated_user_scope": grant["scope"],
                        "associated_user": {
                            "id": 902541635,
                            "first_name": "John",
                            "last_name": "Smith",
                            "email": "john@example.com",
                            "account_owner": True,
                        },
                    }
                )
            state.tokens[token] = {"expires_at": None, "expiring": False, "scope": grant["scope"]}
            return json_response({"access_token": token, "scope": grant["scope"]})

    def _issue_expiring(self, state: _Shop, scope: str) -> dict:
        """Issue an expiring access token + refresh token, revoking the shop's previous expiring ones."""
        # Only one expiring offline token is active per app and shop (Shopify docs), and the
        # refresh token used is spent.
        for token in [t for t, info in state.tokens.items() if info["expiring"]]:
            del state.tokens[token]
        state.refresh_tokens.clear()
        token = f"shpua_{secrets.token_hex(16)}"
        refresh = f"shprt_{secrets.token_hex(16)}"
        state.tokens[token] = {"expires_at": self.now() + ACCESS_TOKEN_TTL, "expiring": True, "scope": scope}
        state.refresh_tokens[refresh] = (self.now() + REFRESH_TOKEN_TTL, scope)
        return {
            "access_token": token,
            "scope": scope,
            "expires_in": ACCESS_TOKEN_TTL,
            "refresh_token": refresh,
            "refresh_token_expires_in": REFRESH_TOKEN_TTL,
        }

    @staticmethod
    def _oauth_error(error: str, description: str) -> Response:
        """An OAuth error answer (HTTP 400)."""
        return json_response({"error": error, "error_description": description}, 400)

    # -- GraphQL ---------------------------------------------------------------------------

    def _graphql(self, request: Request, call: Call, shop: str, version: str) -> Response:
        """Authenticate, parse, validate and execute one GraphQL request, with cost extensions."""
        with self._lock:
            state = self._shops.get(shop)
            if state is None:
                return json_response(NOT_FOUND_BODY, 404)
            if not self._token_valid(state, request.headers.get("X-Shopify-Access-Token")):
                return json_response(INVALID_TOKEN_BODY, 401)
        body = call.json
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return json_response({"errors": {"query": "Required parameter missing or invalid"}}, 400)
        variables = body.get("variables") or {}
        if not isinstance(variables, dict):
            return json_response({"errors": {"variables": "Invalid variables"}}, 400)
        operation_name = body.get("operationName")
        call.variables = variables
        call.operation_name = operation_name
        document, syntax_error, validation_errors = self._compile(body["query"])
        operation = get_operation_ast(document, operation_name) if document else None
        if operation is not None:
            call.fields = tuple(self._root_fields(operation.selection_set, document))
            call.operation_name = operation.name.value if operation.name else operation_name
        requested = self._query_cost(document, operation, variables) if operation is not None else 0
        # Outside the lock, so a callback may use the fake's controls (set_order, fail_next...).
        self._run_graphql_hooks(call)
        with self._lock:
            # Shopify prices a query statically before it looks at the bucket: a query that can
            # never run is refused as such, not throttled.
            if syntax_error is None and not validation_errors and requested > MAX_QUERY_COST:
                return self._max_cost_exceeded(state, requested)
            throttled_status = self._throttles.pop(0) if self._throttles else None
            if throttled_status is not None:
                return self._throttled(state, requested, throttled_status)
            if syntax_error is not None:
                error = {
                    "message": syntax_error.message,
                    "locations": self._locations(syntax_error),
                    "extensions": {"code": "parseError"},
                }
                return self._graphql_response(state, {"errors": [error]}, requested, 0)
            if validation_errors:
                errors = [self._validation_error(e) for e in validation_errors]
                return self._graphql_response(state, {"errors": errors}, requested, 0)
            context = _Context(state, version)
            result = execute(
                self._schema, document, context_value=context, variable_values=variables, operation_name=operation_name
            )
            payload: dict = {}
            if result.errors:
                payload["errors"] = [self._execution_error(e, result.data is None) for e in result.errors]
            if result.data is not None or not result.errors:
                payload["data"] = result.data
            self._queue_echo(state, context.changed_orders, version)
            return self._graphql_response(state, payload, requested, requested if result.data is not None else 0)

    def _compile(self, query: str):
        """Parse and validate a document once per distinct query text (apps reuse constant documents)."""
        with self._lock:
            cached = self._compiled.get(query)
        if cached is None:
            # Parsing and validation touch no state, so they run outside the lock.
            try:
                document = parse(query)
            except GraphQLSyntaxError as exc:
                cached = (None, exc, [])
            else:
                cached = (document, None, validate(self._schema, document))
            with self._lock:
                if len(self._compiled) >= 512:
                    self._compiled.clear()
                self._compiled[query] = cached
        return cached

    def _graphql_response(self, state: _Shop, payload: dict, requested: int, actual: int) -> Response:
        """Attach extensions.cost (throttleStatus per drain_bucket) and answer 200."""
        if self.drain_bucket:
            elapsed = time.monotonic() - state.bucket_time
            state.bucket = min(BUCKET_MAX, state.bucket + elapsed * RESTORE_RATE)
            state.bucket = max(0.0, state.bucket - actual)
            state.bucket_time = time.monotonic()
        else:
            state.bucket = BUCKET_MAX - actual
        payload["extensions"] = {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": actual,
                "throttleStatus": {
                    "maximumAvailable": BUCKET_MAX,
                    "currentlyAvailable": int(state.bucket),
                    "restoreRate": RESTORE_RATE,
                },
            }
        }
        return json_response(payload)

    def _max_cost_exceeded(self, state: _Shop, requested: int) -> Response:
        """Shopify's MAX_COST_EXCEEDED refusal: HTTP 200, nothing executed, nothing taken from the bucket."""
        error = {
            "message": MAX_COST_MESSAGE.format(cost=requested, limit=MAX_QUERY_COST),
            "extensions": {
                "code": "MAX_COST_EXCEEDED",
                "cost": requested,
                "maxCost": MAX_QUERY_COST,
                "documentation": MAX_COST_DOCUMENTATION,
            },
        }
        return self._graphql_response(state, {"errors": [error]}, requested, 0)

    @staticmethod
    def _throttled(state: _Shop, requested: int, http_status: int) -> Response:
        """Shopify's THROTTLED answer: no data, actualQueryCost null, too little left in the bucket."""
        payload = {
            "errors": [copy.deepcopy(THROTTLED_ERROR)],
            "extensions": {
                "cost": {
                    "requestedQueryCost": requested,
                    "actualQueryCost": None,
                    "throttleStatus": {
                        "maximumAvailable": BUCKET_MAX,
                        "currentlyAvailable": max(0, requested - 1),
                        "restoreRate": RESTORE_RATE,
                    },
                }
            },
        }
        headers = {"Retry-After": "1"} if http_status == 429 else None
        return json_response(payload, http_status, headers)

    @staticmethod
    def _locations(error: GraphQLError) -> list[dict]:
        """Error locations as Shopify prints them."""
        return [{"line": loc.line, "column": loc.column} for loc in (error.locations or [])]

    def _validation_error(self, error: GraphQLError) -> dict:
        """A validation error in Shopify's shape (its wording and code where they are known)."""
        message = error.message
        extensions: dict = {}
        if m := re.match(r"Cannot query field '(\w+)' on type '(\w+)'", message):
            message = f"Field '{m[1]}' doesn't exist on type '{m[2]}'"
            extensions = {"code": "undefinedField", "typeName": m[2], "fieldName": m[1]}
        elif m := re.match(r"Unknown argument '(\w+)' on field '\w+\.(\w+)'", message):
            message = f"Field '{m[2]}' doesn't accept argument '{m[1]}'"
            extensions = {"code": "argumentNotAccepted", "name": m[2], "typeName": "Field", "argumentName": m[1]}
        elif m := re.match(r"Argument '\w+\.(\w+)\((\w+):\)' of type .* is required", message):
            message = f"Field '{m[1]}' is missing required arguments: {m[2]}"
            extensions = {"code": "missingRequiredArguments", "className": "Field", "name": m[1], "arguments": m[2]}
        else:
            codes = (
                (r"Variable '\$\w+' is never used", "variableNotUsed"),
                (r"Variable '\$\w+' is not defined", "variableNotDefined"),
                (r"Unknown type", "undefinedType"),
                (r"must have a selection of subfields|must not have a selection", "selectionMismatch"),
                (r"does not exist in '\w+' enum|cannot represent|Expected value", "argumentLiteralsIncompatible"),
                (r"Fragment .* is never used", "useAndDefineFragment"),
            )
            code = next((code for pattern, code in codes if re.search(pattern, message)), "validationError")
            extensions = {"code": code}
        return {"message": message, "locations": self._locations(error), "extensions": extensions}

    def _execution_error(self, error: GraphQLError, request_failed: bool) -> dict:
        """An execution error; variable problems (no data at all) get Shopify's INVALID_VARIABLE code."""
        formatted = dict(error.formatted)
        if request_failed and error.message.startswith("Variable"):
            formatted["extensions"] = {"code": "INVALID_VARIABLE", **(formatted.get("extensions") or {})}
        return formatted

    def _root_fields(self, selection_set, document) -> list[str]:
        """Root field names of an operation, looking through fragments."""
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        names: list[str] = []

        def walk(selections):
            """Collect field names, descending into inline fragments and fragment spreads."""
            for sel in selections:
                if isinstance(sel, FieldNode):
                    names.append(sel.name.value)
                elif isinstance(sel, InlineFragmentNode):
                    walk(sel.selection_set.selections)
                elif isinstance(sel, FragmentSpreadNode) and sel.name.value in fragments:
                    walk(fragments[sel.name.value].selection_set.selections)

        walk(selection_set.selections)
        return names

    def _query_cost(self, document, operation, variables: dict) -> int:
        """Shopify's requested cost of the operation (the rule at requested_cost); 1 if it cannot be priced."""
        try:
            return _operation_cost(self._schema, document, operation, variables)
        except Exception:  # an invalid query still gets an answer; validation reports the problem
            return 1

    # -- resolvers -------------------------------------------------------------------------

    def _bind_resolvers(self) -> None:
        """Attach the resolvers to the schema built from shopify_schema.graphql."""
        query = self._schema.query_type.fields
        query["node"].resolve = lambda _, info, id: self._node(info.context, id)
        query["nodes"].resolve = lambda _, info, ids: [self._node(info.context, i) for i in ids]
        query["order"].resolve = self._resolve_order
        query["orders"].resolve = self._resolve_orders
        query["shop"].resolve = lambda _, info: self._shop_view(info.context.shop)
        query["webhookSubscription"].resolve = self._resolve_subscription
        query["webhookSubscriptions"].resolve = self._resolve_subscriptions
        mutation = self._schema.mutation_type.fields
        mutation["orderUpdate"].resolve = self._resolve_order_update
        mutation["tagsAdd"].resolve = lambda _, info, id, tags: self._resolve_tags(info, id, tags, add=True)
        mutation["tagsRemove"].resolve = lambda _, info, id, tags: self._resolve_tags(info, id, tags, add=False)
        mutation["webhookSubscriptionCreate"].resolve = self._resolve_subscription_create
        mutation["webhookSubscriptionUpdate"].resolve = self._resolve_subscription_update
        mutation["webhookSubscriptionDelete"].resolve = self._resolve_subscription_delete
        self._schema.get_type("Order").fields["lineItems"].resolve = self._resolve_line_items

    def _node(self, ctx: _Context, gid: str) -> dict | None:
        """Resolve any supported global id (Order, LineItem, WebhookSubscription, Shop)."""
        kind, number = _parse_gid(gid)
        if kind == "Order" and number in ctx.shop.orders:
            return self._order_view(ctx.shop.orders[number])
        if kind == "WebhookSubscription" and number in ctx.shop.subscriptions:
            return self._subscription_view(ctx.shop.subscriptions[number])
        if kind == "LineItem":
            for order in ctx.shop.orders.values():
                for item in order["line_items"]:
                    if item["id"] == number:
                        return self._line_item_view(item)
        if kind == "Shop":
            return self._shop_view(ctx.shop)
        return None

    def _resolve_order(self, _, info, id):
        """QueryRoot.order: the order, or null when it does not exist."""
        kind, number = _parse_gid(id)
        order = info.context.shop.orders.get(number) if kind == "Order" else None
        return self._order_view(order) if order else None

    def _resolve_orders(
        self, _, info, first=None, after=None, last=None, before=None, reverse=False, sortKey=None, query=None, savedSearchId=None
    ):
        """QueryRoot.orders: filter with the search syntax subset, sort, and page with cursors."""
        orders = [o for o in info.context.shop.orders.values() if self._order_matches(o, query or "")]
        key_field = {
            "CREATED_AT": "created_at",
            "PROCESSED_AT": "processed_at",
            "UPDATED_AT": "updated_at",
        }.get(sortKey or "ID")

        def key(order):
            """Sort key: (value of the sort field, id) so ties keep a stable order."""
            if key_field:
                return (int(order[key_field]), order["id"])
            if sortKey == "ORDER_NUMBER":
                return (int(order["name"].lstrip("#") or 0), order["id"])
            return (order["id"], order["id"])

        return _paginate(orders, key, self._order_view, first, after, last, before, reverse)

    def _order_matches(self, order: dict, query: str) -> bool:
        """Evaluate the supported search terms (AND-ed); unknown terms are ignored like Shopify does."""
        for negate, field, op, dq, sq, bare in _SEARCH_TERM.findall(query):
            value = dq or sq or bare
            field = field.lower()
            if field in ("updated_at", "created_at", "processed_at"):
                try:
                    bound = _to_ts(value)
                except (TypeError, ValueError):
                    continue
                actual = order[field]
                result = {">": actual > bound, ">=": actual >= bound, "<": actual < bound, "<=": actual <= bound}.get(
                    op, int(actual) == int(bound)
                )
            elif field == "status":
                result = {
                    "cancelled": order["cancelled_at"] is not None,
                    "closed": order["closed_at"] is not None,
                    "open": order["cancelled_at"] is None and order["closed_at"] is None,
                    "not_closed": order["closed_at"] is None,
                    "any": True,
                }.get(value.lower(), True)
            elif field == "tag":
                result = value.lower() in (t.lower() for t in order["tags"])
            elif field == "tag_not":
                result = value.lower() not in (t.lower() for t in order["tags"])
            elif field == "id" and value.isdigit():
                bound = int(value)
                result = {
                    ">": order["id"] > bound,
                    ">=": order["id"] >= bound,
                    "<": order["id"] < bound,
                    "<=": order["id"] <= bound,
                }.get(op, order["id"] == bound)
            elif field == "name":
                result = order["name"].lstrip("#") == value.lstrip("#")
            else:
                continue
            if bool(negate) == result:
                return False
        return True

    def _resolve_line_items(self, order_view, info, first=None, after=None, last=None, before=None, reverse=False):
        """Order.lineItems: cursor pagination over the order's line items."""
        items = order_view["_order"]["line_items"]
        return _paginate(items, _id_key, self._line_item_view, first, after, last, before, reverse)

    def _resolve_order_update(self, _, info, input):
        """Mutation.orderUpdate: note and tags replace the old values; shippingAddress merges."""
        ctx = info.context
        kind, number = _parse_gid(input["id"])
        order = ctx.shop.orders.get(number) if kind == "Order" else None
        if order is None:
            return {"order": None, "userErrors": [{"field": ["id"], "message": "Order does not exist"}]}
        before = copy.deepcopy(order)
        if "note" in input:
            order["note"] = input["note"]
        if "tags" in input and input["tags"] is not None:
            order["tags"] = _split_tags(input["tags"])
        if input.get("email") is not None:
            order["email"] = input["email"]
        if input.get("customAttributes") is not None:
            order["custom_attributes"] = [dict(a) for a in input["customAttributes"]]
        if input.get("shippingAddress") is not None:
            order["shipping_address"] = self._address(
                self._rest_from_input(input["shippingAddress"]), order["shipping_address"] or {}
            )
        self._touched(ctx, order, before)
        return {"order": self._order_view(order), "userErrors": []}

    @staticmethod
    def _rest_from_input(address: dict) -> dict:
        """MailingAddressInput (camelCase) to the stored REST field names."""
        names = {
            "firstName": "first_name",
            "lastName": "last_name",
            "company": "company",
            "address1": "address1",
            "address2": "address2",
            "city": "city",
            "zip": "zip",
            "provinceCode": "province_code",
            "countryCode": "country_code",
            "phone": "phone",
            "country": "country",
            "province": "province",
        }
        return {names[k]: v for k, v in address.items() if k in names}

    def _resolve_tags(self, info, id, tags, add: bool):
        """Mutation.tagsAdd/tagsRemove on an order: add without duplicates, or remove, keeping the rest."""
        ctx = info.context
        kind, number = _parse_gid(id)
        order = ctx.shop.orders.get(number) if kind == "Order" else None
        if order is None:
            return {"node": None, "userErrors": [{"field": ["id"], "message": "Order does not exist"}]}
        before = copy.deepcopy(order)
        wanted = _split_tags(tags)
        if add:
            order["tags"] = order["tags"] + [t for t in wanted if t not in order["tags"]]
        else:
            drop = {t.lower() for t in wanted}
            order["tags"] = [t for t in order["tags"] if t.lower() not in drop]
        self._touched(ctx, order, before)
        return {"node": self._order_view(order), "userErrors": []}

    def _touched(self, ctx: _Context, order: dict, before: dict) -> None:
        """After a mutation: bump updated_at and queue an orders/updated echo, only if something changed."""
        if order != before:
            order["updated_at"] = self._stamp()
            ctx.changed_orders.append(order["id"])

    def _resolve_subscription(self, _, info, id):
        """QueryRoot.webhookSubscription."""
        kind, number = _parse_gid(id)
        sub = info.context.shop.subscriptions.get(number) if kind == "WebhookSubscription" else None
        return self._subscription_view(sub) if sub else None

    def _resolve_subscriptions(
        self,
        _,
        info,
        first=None,
        after=None,
        last=None,
        before=None,
        reverse=False,
        sortKey=None,
        callbackUrl=None,
        format=None,
        topics=None,
        uri=None,
        query=None,
    ):
        """QueryRoot.webhookSubscriptions, filtered by topics/uri/callbackUrl/format."""
        address = uri or callbackUrl
        subs = [
            s
            for s in info.context.shop.subscriptions.values()
            if (not topics or s["topic"] in topics)
            and (address is None or s["uri"] == address)
            and (format is None or s["format"] == format)
        ]
        key = _id_key if sortKey == "ID" else _created_key
        return _paginate(subs, key, self._subscription_view, first, after, last, before, reverse)

    def _resolve_subscription_create(self, _, info, topic, webhookSubscription):
        """Mutation.webhookSubscriptionCreate with Shopify's userErrors for bad or duplicate addresses."""
        ctx = info.context
        data = webhookSubscription
        address, errors = self._subscription_address(ctx, data)
        if not errors and any(s["topic"] == topic and s["uri"] == address for s in ctx.shop.subscriptions.values()):
            errors = [
                {"field": ["webhookSubscription", "callbackUrl"], "message": "Address for this topic has already been taken"}
            ]
        if errors:
            return {"webhookSubscription": None, "userErrors": errors}
        stamp = self._stamp()
        sub = {
            "id": self._next_id("subscription"),
            "topic": topic,
            "uri": address,
            "format": data.get("format") or "JSON",
            "filter": data.get("filter"),
            "include_fields": list(data.get("includeFields") or []),
            "metafield_namespaces": list(data.get("metafieldNamespaces") or []),
            "api_version": ctx.version,
            "created_at": stamp,
            "updated_at": stamp,
        }
        ctx.shop.subscriptions[sub["id"]] = sub
        return {"webhookSubscription": self._subscription_view(sub), "userErrors": []}

    def _resolve_subscription_update(self, _, info, id, webhookSubscription):
        """Mutation.webhookSubscriptionUpdate: change address, format, filter or fields."""
        ctx = info.context
        kind, number = _parse_gid(id)
        sub = ctx.shop.subscriptions.get(number) if kind == "WebhookSubscription" else None
        if sub is None:
            return {
                "webhookSubscription": None,
                "userErrors": [{"field": ["id"], "message": "Webhook subscription does not exist"}],
            }
        data = webhookSubscription
        if data.get("uri") is not None or data.get("callbackUrl") is not None:
            address, errors = self._subscription_address(ctx, data)
            if errors:
                return {"webhookSubscription": None, "userErrors": errors}
            sub["uri"] = address
        for key, name in (
            ("format", "format"),
            ("filter", "filter"),
            ("includeFields", "include_fields"),
            ("metafieldNamespaces", "metafield_namespaces"),
        ):
            if data.get(key) is not None:
                sub[name] = data[key]
        sub["updated_at"] = self._stamp()
        return {"webhookSubscription": self._subscription_view(sub), "userErrors": []}

    def _resolve_subscription_delete(self, _, info, id):
        """Mutation.webhookSubscriptionDelete."""
        ctx = info.context
        kind, number = _parse_gid(id)
        if kind != "WebhookSubscription" or ctx.shop.subscriptions.pop(number, None) is None:
            return {
                "deletedWebhookSubscriptionId": None,
                "userErrors": [{"field": ["id"], "message": "Webhook subscription does not exist"}],
            }
        return {"deletedWebhookSubscriptionId": id, "userErrors": []}

    @staticmethod
    def _subscription_address(ctx: _Context, data: dict) -> tuple[str | None, list[dict]]:
        """The subscription's address from `uri` (2025-10+) or `callbackUrl`, or userErrors."""
        uri, callback = data.get("uri"), data.get("callbackUrl")
        if uri is not None and not _version_at_least(ctx.version, URI_MIN_API_VERSION):
            return None, [
                {
                    "field": ["webhookSubscription", "uri"],
                    "message": f"uri is not supported in API version {ctx.version}; use callbackUrl",
                }
            ]
        address = uri or callback
        field = ["webhookSubscription", "uri" if uri else "callbackUrl"]
        if not address:
            return None, [{"field": field, "message": "Address can't be blank"}]
        if not re.match(r"^(https?://[^/\s]+|pubsub://[\w.-]+:[\w.-]+$|arn:aws:events:)", address):
            return None, [{"field": field, "message": "Address is invalid"}]
        return address, []

    # -- GraphQL object views --------------------------------------------------------------

    def _shop_view(self, shop: _Shop) -> dict:
        """A Shop object."""
        return {
            "__typename": "Shop",
            "id": f"gid://shopify/Shop/{zlib.crc32(shop.domain.encode())}",
            "name": shop.name,
            "email": f"owner@{shop.domain}",
            "myshopifyDomain": shop.domain,
            "ianaTimezone": "America/New_York",
            "url": f"https://{shop.domain}",
        }

    def _order_view(self, order: dict) -> dict:
        """An Order object (GraphQL names; `_order` keeps the stored order for lineItems)."""
        address = order["shipping_address"]
        return {
            "__typename": "Order",
            "_order": order,
            "id": order_gid(order["id"]),
            "legacyResourceId": str(order["id"]),
            "name": order["name"],
            "email": order["email"],
            "note": order["note"] or None,
            "tags": list(order["tags"]),
            "test": order["test"],
            "closed": order["closed_at"] is not None,
            "closedAt": _utc_iso(order["closed_at"]),
            "cancelledAt": _utc_iso(order["cancelled_at"]),
            "cancelReason": (order["cancel_reason"] or "other").upper() if order["cancelled_at"] else None,
            "createdAt": _utc_iso(order["created_at"]),
            "processedAt": _utc_iso(order["processed_at"]),
            "updatedAt": _utc_iso(order["updated_at"]),
            "displayFulfillmentStatus": order["display_fulfillment_status"],
            "displayFinancialStatus": order["financial_status"].upper() if order["financial_status"] else None,
            "customAttributes": [{"key": a["key"], "value": a.get("value")} for a in order["custom_attributes"]],
            "shippingAddress": None
            if address is None
            else {
                "__typename": "MailingAddress",
                "id": f"gid://shopify/MailingAddress/{order['id']}?model_name=Address",
                "name": address.get("name"),
                "firstName": address.get("first_name"),
                "lastName": address.get("last_name"),
                "company": address.get("company"),
                "address1": address.get("address1"),
                "address2": address.get("address2"),
                "city": address.get("city"),
                "zip": address.get("zip"),
                "province": address.get("province"),
                "provinceCode": address.get("province_code"),
                "country": address.get("country"),
                "countryCodeV2": address.get("country_code"),
                "phone": address.get("phone"),
            },
        }

    @staticmethod
    def _line_item_view(item: dict) -> dict:
        """A LineItem object."""
        unfulfilled = max(0, item["current_quantity"] - item["fulfilled_quantity"])
        return {
            "__typename": "LineItem",
            "id": f"gid://shopify/LineItem/{item['id']}",
            "name": item["name"],
            "title": item["title"],
            "sku": item["sku"],
            "variantTitle": item["variant_title"],
            "quantity": item["quantity"],
            "currentQuantity": item["current_quantity"],
            "refundableQuantity": item["current_quantity"],
            "unfulfilledQuantity": unfulfilled,
            "nonFulfillableQuantity": max(0, item["quantity"] - item["current_quantity"]),
            "requiresShipping": item["requires_shipping"],
            "customAttributes": [{"key": p.get("name"), "value": p.get("value")} for p in item["properties"]],
        }

    @staticmethod
    def _subscription_view(sub: dict) -> dict:
        """A WebhookSubscription object, with the deprecated endpoint/callbackUrl still filled in."""
        uri = sub["uri"]
        if uri.startswith("pubsub://"):
            project, _, topic = uri[len("pubsub://") :].partition(":")
            endpoint = {"__typename": "WebhookPubSubEndpoint", "pubSubProject": project, "pubSubTopic": topic}
        elif uri.startswith("arn:"):
            endpoint = {"__typename": "WebhookEventBridgeEndpoint", "arn": uri}
        else:
            endpoint = {"__typename": "WebhookHttpEndpoint", "callbackUrl": uri}
        return {
            "__typename": "WebhookSubscription",
            "id": f"gid://shopify/WebhookSubscription/{sub['id']}",
            "legacyResourceId": str(sub["id"]),
            "topic": sub["topic"],
            "uri": uri,
            "callbackUrl": uri,
            "endpoint": endpoint,
            "format": sub["format"],
            "filter": sub["filter"],
            "includeFields": list(sub["include_fields"]),
            "metafieldNamespaces": list(sub["metafield_namespaces"]),
            "apiVersion": {"handle": sub["api_version"], "displayName": sub["api_version"], "supported": True},
            "createdAt": _utc_iso(sub["created_at"]),
            "updatedAt": _utc_iso(sub["updated_at"]),
        }


def _id_key(item: dict) -> tuple:
    """Pagination sort key by id (ids grow with creation, like Shopify's)."""
    return (item["id"], item["id"])


def _created_key(item: dict) -> tuple:
    """Pagination sort key by creation time, ties broken by id."""
    return (item["created_at"], item["id"])


def _encode_cursor(key: tuple) -> str:
    """Opaque cursor holding the sort key of an element (keyset pagination, like Shopify's)."""
    raw = json.dumps({"last_id": key[1], "last_value": key[0]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple:
    """Inverse of _encode_cursor; a malformed cursor is a GraphQL error."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return (data["last_value"], data["last_id"])
    except (ValueError, KeyError, TypeError) as exc:
        raise GraphQLError("Invalid cursor for current pagination sort.") from exc


def _paginate(items, key, view, first, after, last, before, reverse) -> dict:
    """A Relay connection over `items` ordered by key(item); cursors survive inserts and updates."""
    if first is None and last is None:
        raise GraphQLError("you must provide one of first or last")
    for name, size in (("first", first), ("last", last)):
        if size is not None and not 0 <= size <= MAX_PAGE_SIZE:
            raise GraphQLError(f"The `{name}` argument must be between 0 and {MAX_PAGE_SIZE}.")
    ordered = sorted(items, key=key, reverse=bool(reverse))
    keys = [key(item) for item in ordered]
    # Positions of the window in `ordered`: after/before are exclusive bounds in sort direction.
    start, end = 0, len(ordered)
    if after is not None:
        bound = tuple(_decode_cursor(after))
        start = next((i for i, k in enumerate(keys) if (k < bound if reverse else k > bound)), len(ordered))
    if before is not None:
        bound = tuple(_decode_cursor(before))
        end = next((i for i, k in enumerate(keys) if (k <= bound if reverse else k >= bound)), len(ordered))
    end = max(start, end)
    if first is not None:
        end = min(end, start + first)
    if last is not None:
        start = max(start, end - last)
    window = ordered[start:end]
    edges = [{"cursor": _encode_cursor(keys[start + i]), "node": view(item)} for i, item in enumerate(window)]
    return {
        "edges": edges,
        "nodes": [edge["node"] for edge in edges],
        "pageInfo": {
            "hasNextPage": end < len(ordered),
            "hasPreviousPage": start > 0,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }
