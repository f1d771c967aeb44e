"""Gunicorn settings for the web process: bind $PORT, WEB_CONCURRENCY processes of WEB_THREADS threads, bounded reads."""

import os
import socket
import struct
import time

from gunicorn.workers.gthread import ThreadWorker


def _positive(name: str, default: str, cast):
    """The environment variable `name` as a positive number, else a startup error naming it."""
    raw = os.environ.get(name, "").strip() or default
    try:
        value = cast(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ValueError(f"{name} must be a positive {cast.__name__}, got {raw!r}")
    return value


# Heroku routes to $PORT on all interfaces; `manage.py run` overrides this with 127.0.0.1.
bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
# Heroku sets WEB_CONCURRENCY from the dyno's memory; 2 elsewhere.
workers = _positive("WEB_CONCURRENCY", "2", int)
# Threads (worker_class, at the end of this file, is gunicorn's gthread worker): a client that sends
# its headers and then stalls holds one thread for at most READ_TIMEOUT, not a whole process. A
# request is about a millisecond of CPU, so threads add no throughput: they are headroom for stalled
# clients, and 32 keep a worker answering with far more than 8 of them (docs/web-process.md).
threads = _positive("WEB_THREADS", "32", int)
# Seconds any single read or write on a client connection may wait. Shopify gives up on a delivery
# after 5 s in all, so a body that has not arrived by then could not be answered in time anyway.
READ_TIMEOUT = _positive("WEB_READ_TIMEOUT", "5", float)
# Heroku's router gives up after 30 s and Shopify after 5 s; never hold a request longer than that.
timeout = 20
graceful_timeout = 15
# Idle kept-alive connections wait in the worker's poller, not in a thread.
keepalive = 5
# Shopify webhook bodies are small; refuse absurd header sections early.
limit_request_field_size = 8190
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

# How long a closing connection waits for the client to close its side (gunicorn's own figures),
# reading and dropping at most this much of what the client still sends meanwhile.
LINGER_SECONDS = 2.0
LINGER_MAX_BYTES = 64 * 1024


class BoundedThreadWorker(ThreadWorker):
    """gunicorn's gthread worker, where a stalled client holds one thread briefly and never the accept loop."""

    def init_process(self):
        """Bound every read and write on the connections this worker accepts, then run it."""
        # gthread reads headers and bodies on blocking sockets with no timeout, and resets Python
        # socket timeouts before each request; a kernel timeout survives that. Accepted connections
        # inherit SO_RCVTIMEO/SO_SNDTIMEO from the listening socket (Linux, BSD, macOS), and gunicorn
        # has no hook at accept time. A read that waits longer raises, which frees the thread.
        seconds = int(READ_TIMEOUT)
        timeval = struct.pack("ll", seconds, int((READ_TIMEOUT - seconds) * 1_000_000))
        for listener in self.sockets:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
        super().init_process()

    def handle(self, conn):
        """Serve a connection's request; when the connection is to be closed, linger in this thread."""
        keep = super().handle(conn)
        if keep is False:
            # gthread then closes it on the worker's main loop, and waits there up to 2 s for the
            # client to close first (so unread data does not reset the answer). A stalled client never
            # closes: eight of them would stop the worker accepting for 16 s. Waiting here costs only
            # this thread, and the main loop's close finds nothing left to wait for.
            linger(conn.sock)
        return keep


def linger(connection: socket.socket) -> None:
    """Half-close, read until the client closes or LINGER_SECONDS pass, then stop reading."""
    try:
        connection.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + LINGER_SECONDS
        drained = 0
        while drained < LINGER_MAX_BYTES and (remaining := deadline - time.monotonic()) > 0:
            connection.settimeout(remaining)
            data = connection.recv(16384)
            if not data:
                break
            drained += len(data)
    except OSError:
        pass  # reset, timed out or already closed: nothing more to wait for
    finally:
        try:
            connection.shutdown(socket.SHUT_RD)
        except OSError:
            pass


worker_class = BoundedThreadWorker


def on_starting(server):
    """Refuse in the master, before any worker forks: one line naming a missing secret, not one per worker."""
    from plugin.store.secrets_store import refuse_without_app_secrets

    refuse_without_app_secrets()
