"""A small threaded WSGI server that runs a fake API on 127.0.0.1 in a background thread."""

from __future__ import annotations

import threading

from cheroot import wsgi

from plugin.dev.redis_server import free_port

# Handler threads: more than the most concurrent calls any test or the benchmark makes (the bench's
# worker processes keep WORKER_CONCURRENCY calls each in flight, held for the fakes' latency).
_THREADS = 128
# Connections waiting to be accepted. Cheroot's default, 5, drops connects when a benchmark's
# workers open their keep-alive connections together (4 processes x 32 threads): the app then saw
# connect timeouts and resets no real API gives for that, and held the account as down.
_LISTEN_BACKLOG = 1024
# stop() waits this long for requests in flight; a stopped fake must go quiet at once.
_SHUTDOWN_TIMEOUT = 0.1
# The serving loop notices stop() this often (Cheroot's default, 0.5 s, would make every stop()
# in a test suite cost half a second).
_POLL_INTERVAL = 0.02


class LocalServer:
    """Run a WSGI app on 127.0.0.1 in a daemon thread; usable as a context manager.

    Cheroot, not Werkzeug's development server: it keeps connections alive between calls, as
    Shopify's and Gelato's APIs do, so a client pays no TCP connect per call (Werkzeug closes
    every connection after one answer).
    """

    def __init__(self, app, port: int | None = None):
        """Remember the app and a port (a free one when None or 0)."""
        self._app = app
        # An explicit port, not 0: Cheroot sets SO_REUSEADDR only then, and a restart must be able
        # to bind the same port while the old connections are still closing.
        self._port = port or free_port()
        self._server: wsgi.Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        """The port served (kept across stop() and start())."""
        return self._port

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:54321 (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return self._server is not None

    def start(self) -> LocalServer:
        """Bind and serve in a background thread; a restart reuses the previous port."""
        with self._lock:
            if self._server is not None:
                return self
            server = wsgi.Server(
                ("127.0.0.1", self._port),
                self._app,
                numthreads=_THREADS,
                request_queue_size=_LISTEN_BACKLOG,
                shutdown_timeout=_SHUTDOWN_TIMEOUT,
            )
            server.expiration_interval = _POLL_INTERVAL
            server.prepare()  # binds now: the port is taken before start() returns
            thread = threading.Thread(target=server.serve, name=f"fake-server-{self._port}", daemon=True)
            self._server, self._thread = server, thread
            thread.start()
            return self

    def stop(self) -> None:
        """Stop serving, close the listening socket and every open connection; safe to call twice."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None:
            return
        server.stop()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> LocalServer:
        """Start on entering a with block."""
        return self.start()

    def __exit__(self, *exc_info) -> None:
        """Stop on leaving a with block."""
        self.stop()
