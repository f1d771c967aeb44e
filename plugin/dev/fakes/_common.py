"""Shared plumbing for the HTTP fakes: call records, fault injection, latency and the server lifecycle."""

from __future__ import annotations

import json
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from requests.structures import CaseInsensitiveDict
from werkzeug.wrappers import Request, Response

from .server import LocalServer


@dataclass
class Call:
    """One HTTP request received by a fake, as recorded in its `calls` log."""

    method: str
    path: str
    query: dict  # query-string parameters, one value per key (the last one wins)
    json: Any  # the parsed JSON body, or None when the body was empty or not JSON
    headers: CaseInsensitiveDict  # header lookups ignore case, like HTTP does
    time: float  # time.monotonic() when the request arrived
    body: bytes = b""
    form: dict = field(default_factory=dict)  # urlencoded form fields (OAuth token exchange)
    status: int | None = None  # the HTTP status answered, filled in when the response is ready
    shop: str | None = None  # FakeShopify: the shop the path addressed
    fields: tuple = ()  # FakeShopify GraphQL: root field names of the executed operation
    variables: dict | None = None  # FakeShopify GraphQL: the request's variables
    operation_name: str | None = None  # FakeShopify GraphQL: the operation executed
    down: bool = False  # answered 503 because the fake was down (set_down / down_until), not handled


@dataclass
class _Fault:
    """A queued failure: answer the next `remaining` matching requests with a canned response."""

    method: str | None
    pattern: re.Pattern | None
    status: int
    remaining: int
    body: Any
    headers: dict

    def matches(self, method: str, path: str) -> bool:
        """True when this fault applies to a request with that method and path."""
        if self.method not in (None, "*") and self.method.upper() != method.upper():
            return False
        return self.pattern is None or self.pattern.search(path) is not None


def json_response(payload: Any, status: int = 200, headers: dict | None = None) -> Response:
    """A JSON response; big ints stay exact because the stdlib encoder never uses floats for them."""
    return Response(json.dumps(payload), status=status, headers=headers, mimetype="application/json")


def _parse_body(request: Request) -> tuple[bytes, Any, dict]:
    """Read the raw body once and decode JSON or form data for the call log."""
    body = request.get_data(cache=True)
    parsed = None
    if body:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
    form = {}
    if request.mimetype == "application/x-www-form-urlencoded":
        form = request.form.to_dict()
    return body, parsed, form


class FakeService:
    """Base for one fake API: a WSGI app plus the controls every fake shares."""

    def __init__(self):
        """Set up the lock, call log, faults and an unstarted server."""
        # One re-entrant lock guards all state: request threads and test code both use it,
        # and controls called from hooks while a request is being handled must not deadlock.
        self._lock = threading.RLock()
        self.calls: list[Call] = []
        self._faults: list[_Fault] = []
        self._hooks: list[dict] = []  # before(): {"method", "pattern", "callback", "remaining"}
        self.latency = 0.0
        # An outage: every request arriving in [start, end) of time.monotonic() is answered 503.
        self._down: tuple[float, float] | None = None
        self._server = LocalServer(self.wsgi_app)

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL of the running fake, e.g. http://127.0.0.1:54321."""
        return self._server.url

    def start(self):
        """Start serving in a background thread; returns self."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.stop()

    def __enter__(self):
        """Start on entering a with block."""
        return self.start()

    def __exit__(self, *exc_info) -> None:
        """Stop on leaving a with block."""
        self.stop()

    # -- controls shared by every fake ----------------------------------------------------

    def fail_next(
        self,
        method: str | None,
        path_regex: str | None,
        status: int,
        times: int = 1,
        body: Any = None,
        headers: dict | None = None,
    ) -> None:
        """Answer the next `times` requests matching method ("*"/None: any) and path regex with `status`."""
        self._add_fault(method, path_regex, status, times, body, headers)

    def before(self, method: str | None, path_regex: str, callback: HookCallback, times: int | None = None) -> None:
        """Run callback(call) just before handling each matching request (times=None: every time)."""
        with self._lock:
            self._hooks.append({"method": method, "pattern": re.compile(path_regex), "callback": callback, "remaining": times})

    def set_down(self, down: bool) -> None:
        """Answer 503 to every request from now on (True), or serve again at once (False)."""
        with self._lock:
            self._down = (time.monotonic(), float("inf")) if down else None

    def down_until(self, deadline: float, since: float | None = None) -> None:
        """Answer 503 to every request arriving from `since` (default now) until `deadline` (time.monotonic() values)."""
        with self._lock:
            self._down = (time.monotonic() if since is None else since, deadline)

    def is_down(self, at: float | None = None) -> bool:
        """True when a request arriving at `at` (default now, time.monotonic()) is answered 503 by set_down/down_until."""
        with self._lock:
            if self._down is None:
                return False
            start, end = self._down
            return start <= (time.monotonic() if at is None else at) < end

    def _add_fault(self, method, path_regex, status, times, body, headers) -> None:
        """Queue a canned failure (used by the public fail_next of each fake)."""
        if times < 1:
            raise ValueError("times must be >= 1")
        pattern = re.compile(path_regex) if path_regex else None
        with self._lock:
            self._faults.append(_Fault(method, pattern, int(status), times, body, dict(headers or {})))

    def calls_matching(self, method: str | None = None, path_regex: str | None = None) -> list[Call]:
        """Recorded calls whose method equals `method` (None: any) and path matches `path_regex`."""
        pattern = re.compile(path_regex) if path_regex else None
        with self._lock:
            return [
                c
                for c in self.calls
                if (method in (None, "*") or c.method == method.upper()) and (pattern is None or pattern.search(c.path))
            ]

    def _reset_common(self) -> None:
        """Clear the call log, faults, outage and latency (each fake's reset() adds its own state)."""
        with self._lock:
            self.calls.clear()
            self._faults.clear()
            self._hooks.clear()
            self.latency = 0.0
            self._down = None

    # -- request pipeline ------------------------------------------------------------------

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        """Consume and return the first queued fault matching this request, if any."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _fault_response(self, fault: _Fault) -> Response:
        """Render a fault: dict/list bodies as JSON, str/bytes verbatim, None as a default error."""
        body = fault.body if fault.body is not None else self._default_fault_body(fault.status)
        if isinstance(body, (dict, list)):
            return json_response(body, fault.status, fault.headers)
        return Response(body, status=fault.status, headers=fault.headers)

    def _default_fault_body(self, status: int) -> Any:
        """Body used when fail_next() was given none; each fake overrides it with its API's shape."""
        return {"message": f"Injected failure ({status})"}

    def _down_response(self) -> Response:
        """What a request gets while the fake is down: 503 with the API's error shape (what fail_next would send)."""
        return json_response(self._default_fault_body(503), 503)

    def wsgi_app(self, environ, start_response):
        """WSGI entry point: record the call, apply latency, an outage and faults, then dispatch."""
        request = Request(environ)
        body, parsed, form = _parse_body(request)
        call = Call(
            method=request.method,
            path=request.path,
            query=request.args.to_dict(),
            json=parsed,
            headers=CaseInsensitiveDict(dict(request.headers)),
            time=time.monotonic(),
            body=body,
            form=form,
        )
        with self._lock:
            self.calls.append(call)
            latency = self.latency
        # Sleep outside the lock so a slow fake still serves concurrent requests concurrently.
        if latency:
            time.sleep(latency)
        # An outage answers every request that arrived during it and leaves queued faults for after it.
        call.down = self.is_down(call.time)
        fault = None if call.down else self._take_fault(request.method, request.path)
        if call.down:
            response = self._down_response()
        elif fault is not None:
            response = self._fault_response(fault)
        else:
            try:
                response = self._handle(request, call)
            except Exception:  # a bug in the fake must surface, not hang the app under test
                traceback.print_exc(file=sys.stderr)
                response = json_response({"message": "fake crashed", "trace": traceback.format_exc()}, 500)
        call.status = response.status_code
        return response(environ, start_response)

    def _handle(self, request: Request, call: Call) -> Response:
        """Answer one request (implemented by each fake)."""
        raise NotImplementedError


def run_hooks(hooks: list, lock: threading.RLock, method: str, path: str, call: Call) -> None:
    """Run the `before` hooks matching a request, outside the lock so they may use the controls."""
    with lock:
        due = []
        for hook in list(hooks):
            if hook["method"] in (None, "*") or hook["method"].upper() == method.upper():
                if hook["pattern"].search(path):
                    due.append(hook["callback"])
                    if hook["remaining"] is not None:
                        hook["remaining"] -= 1
                        if hook["remaining"] <= 0:
                            hooks.remove(hook)
    for callback in due:
        callback(call)


HookCallback = Callable[[Call], Any]
