"""A small threaded WSGI server that runs a fake API on 127.0.0.1 in a background thread."""

from __future__ import annotations

import socket
import threading

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

# serve_forever() checks its shutdown flag this often; the stdlib default (0.5 s)
# would make every stop() in a test suite cost half a second.
_POLL_INTERVAL = 0.02


class _QuietHandler(WSGIRequestHandler):
    """Request handler that drops access logs and registers its connection with the server."""

    def setup(self):
        """Track the connection so stop() can cut keep-alive connections too."""
        super().setup()
        self.server.live_connections.add(self.connection)

    def finish(self):
        """Forget the connection once it is closed."""
        try:
            super().finish()
        finally:
            self.server.live_connections.discard(self.connection)

    def log_request(self, code="-", size="-"):
        """Skip the access log line: hundreds of test requests would drown the output."""

    def log(self, type, message, *args):
        """Log only errors (tracebacks from a fake are bugs worth seeing)."""
        if type == "error":
            super().log(type, message, *args)


class LocalServer:
    """Run a WSGI app on 127.0.0.1 in a daemon thread; usable as a context manager."""

    def __init__(self, app, port: int | None = None):
        """Remember the app; port None or 0 lets the OS pick a free port at start()."""
        self._app = app
        self._port = port or 0
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        """The bound port (the OS-assigned one after start())."""
        if self._server is not None:
            return self._server.port
        if self._port:
            return self._port
        raise RuntimeError("server not started")

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:54321 (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return self._server is not None

    def start(self) -> "LocalServer":
        """Bind and serve in a background thread; a restart reuses the previous port."""
        with self._lock:
            if self._server is not None:
                return self
            try:
                server = make_server(
                    "127.0.0.1", self._port, self._app, threaded=True, request_handler=_QuietHandler
                )
            except SystemExit as exc:
                # Werkzeug calls sys.exit() when the port is taken; a test wants an exception.
                raise OSError(f"cannot bind 127.0.0.1:{self._port}") from exc
            server.live_connections = set()
            # Keep the port so a stop()/start() cycle keeps URLs already handed to the app valid.
            self._port = server.port
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": _POLL_INTERVAL},
                name=f"fake-server-{server.port}",
                daemon=True,
            )
            self._server, self._thread = server, thread
            thread.start()
            return self

    def stop(self) -> None:
        """Stop serving, close the listening socket and cut open connections; safe to call twice."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        # A pooled keep-alive connection would otherwise still be answered by its handler
        # thread, so a stopped fake would look alive to a client that reuses connections.
        for connection in list(server.live_connections):
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> "LocalServer":
        """Start on entering a with block."""
        return self.start()

    def __exit__(self, *exc_info) -> None:
        """Stop on leaving a with block."""
        self.stop()
