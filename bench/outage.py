"""A Gelato outage: cancellations that arrive while Gelato answers 503 to everything, then its recovery.

Through real processes (the Procfile's web process and `workers` worker processes, instant fakes):
Gelato is down for `outage_seconds`; meanwhile `count` signed orders/cancelled webhooks of one shop
arrive, evenly spread over the outage. Then Gelato serves again. Figures: seconds from the recovery
until each print order's successful cancel call (p50, max: the last one), and how many requests
reached Gelato while it was down, per cancellation. Targets (the issue): all done ≤ 3 s after the
recovery, ≤ 1.5 calls per order while down.
"""

from __future__ import annotations

import re
import time

import requests

from . import load, processes

OUTAGE_SECONDS = 20.0
ORDERS = 100
WORKERS = 4
# A bad run ends this long after the recovery and reports what was still not done.
DEADLINE_AFTER_RECOVERY_SECONDS = 120.0
TARGET_DONE_AFTER_RECOVERY_SECONDS = 3.0
TARGET_CALLS_PER_ORDER_WHILE_DOWN = 1.5
BOOT_SECONDS = 2.0


def bench_outage(
    bench,
    shop: str,
    *,
    count: int = ORDERS,
    outage_seconds: float = OUTAGE_SECONDS,
    workers: int = WORKERS,
    deadline_after_recovery: float = DEADLINE_AFTER_RECOVERY_SECONDS,
) -> dict:
    """Run the case once: `count` cancellations of `shop` during a Gelato outage of `outage_seconds`."""
    made = bench.orders(count, shop)
    print_ids = [print_id for _, print_id in made]
    deliveries = [bench.webhook(order_id, shop) for order_id, _ in made]
    web, url = processes.web("plugin:create_app()", bench.env, bench.log("web-outage"))
    worker_logs = [bench.log(f"worker-outage-{i}") for i in range(workers)]
    procs = [processes.start(processes.procfile()["worker"], bench.env, log) for log in worker_logs]
    non_2xx: list[str] = []
    try:
        time.sleep(BOOT_SECONDS)  # the workers boot and go idle
        started = time.monotonic()
        recovered = started + outage_seconds
        bench.gelato.down_until(recovered, since=started)
        post_spread(url, deliveries, started, outage_seconds, non_2xx)
        wait_until_canceled(bench.gelato, print_ids, recovered + deadline_after_recovery)
    finally:
        bench.gelato.set_down(False)  # a run cut short leaves no outage behind for the next benchmark
        for proc in procs:
            processes.stop(proc)
        processes.stop(web)
    figures = outage_figures(bench.gelato, print_ids, started, recovered)
    bench.gelato.reset()
    bench.flush_queue()
    return {
        "orders": count,
        "workers": workers,
        "outage_seconds": outage_seconds,
        "non_2xx": len(non_2xx),
        "non_2xx_examples": non_2xx[:3],
        "deadline_after_recovery_seconds": deadline_after_recovery,
        **figures,
        "targets": {
            "done_after_recovery_seconds": TARGET_DONE_AFTER_RECOVERY_SECONDS,
            "calls_per_order_while_down": TARGET_CALLS_PER_ORDER_WHILE_DOWN,
        },
    }


def post_spread(url: str, deliveries: list, started: float, over_seconds: float, failures: list[str]) -> None:
    """POST the deliveries one by one, evenly spread over `over_seconds` from `started`; record non-2xx answers."""
    session = requests.Session()
    spacing = over_seconds / len(deliveries)
    for n, (path, body, headers) in enumerate(deliveries):
        time.sleep(max(0.0, started + n * spacing - time.monotonic()))
        try:
            response = session.post(url + path, data=body, headers=headers, timeout=10)
        except requests.RequestException as exc:
            failures.append(f"{type(exc).__name__}: {exc}"[:120])
            continue
        if not 200 <= response.status_code < 300:
            failures.append(f"{response.status_code} {response.text[:100]}")


def wait_until_canceled(gelato, print_ids: list[str], deadline: float) -> bool:
    """True once every print order is canceled at the fake, False at the deadline (time.monotonic())."""
    while time.monotonic() < deadline:
        if all(gelato.canceled_at(print_id) is not None for print_id in print_ids):
            return True
        time.sleep(0.05)
    return False


def outage_figures(gelato, print_ids: list[str], started: float, recovered: float) -> dict:
    """What the fake saw: cancels after the recovery, and the requests that reached it while it was down."""
    done = sorted(at - recovered for print_id in print_ids if (at := gelato.canceled_at(print_id)) is not None)
    while_down = [call for call in gelato.calls if call.down]
    kinds: dict[str, int] = {}
    for call in while_down:
        kind = call_kind(call.method, call.path)
        kinds[kind] = kinds.get(kind, 0) + 1
    first_after = min((call.time for call in gelato.calls if call.time >= recovered), default=None)
    return {
        "canceled": sum(gelato.status_of(print_id) == "canceled" for print_id in print_ids),
        "not_done": len(print_ids) - len(done),
        "done_after_recovery_p50_seconds": load.percentile(done, 50) if done else None,
        "done_after_recovery_max_seconds": done[-1] if done else None,
        "done_within_target": sum(seconds <= TARGET_DONE_AFTER_RECOVERY_SECONDS for seconds in done),
        "calls_while_down": len(while_down),
        "calls_while_down_by_kind": kinds,
        "calls_per_order_while_down": len(while_down) / len(print_ids),
        "first_call_after_recovery_seconds": None if first_after is None else first_after - recovered,
        "calls_after_recovery": sum(1 for call in gelato.calls if call.time >= recovered),
    }


def call_kind(method: str, path: str) -> str:
    """A Gelato request's kind for the counts: search, cancel, get or other."""
    if path.endswith(":search"):
        return "search"
    if method == "POST" and path.endswith(":cancel"):
        return "cancel"
    if method == "GET" and re.fullmatch(r"/v4/orders/[^/:]+", path):
        return "get"
    return "other"


def summary_lines(o: dict) -> list[str]:
    """The outage benchmark's lines of the summary, each with its target."""
    p50 = o["done_after_recovery_p50_seconds"]
    last = o["done_after_recovery_max_seconds"]
    done = f"p50 {p50:.1f} s, last {last:.1f} s" if last is not None else "none done"
    return [
        f"Gelato down {o['outage_seconds']:.0f} s while {o['orders']} cancellations arrived ({o['workers']} workers):"
        f" after recovery {done}; {o['done_within_target']}/{o['orders']} within"
        f" {o['targets']['done_after_recovery_seconds']:.0f} s (target all ≤ {o['targets']['done_after_recovery_seconds']:.0f} s),"
        f" {o['not_done']} not done by the deadline; canceled at the fake {o['canceled']}/{o['orders']}; non-2xx {o['non_2xx']}",
        f"… calls to Gelato while down: {o['calls_while_down']} = {o['calls_per_order_while_down']:.2f} per order"
        f" (target ≤ {o['targets']['calls_per_order_while_down']}) {o['calls_while_down_by_kind']}",
    ]
