"""A bad day, time-compressed: two stores' cancellations racing Gelato's production, an outage and a crash.

Through real processes (the Procfile's web process and 4 worker processes, instant fakes), on a
timeline that starts once the workers are up (t = 0), drawn from random.Random(seed):

- 400 store orders are cancelled at random times over 60 s, each of shop A or shop B at random;
- at 10 s shop A cancels 800 more at once (a bulk cancel);
- 50 store orders are never cancelled: half get an orders/updated webhook (a note changed) at a
  random time, half no webhook at all;
- each cancelled order's print order goes to production (the Gelato fake's production clock) at
  its store cancel time + 3 s + an exponential delay with a 37 s mean; from then on Gelato refuses
  to cancel it;
- Gelato answers 503 to every request from 25 s to 40 s;
- at 48 s every worker process is killed (SIGKILL, with its scheduler) and 4 new ones start at
  once, as the platform restarts crashed dynos.

Each webhook is posted at its order's time from posting processes of its own (the store orders are
marked cancelled in the Shopify fake before the clock starts; the app reads one only once its
webhook came). The run lasts until no RQ job is queued, started, scheduled or deferred for a
few seconds (or a deadline). Definitions, per cancelled store order (one print order each):

- arrived: when the web process answered the webhook's POST (the app has it from then on);
- savable: its production time comes after it arrived;
- saved: its cancel call succeeded at the fake (always before its production time);
- savable while up: savable, and part of its window (arrived → production) lies outside the
  outage, so Gelato was up at some moment while the cancel could still have worked;
- told: a print order not saved has its store order tagged `print-cancel-too-late`;
- cancelled wrongly: a never-cancelled store order's print order got canceled.

Targets (the issue): ≥ 99 % of the savable-while-up print orders saved, the whole bulk saved
(of its savable ones), every too-late order told, nothing cancelled wrongly.
"""

from __future__ import annotations

import http.client
import multiprocessing
import os
import random
import signal
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from rq.job import Job
from rq.registry import FailedJobRegistry

from jobs.queueing import QUEUE_NAMES

from . import outage, processes

SEED = 7
RANDOM_CANCELLATIONS = 400
SPREAD_SECONDS = 60.0
BULK_AT_SECONDS = 10.0
BULK_CANCELLATIONS = 800
UNCANCELLED_ORDERS = 50
PRODUCTION_MIN_SECONDS = 3.0
PRODUCTION_EXTRA_MEAN_SECONDS = 37.0
OUTAGE = (25.0, 40.0)
KILL_AT_SECONDS = 48.0
WORKERS = 4
# Shopify delivers a bulk's webhooks in parallel. Four sequential posters (each POST on a new
# connection) were the bench's own bottleneck: they spread the 800 answers over 3.5-6 s while the door
# acknowledges about 1,400 a second, and a late answer eats into its order's window before the app has it.
BULK_POSTERS = 16
BOOT_SECONDS = 2.0
# Done: no active RQ job for this long. A bad run ends at the deadline and says what was left.
QUIET_SECONDS = 3.0
DEADLINE_SECONDS = 20 * 60
TARGET_SAVED_WHILE_UP = 0.99
TOO_LATE_TAG = "print-cancel-too-late"
CANCELLED_TAG = "print-cancelled"
FAILED_TAG = "print-mirror-failed"
ACTIVE_JOB_STATUSES = (b"queued", b"started", b"scheduled", b"deferred")
# Bands of a missed order's window (arrived → production) while Gelato was up, for the report.
WINDOW_BANDS = (("<2", 0.0, 2.0), ("2-5", 2.0, 5.0), ("5-10", 5.0, 10.0), (">=10", 10.0, float("inf")))


@dataclass
class StoreOrder:
    """One store order of the scenario and its single print order, with what happened to it."""

    group: str  # "random" or "bulk" (cancelled), "updated" or "silent" (never cancelled)
    shop: str
    order_id: int
    print_id: str
    at: float  # scenario seconds: when the store cancels it (or sends its orders/updated)
    production_after: float | None = None  # scenario seconds: when its print order goes to production
    sent: float | None = None  # time.monotonic() of the webhook POST
    arrived: float | None = None  # time.monotonic() of the web process's answer
    status: int | None = None  # the web process's HTTP status (None: no answer)

    @property
    def cancelled(self) -> bool:
        """True for the store orders the scenario cancels."""
        return self.group in ("random", "bulk")


def plan(bench, rng: random.Random, shop_a: str, shop_b: str) -> list[StoreOrder]:
    """Seed both fakes with the scenario's store and print orders (none cancelled yet) and draw their times."""
    orders = []

    def production_delay() -> float:
        return PRODUCTION_MIN_SECONDS + rng.expovariate(1 / PRODUCTION_EXTRA_MEAN_SECONDS)

    def seed(group: str, shop: str, at: float, production_after: float | None) -> None:
        order_id = bench.shopify.add_order(shop)
        print_id = bench.gelato.add_order(str(order_id), status="passed")
        orders.append(StoreOrder(group, shop, order_id, print_id, at, production_after))

    for _ in range(RANDOM_CANCELLATIONS):
        at = rng.uniform(0, SPREAD_SECONDS)
        seed("random", rng.choice((shop_a, shop_b)), at, at + production_delay())
    for _ in range(BULK_CANCELLATIONS):
        seed("bulk", shop_a, BULK_AT_SECONDS, BULK_AT_SECONDS + production_delay())
    for n in range(UNCANCELLED_ORDERS):
        seed("updated" if n % 2 == 0 else "silent", rng.choice((shop_a, shop_b)), rng.uniform(0, SPREAD_SECONDS), None)
    return orders


def bench_bad_day(bench, shop_a: str, shop_b: str, *, seed: int = SEED, workers: int = WORKERS) -> dict:
    """Run the scenario once with a fixed seed; saved/savable figures and the checks against the targets."""
    orders = plan(bench, random.Random(seed), shop_a, shop_b)
    shares = posting_shares(bench, orders)
    web, url = processes.web("plugin:create_app()", bench.env, bench.log("web-bad-day"))
    procs = start_workers(bench, workers, "first")
    timeline: dict = {}
    in_flight: list[dict] = []
    try:
        time.sleep(BOOT_SECONDS)  # the workers boot and go idle
        # The posting processes fork before the clock starts, so their start-up delays no webhook.
        with multiprocessing.get_context("fork").Pool(len(shares)) as pool:
            t0 = time.monotonic() + 0.5
            t0_wall = time.time() + 0.5  # RQ stamps jobs with wall-clock times
            for order in orders:
                if order.production_after is not None:
                    bench.gelato.set_production_clock(order.print_id, t0 + order.production_after)
            bench.gelato.down_until(t0 + OUTAGE[1], since=t0 + OUTAGE[0])
            posted = pool.map_async(_post_on_time, [(url, t0, share) for share in shares])
            time.sleep(max(0.0, t0 + KILL_AT_SECONDS - time.monotonic()))
            timeline["killed_at"] = time.monotonic() - t0
            timeline["jobs_active_at_kill"] = active_jobs(bench.redis)
            in_flight = started_jobs(bench.redis)
            for proc in procs:
                os.killpg(proc.pid, signal.SIGKILL)
            for proc in procs:
                proc.wait(10)
            procs = start_workers(bench, workers, "restarted")
            timeline["restarted_at"] = time.monotonic() - t0
            for share in posted.get(SPREAD_SECONDS + 120):
                for index, sent, arrived, status in share:
                    orders[index].sent, orders[index].arrived, orders[index].status = sent, arrived, status
        quiet_at, left = wait_until_quiet(bench.redis, t0, t0 + DEADLINE_SECONDS)
        timeline.update(all_jobs_done_at=quiet_at, jobs_left_at_end=left, ended_at=time.monotonic() - t0)
    finally:
        bench.gelato.set_down(False)  # a run cut short leaves no outage behind for the next benchmark
        for proc in procs:
            processes.stop(proc)
        processes.stop(web)
    figures = bad_day_figures(bench, orders, t0)
    figures["in_flight_at_kill"] = [dict(job, **fate_of(bench, orders, job["order_id"], t0)) for job in in_flight]
    figures["last_jobs_to_end"] = last_jobs_to_end(bench.redis, t0_wall)
    figures["failed_jobs"] = sum(FailedJobRegistry(name, connection=bench.redis).count for name in QUEUE_NAMES)
    after_kill = [call.time - t0 for call in bench.gelato.calls if call.time - t0 >= timeline["killed_at"]]
    timeline["first_gelato_call_after_kill"] = min(after_kill, default=None)
    bench.gelato.reset()
    bench.flush_queue()
    return {
        "seed": seed,
        "workers": workers,
        "scenario": {
            "random_cancellations": RANDOM_CANCELLATIONS,
            "spread_seconds": SPREAD_SECONDS,
            "bulk_cancellations": BULK_CANCELLATIONS,
            "bulk_at_seconds": BULK_AT_SECONDS,
            "uncancelled_orders": UNCANCELLED_ORDERS,
            "production_after_cancel": f"{PRODUCTION_MIN_SECONDS:g} s + exponential, mean {PRODUCTION_EXTRA_MEAN_SECONDS:g} s",
            "gelato_down_seconds": list(OUTAGE),
            "workers_killed_at_seconds": KILL_AT_SECONDS,
        },
        "timeline_seconds": timeline,
        **figures,
        "targets": {
            "saved_of_savable_while_up": TARGET_SAVED_WHILE_UP,
            "bulk": "all savable saved",
            "too_late_told": "all",
            "cancelled_wrongly": 0,
        },
    }


def start_workers(bench, count: int, name: str) -> list:
    """Start `count` Procfile worker processes, each logging to its own file."""
    return [
        processes.start(processes.procfile()["worker"], bench.env, bench.log(f"worker-bad-day-{name}-{i}")) for i in range(count)
    ]


def posting_shares(bench, orders: list[StoreOrder]) -> list[list[tuple]]:
    """Make the store changes and sign the webhooks up front; one share of (index, at, delivery) per posting process.

    The store orders are cancelled (or their note changed) in the Shopify fake now, before the
    clock starts: the app reads a store order only once its webhook came, and building 800
    deliveries at 10 s inside the process that also serves both fakes would delay them by seconds.
    One process posts the spread webhooks in time order; BULK_POSTERS processes share the bulk.
    """
    spread, bulk = [], []
    for index, order in enumerate(orders):
        if order.group == "silent":
            continue
        if order.cancelled:
            bench.shopify.cancel_order(order.shop, order.order_id)
        else:
            bench.shopify.set_order(order.shop, order.order_id, note="Please gift-wrap it.")
        path, body, headers = bench.webhook(order.order_id, order.shop)
        if not order.cancelled:
            headers = dict(headers, **{"X-Shopify-Topic": "orders/updated"})  # the HMAC covers the body only
        (bulk if order.group == "bulk" else spread).append((index, order.at, (path, body, headers)))
    spread.sort(key=lambda entry: entry[1])
    return [spread] + [bulk[n::BULK_POSTERS] for n in range(BULK_POSTERS)]


def _post_on_time(args) -> list[tuple[int, float, float, int | None]]:
    """In a posting process: POST each delivery at t0 + its time, on a new connection; (index, sent, answered, status) each."""
    url, t0, share = args
    parts = urlsplit(url)
    answers = []
    for index, at, (path, body, headers) in share:
        time.sleep(max(0.0, t0 + at - time.monotonic()))  # CLOCK_MONOTONIC: one clock for every process
        sent = time.monotonic()
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        status = None
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            status = response.status
        except OSError:
            pass
        finally:
            connection.close()
        answers.append((index, sent, time.monotonic(), status))
    return answers


def job_statuses(connection) -> dict[str, bytes | None]:
    """Every RQ job in Redis (its own hash, not its dependents' or results' keys): id → status, one round trip."""
    keys = [key for key in connection.scan_iter(match="rq:job:*", count=1000) if key.count(b":") == 2]
    with connection.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hget(key, "status")
        return {key.decode().rsplit(":", 1)[-1]: status for key, status in zip(keys, pipe.execute(), strict=True)}


def started_jobs(connection) -> list[dict]:
    """The RQ jobs marked started (running in some worker): their function and order id."""
    ids = [job_id for job_id, status in job_statuses(connection).items() if status == b"started"]
    jobs = [job for job in Job.fetch_many(ids, connection=connection) if job is not None]
    return [{"func": job.func_name, "order_id": (job.kwargs or {}).get("order_id")} for job in jobs]


def last_jobs_to_end(connection, t0_wall: float, count: int = 3) -> list[dict]:
    """The jobs that ended last (function, order id, status, attempts, scenario seconds): what a long tail was."""
    ids = list(job_statuses(connection))
    jobs = [job for job in Job.fetch_many(ids, connection=connection) if job is not None and job.ended_at is not None]
    jobs.sort(key=lambda job: job.ended_at, reverse=True)
    return [
        {
            "func": job.func_name,
            "order_id": (job.kwargs or {}).get("order_id"),
            "status": str(getattr(job.get_status(refresh=False), "value", "")),
            "retries_used": len(job.retry_intervals or ()) - (job.retries_left or 0),
            "enqueued_s": None if job.enqueued_at is None else round(job.enqueued_at.timestamp() - t0_wall, 2),
            "ended_s": round(job.ended_at.timestamp() - t0_wall, 2),
        }
        for job in jobs[:count]
    ]


def active_jobs(connection) -> int:
    """RQ jobs in Redis that are queued, started, scheduled or deferred (work not yet done)."""
    return sum(status in ACTIVE_JOB_STATUSES for status in job_statuses(connection).values())


def wait_until_quiet(connection, t0: float, deadline: float) -> tuple[float | None, int]:
    """Wait until no job has been active for QUIET_SECONDS; (scenario seconds when it went quiet, or None; jobs left)."""
    quiet_since = None
    while True:
        left = active_jobs(connection)
        now = time.monotonic()
        if left:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= QUIET_SECONDS:
            return quiet_since - t0, 0
        if now > deadline:
            return None, left
        time.sleep(0.5)


def fate_of(bench, orders: list[StoreOrder], order_id, t0: float) -> dict:
    """What became of one store order's print order (scenario seconds), for the jobs the kill interrupted."""
    order = next((o for o in orders if str(o.order_id) == str(order_id)), None)
    if order is None:
        return {}
    canceled = bench.gelato.canceled_at(order.print_id)
    return {
        "group": order.group,
        "arrived_s": None if order.arrived is None else round(order.arrived - t0, 2),
        "production_s": None if order.production_after is None else round(order.production_after, 2),
        "saved_at_s": None if canceled is None else round(canceled - t0, 2),
        "tags": bench.shopify.order(order.shop, order.order_id)["tags"],
    }


def up_seconds(start: float, end: float, down: tuple[float, float]) -> float:
    """Seconds of [start, end] outside the outage `down` (all scenario seconds)."""
    if end <= start:
        return 0.0
    overlap = max(0.0, min(end, down[1]) - max(start, down[0]))
    return (end - start) - overlap


def bad_day_figures(bench, orders: list[StoreOrder], t0: float) -> dict:
    """What the fakes say happened to every print order, set against the definitions in the module docstring."""
    rows = []
    for order in orders:
        arrived = None if order.arrived is None else order.arrived - t0
        canceled = bench.gelato.canceled_at(order.print_id)
        production = order.production_after
        savable = order.cancelled and arrived is not None and production is not None and production > arrived
        window_up = up_seconds(arrived, production, OUTAGE) if savable else 0.0
        rows.append(
            {
                "order": order,
                "arrived": arrived,
                "saved": canceled is not None,
                "savable": savable,
                "savable_while_up": savable and window_up > 0,
                "window_up_seconds": window_up,
                "tags": bench.shopify.order(order.shop, order.order_id)["tags"],
            }
        )
    cancelled = [r for r in rows if r["order"].cancelled]
    bulk = [r for r in cancelled if r["order"].group == "bulk"]
    not_saved = [r for r in cancelled if not r["saved"]]
    missed_while_up = [r for r in cancelled if r["savable_while_up"] and not r["saved"]]
    untouched = [r for r in rows if not r["order"].cancelled]
    untouched_ids = {r["order"].print_id for r in untouched}
    by_shop = {}
    for shop in sorted({r["order"].shop for r in cancelled}):
        mine = [r for r in cancelled if r["order"].shop == shop and r["order"].group == "random"]
        by_shop[shop] = _saved_of(mine, "savable")
    post_delay = {
        name: max(
            (o.sent - t0 - o.at for o in orders if o.sent is not None and (o.group == "bulk") == (name == "bulk")), default=0.0
        )
        for name in ("spread", "bulk")
    }
    bulk_saved_at = [at - t0 for r in bulk if (at := bench.gelato.canceled_at(r["order"].print_id)) is not None]
    calls = bench.gelato.calls
    while_down: dict[str, int] = {}
    for call in calls:
        if call.down:
            kind = outage.call_kind(call.method, call.path)
            while_down[kind] = while_down.get(kind, 0) + 1
    return {
        "webhooks_posted": sum(o.sent is not None for o in orders if o.group != "silent"),
        "non_2xx": sum(not (o.status and 200 <= o.status < 300) for o in orders if o.group != "silent"),
        "post_delay_max_seconds": post_delay,
        "bulk_acked_by_seconds": max((r["arrived"] for r in bulk if r["arrived"] is not None), default=None),
        "bulk_last_saved_at_seconds": max(bulk_saved_at, default=None),
        "savable": sum(r["savable"] for r in cancelled),
        "not_savable": sum(not r["savable"] for r in cancelled),
        "saved_not_savable": sum(r["saved"] and not r["savable"] for r in cancelled),
        "overall": _saved_of(cancelled, "savable"),
        "while_up": _saved_of(cancelled, "savable_while_up"),
        "bulk": _saved_of(bulk, "savable"),
        "random_by_shop": by_shop,
        "missed_while_up_by_window_up_seconds": {
            label: sum(low <= r["window_up_seconds"] < high for r in missed_while_up) for label, low, high in WINDOW_BANDS
        },
        "missed_while_up_examples": [
            {
                "group": r["order"].group,
                "arrived_s": round(r["arrived"], 2),
                "production_s": round(r["order"].production_after, 2),
                "window_up_s": round(r["window_up_seconds"], 2),
                "status": bench.gelato.status_of(r["order"].print_id),
                "tags": r["tags"],
            }
            # Every miss with 2 s or more of up-time to act in, then the first few of the tight ones.
            for r in sorted(missed_while_up, key=lambda r: (r["window_up_seconds"] < 2, r["order"].production_after))[:10]
        ],
        "too_late": len(not_saved),
        "too_late_told": sum(TOO_LATE_TAG in r["tags"] for r in not_saved),
        "too_late_tagged_failed_instead": sum(FAILED_TAG in r["tags"] and TOO_LATE_TAG not in r["tags"] for r in not_saved),
        "too_late_untold": sum(TOO_LATE_TAG not in r["tags"] and FAILED_TAG not in r["tags"] for r in not_saved),
        "saved_tagged_cancelled": sum(CANCELLED_TAG in r["tags"] for r in cancelled if r["saved"]),
        "saved": sum(r["saved"] for r in cancelled),
        "uncancelled_orders": len(untouched),
        "cancelled_wrongly": sum(r["saved"] for r in untouched),
        "cancel_calls_for_uncancelled": sum(
            1
            for call in calls
            if call.path.endswith(":cancel") and call.path.rsplit("/", 1)[-1][: -len(":cancel")] in untouched_ids
        ),
        "gelato_calls": len(calls),
        "gelato_calls_while_down": sum(while_down.values()),
        "gelato_calls_while_down_by_kind": while_down,
    }


def _saved_of(rows: list[dict], among: str) -> dict:
    """saved / total among the rows flagged `among`, with the ratio."""
    pool = [r for r in rows if r[among]]
    saved = sum(r["saved"] for r in pool)
    return {"saved": saved, "of": len(pool), "ratio": saved / len(pool) if pool else None}


def _ratio(part: dict) -> str:
    """'saved/of (pct %)' for one saved_of figure."""
    pct = "n/a" if part["ratio"] is None else f"{100 * part['ratio']:.1f} %"
    return f"{part['saved']}/{part['of']} ({pct})"


def summary_lines(b: dict) -> list[str]:
    """The bad-day benchmark's lines of the summary, each with its target."""
    t = b["timeline_seconds"]
    done = "never (deadline)" if t.get("all_jobs_done_at") is None else f"{t['all_jobs_done_at']:.0f} s"
    return [
        f"bad day (seed {b['seed']}, {b['workers']} workers; Gelato down {b['scenario']['gelato_down_seconds']} s, workers killed"
        f" at {t['killed_at']:.1f} s): saved/savable {_ratio(b['overall'])}; while Gelato was up {_ratio(b['while_up'])}"
        f" (target ≥ {100 * b['targets']['saved_of_savable_while_up']:.0f} %); bulk {_ratio(b['bulk'])} (target all; acked by"
        f" {b['bulk_acked_by_seconds']:.1f} s, last saved at {b['bulk_last_saved_at_seconds']:.1f} s); missed while up by"
        f" seconds of up-time in their window {b['missed_while_up_by_window_up_seconds']}",
        f"… too late {b['too_late']}: told {b['too_late_told']} (target all), tagged failed instead"
        f" {b['too_late_tagged_failed_instead']}, untold {b['too_late_untold']}; cancelled wrongly {b['cancelled_wrongly']}"
        f" of {b['uncancelled_orders']} never-cancelled (target 0); all jobs done by about {done} (jobs left"
        f" {t.get('jobs_left_at_end')}, failed {b['failed_jobs']}); non-2xx {b['non_2xx']}; Gelato calls while down"
        f" {b['gelato_calls_while_down']}",
        f"… jobs running at the kill: {len(b['in_flight_at_kill'])}"
        + "".join(
            f"; {job['func'].rsplit('.', 1)[-1]} arrived {job.get('arrived_s')} s, production {job.get('production_s')} s,"
            f" saved at {job.get('saved_at_s')} s"
            for job in b["in_flight_at_kill"]
        )
        + f"; first Gelato call after the kill at {t['first_gelato_call_after_kill']:.1f} s",
    ]
