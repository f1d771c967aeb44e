"""HTTP sessions with timeouts, and the mapping of HTTP failures onto the error hierarchy."""

from __future__ import annotations

import email.utils
import os
import time

import requests
from requests.adapters import HTTPAdapter

from plugin.errors import RateLimited, RemoteUnavailable

USER_AGENT = "print-order-mirror/1.0"
# Proxy settings requests would read from the environment on every call (trust_env).
_PROXY_SETTINGS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
# Keep-alive connections kept per host: at least this many, or one per job a worker runs at once.
MIN_POOL_SIZE = 4


def make_session(pool_size: int = MIN_POOL_SIZE) -> requests.Session:
    """A requests session with connection pooling and no automatic retries (RQ retries).

    pool_size: connections kept alive per host; a worker's threads share the session, so one each.
    """
    session = requests.Session()
    size = max(MIN_POOL_SIZE, pool_size)
    adapter = HTTPAdapter(pool_connections=MIN_POOL_SIZE, pool_maxsize=size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    if not any(os.environ.get(name) for name in _PROXY_SETTINGS):
        # No proxy to honour: skip requests' per-call scan of the environment and ~/.netrc
        # (measured at about 0.6 ms of CPU per call); a CA bundle setting is applied once here.
        session.trust_env = False
        ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if ca_bundle:
            session.verify = ca_bundle
    return session


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    what: str,
    timeout: tuple[float, float],
    **kwargs,
) -> requests.Response:
    """Send a request; raise RemoteUnavailable for network failures and 5xx, RateLimited for 429, else return it.

    `what` names the call in error messages (never the URL's secrets: there are none in URLs).
    """
    try:
        response = session.request(method, url, timeout=timeout, **kwargs)
    except requests.Timeout as exc:
        raise RemoteUnavailable(f"{what}: timed out") from exc
    except requests.ConnectionError as exc:
        raise RemoteUnavailable(f"{what}: connection failed") from exc
    except requests.RequestException as exc:
        raise RemoteUnavailable(f"{what}: request failed ({type(exc).__name__})") from exc
    if response.status_code == 429:
        raise RateLimited(
            f"{what}: HTTP 429 {error_summary(response)}",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    if response.status_code >= 500:
        raise RemoteUnavailable(
            f"{what}: HTTP {response.status_code} {error_summary(response)}",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    return response


def error_summary(response: requests.Response, limit: int = 200) -> str:
    """A short, log-safe description of an error body, whatever its shape."""
    try:
        body = response.json()
    except ValueError:
        text = response.text or ""
        return text.strip().replace("\n", " ")[:limit]
    if isinstance(body, dict):
        for key in ("message", "error_description", "error", "errors", "code"):
            if body.get(key):
                return str(body[key])[:limit]
    return str(body)[:limit]
