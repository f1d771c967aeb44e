"""The noisy neighbour: shop A's bulk cancel against shop B's customers' cancellations, through real processes.

Shop A cancels `a_count` orders at once; one second later shop B's customers cancel `b_count`
orders, one every 0.25 s. Figures: B's webhook POST → Gelato cancel call (p50, max) and the time
until A's last cancel call arrived (A's drain), with the fakes answering at once or like the
real services (`latency`).
"""

from __future__ import annotations

import threading
import time

import psutil
import requests

from . import load, processes

B_START_SECONDS = 1.0
B_SPACING_SECONDS = 0.25
DEADLINE_SECONDS = 900


class CancelClock:
    """When each print order's cancel call reached the Gelato fake (a `before` hook)."""

    def __init__(self):
        self.arrived: dict[str, float] = {}
        self._condition = threading.Condition()

    def __call__(self, call, *_args) -> None:
        print_id = call.path.rsplit("/", 1)[-1].split(":")[0]
        with self._condition:
            self.arrived.setdefault(print_id, time.perf_counter())
            self._condition.notify_all()

    def wait_for(self, print_ids: list[str], timeout: float) -> bool:
        """True once every print order's cancel call arrived, False after timeout."""
        with self._condition:
            return self._condition.wait_for(lambda: all(p in self.arrived for p in print_ids), timeout=timeout)


def bench_neighbours(bench, shop_a: str, shop_b: str, *, a_count: int, b_count: int, workers: int, latency=(0.0, 0.0)) -> dict:
    """Run the case once with `workers` Procfile worker processes; latency = (Gelato, Shopify) seconds a call."""
    clock = CancelClock()
    bench.gelato.before("POST", r":cancel$", clock)
    a_orders = bench.orders(a_count, shop_a)
    b_orders = bench.orders(b_count, shop_b)
    a_hooks = [bench.webhook(order_id, shop_a) for order_id, _ in a_orders]
    bench.gelato.latency, bench.shopify.latency = latency
    web, url = processes.web("plugin:create_app()", bench.env, bench.log("web-neighbours"))
    worker_logs = [bench.log(f"worker-neighbours-{i}") for i in range(workers)]
    procs = [processes.start(processes.procfile()["worker"], bench.env, log) for log in worker_logs]
    posted: dict[str, float] = {}
    b_failures: list[str] = []
    peak_rss = [0]
    sampling = threading.Event()

    def sample_rss() -> None:
        while not sampling.wait(0.5):
            for proc in procs:
                try:
                    peak_rss[0] = max(peak_rss[0], psutil.Process(proc.pid).memory_info().rss)
                except psutil.Error:
                    pass

    threading.Thread(target=sample_rss, name="rss", daemon=True).start()
    try:
        time.sleep(2)  # the workers boot and go idle
        started = time.perf_counter()

        def post_b() -> None:
            session = requests.Session()
            for n, (order_id, print_id) in enumerate(b_orders):
                time.sleep(max(0.0, started + B_START_SECONDS + n * B_SPACING_SECONDS - time.perf_counter()))
                path, body, headers = bench.webhook(order_id, shop_b)
                posted[print_id] = time.perf_counter()
                response = session.post(url + path, data=body, headers=headers, timeout=10)
                if response.status_code != 200:
                    b_failures.append(f"{response.status_code} {response.text[:100]}")

        poster = threading.Thread(target=post_b, name="shop-b", daemon=True)
        poster.start()
        a_ack = load.run(url, a_hooks, 4)
        poster.join(60)
        every = [p for _, p in a_orders] + [p for _, p in b_orders]
        if not clock.wait_for(every, DEADLINE_SECONDS):
            missing = sum(p not in clock.arrived for p in every)
            raise RuntimeError(f"neighbours: {missing} cancel calls never arrived; see {worker_logs[0]}")
    finally:
        sampling.set()
        for proc in procs:
            processes.stop(proc)
        processes.stop(web)
        bench.gelato.reset()
        bench.shopify.latency = 0.0
        bench.flush_queue()
    b_waits = sorted(clock.arrived[p] - posted[p] for _, p in b_orders)
    a_drain = max(clock.arrived[p] for _, p in a_orders) - started
    return {
        "a_count": a_count,
        "b_count": b_count,
        "workers": workers,
        "latency_gelato_shopify_s": list(latency),
        "non_2xx": a_ack["non_2xx"] + len(b_failures),
        "a_drain_seconds": a_drain,
        "cancellations_per_second_per_process": (a_count + b_count) / a_drain / workers,
        "peak_worker_rss_mib": peak_rss[0] / 2**20,
        "b_p50_seconds": load.percentile(b_waits, 50),
        "b_max_seconds": b_waits[-1],
    }
