"""FakeShopify's Admin GraphQL API: schema, requested-cost calculator, execution, resolvers and views."""

from __future__ import annotations

import base64
import copy
import json
import re
import time
import zlib
from pathlib import Path

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

from .._common import Call, HookCallback, json_response
from .store import (
    BUCKET_MAX,
    NOT_FOUND_BODY,
    _Context,
    _parse_gid,
    _Shop,
    _split_tags,
    _to_ts,
    _utc_iso,
    _version_at_least,
    order_gid,
)

SCHEMA_PATH = Path(__file__).resolve().parent / "shopify_schema.graphql"
# webhookSubscriptionCreate accepts `uri` from this version on; older versions use callbackUrl.
URI_MIN_API_VERSION = "2025-10"
RESTORE_RATE = 100.0
MUTATION_COST = 10
MAX_PAGE_SIZE = 250
# Shopify refuses, before running it, any single query whose requested cost exceeds this.
MAX_QUERY_COST = 1000
INVALID_TOKEN_BODY = {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
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
_SEARCH_TERM = re.compile(r"""(-)?(\w+):(>=|<=|>|<|=)?(?:"([^"]*)"|'([^']*)'|(\S+))""")


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


class GraphQLMixin:
    """The GraphQL endpoint of FakeShopify and its controls (mixed into FakeShopify)."""

    # -- controls --------------------------------------------------------------------------

    def throttle_next(self, times: int = 1, http_status: int = 200) -> None:
        """Answer the next `times` GraphQL requests with a THROTTLED error (HTTP 200, or 429 + Retry-After)."""
        if http_status not in (200, 429):
            raise ValueError("Shopify throttles with HTTP 200 or 429")
        with self._lock:
            self._throttles.extend([http_status] * times)

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

    def graphql_calls(self, field_name: str | None = None) -> list[Call]:
        """Recorded GraphQL calls, only those whose operation selects root field `field_name` if given."""
        with self._lock:
            return [c for c in self.calls if c.path.endswith("/graphql.json") and (field_name is None or field_name in c.fields)]

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
            if throttled_status is None and self.drain_bucket and self._refill(state) < requested:
                throttled_status = 200  # Shopify refuses a query costing more than the bucket holds
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
            state.bucket = max(0.0, self._refill(state) - actual)
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

    @staticmethod
    def _refill(state: _Shop) -> float:
        """Leak the points restored since the last answer back into the shop's bucket; what it holds now."""
        now = time.monotonic()
        state.bucket = min(BUCKET_MAX, state.bucket + (now - state.bucket_time) * RESTORE_RATE)
        state.bucket_time = now
        return state.bucket

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
                        "currentlyAvailable": int(state.bucket) if state.bucket < requested else max(0, requested - 1),
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
