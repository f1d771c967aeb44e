"""A multi-process HTTP load generator: each process sends its share sequentially and times each request."""

from __future__ import annotations

import http.client
import multiprocessing
import time
from urllib.parse import urlsplit


def _worker(args) -> tuple[list[float], int]:
    url, requests_list = args
    parts = urlsplit(url)
    latencies, failures = [], 0
    for path, body, headers in requests_list:
        started = time.perf_counter()
        # A new connection per request, as Heroku's legacy router makes: the costliest case for the
        # threaded web worker (docs/web-process.md); Router 2.0 keeps connections alive instead.
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            if not 200 <= response.status < 300:
                failures += 1
        except OSError:
            failures += 1
        finally:
            connection.close()
        latencies.append(time.perf_counter() - started)
    return latencies, failures


def run(url: str, requests_list: list[tuple[str, bytes, dict]], concurrency: int) -> dict:
    """Send every (path, body, headers) POST over `concurrency` processes; throughput and latencies."""
    shares = [requests_list[i::concurrency] for i in range(concurrency)]
    with multiprocessing.get_context("fork").Pool(concurrency) as pool:
        started = time.perf_counter()
        results = pool.map(_worker, [(url, share) for share in shares])
        elapsed = time.perf_counter() - started
    latencies = sorted(latency for part, _ in results for latency in part)
    failures = sum(failed for _, failed in results)
    return {
        "requests": len(latencies),
        "non_2xx": failures,
        "seconds": elapsed,
        "per_second": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


def percentile(sorted_values: list[float], pct: float) -> float:
    """The pct-th percentile (nearest rank) of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(pct / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]
