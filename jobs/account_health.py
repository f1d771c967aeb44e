"""Health of each remote account, shared by every worker through Redis: a down or throttled account holds its jobs.

An account is a provider account (provider_account), a store's Admin API bucket (store_account:
a throttled job waits for its restore time, jobs/failure.py), or the share of that bucket its notes
and tags may spend (paced by jobs/tell_store.py).

When a provider account fails transiently (a 5xx, a timeout, a refused connection, a 429), sending
every queued job of that account into the same failure spends their retries, calls a provider that
is down once per job and retry, and leaves workers idle after it recovers while each job waits for
its next retry slot. Instead FAILURES_TO_HOLD failures in a row mark the account, and every job
that needs it is set aside (held) before it calls, without spending a retry (jobs/failure.py). Every
PROVIDER_PROBE_INTERVAL seconds one held job is released as the account's probe; when a probe's
call succeeds, every held job is released at once. A 429 with Retry-After pauses the account for
that long instead: no probe, the pause ends by itself and its jobs are released then. Other
accounts are never held back, and every worker process sees the same marks.

Holding moves no job out of RQ's sight: a held job waits in RQ's scheduled registry (its safety
net: it runs again after HELD_RECHECK_SECONDS even if no worker releases it), and its id in the
account's held set tells the workers' release round (jobs/worker.py) what to release early.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from enum import Enum

import redis
from redis.commands.core import Script
from rq import get_current_job
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry

from jobs.lanes import LaneQueue, requeue_from
from plugin.errors import AccountPaused, RateLimited, RemoteUnavailable
from plugin.logs import log_event
from plugin.providers import Address, CancelResult, NewPrintOrder, PatchResult, PrintOrder, PrintProvider
from plugin.store.keys import ACCOUNT_DOWN, ACCOUNT_FAILURES, ACCOUNT_HELD, ACCOUNT_PROBE, ACCOUNTS_DOWN
from plugin.store.provider_accounts import Account

log = logging.getLogger(__name__)

# The two marks: down until a probe succeeds; paused until the mark expires (Retry-After).
DOWN = "down"
PAUSED = "paused"
# A down mark no probe cleared is forgotten after this long; the next failure sets it again.
DOWN_MARK_SECONDS = 3600
# An account is held as down after this many transient failures with no answer in between, each
# within FAILURE_WINDOW_SECONDS of the last: one refused connection under load is not an outage
# (measured: a 2,000-job burst on 4 workers saw some, and holding on each cost a probe interval).
FAILURES_TO_HOLD = 3
FAILURE_WINDOW_SECONDS = 10
# A held job nobody releases runs again after this long and looks again (it stays held while the account is).
HELD_RECHECK_SECONDS = 300
# The job meta naming the account a released job probes.
PROBE_META = "probes_account"
# Held jobs looked at for a probe in one round: the oldest may still be finishing its failed run.
_PROBE_CANDIDATES = 5


# KEYS: the list of accounts, the account's mark, its held set. ARGV: the account.
_UNLIST = """
if redis.call('EXISTS', KEYS[2]) == 0 and redis.call('ZCARD', KEYS[3]) == 0 then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
"""
_UNLIST_SCRIPT = Script(None, _UNLIST.encode())  # type: ignore[arg-type]  # the client comes with each call


class Release(Enum):
    """What releasing one held job did."""

    RELEASED = "released"  # taken off RQ's scheduled registry and queued to run now
    BUSY = "busy"  # still finishing the run that held it: try again next round
    GONE = "gone"  # no longer waiting there (ran, deleted, or queued by RQ's scheduler)


@dataclass(frozen=True)
class Admission:
    """How a call may go: as a down account's probe, and whether failures were counted before it."""

    probing: bool
    after_failures: bool


@dataclass(frozen=True)
class HeldAccount:
    """An account on the list: its state, the jobs held for it, and seconds until its mark expires."""

    state: str
    jobs: int
    seconds_left: float


def provider_account(name: str, api_key: str, store_id: str | None) -> str:
    """The id of one provider account: the provider's name and a digest of its key and store, never the key."""
    digest = hashlib.sha256(f"{api_key}\0{store_id or ''}".encode()).hexdigest()[:12]
    return f"{name}:{digest}"


def hold_job(connection: redis.Redis, account: str, job_id: str) -> None:
    """Remember the job as waiting for the account (its run failed with AccountPaused)."""
    pipe = connection.pipeline()
    pipe.zadd(ACCOUNT_HELD.key(account), {job_id: time.time()})
    # Listed again: a round that saw the account up and its held set empty may have just unlisted it.
    pipe.zadd(ACCOUNTS_DOWN.key(), {account: time.time()}, nx=True)
    pipe.execute()


def store_account(shop: str) -> str:
    """The id of a store's Admin API bucket (a throttled job waits on it): a digest, so /metrics names no store."""
    return "shopify:" + hashlib.sha256(shop.encode()).hexdigest()[:12]


class AccountHealth:
    """The down and paused marks of every account, the jobs held for each, and their release."""

    def __init__(self, connection: redis.Redis):
        self.connection = connection

    def admit(self, account: str, probe: bool) -> Admission:
        """How a call to the account may go: as its probe, as an ordinary call; AccountPaused when it is held.

        probe: the running job was released as the account's probe.
        """
        mark, failures = self.connection.mget(ACCOUNT_DOWN.key(account), ACCOUNT_FAILURES.key(account))
        if mark is None:
            return Admission(probing=False, after_failures=failures is not None)
        if probe and mark == DOWN.encode():
            return Admission(probing=True, after_failures=True)
        state = mark.decode()
        raise AccountPaused(f"{account} is {state}: the job waits for it", account)

    def failed(
        self, account: str, error: RemoteUnavailable | RateLimited, job_id: str | None, probing: bool
    ) -> AccountPaused | None:
        """A call failed transiently: AccountPaused when the account is now held (down or paused), else None.

        A 429 with Retry-After pauses it at once, a failed probe keeps it down, and FAILURES_TO_HOLD
        failures in a row mark it down. A failure short of that lets the job retry as usual, but
        remembers it among the account's jobs, so a recovery soon after releases it early too.
        """
        if (isinstance(error, RateLimited) and error.retry_after) or probing:
            return self.went_down(account, error)
        pipe = self.connection.pipeline()
        pipe.incr(ACCOUNT_FAILURES.key(account))
        pipe.expire(ACCOUNT_FAILURES.key(account), FAILURE_WINDOW_SECONDS)
        if job_id is not None:
            pipe.zadd(ACCOUNT_HELD.key(account), {job_id: time.time()})
            pipe.expire(ACCOUNT_HELD.key(account), DOWN_MARK_SECONDS)
        failures = pipe.execute()[0]
        if failures >= FAILURES_TO_HOLD:
            return self.went_down(account, error)
        return None

    def answered(self, account: str) -> None:
        """A call was answered after failures: the count starts again."""
        self.connection.delete(ACCOUNT_FAILURES.key(account))

    def went_down(self, account: str, error: RemoteUnavailable | RateLimited) -> AccountPaused:
        """Mark the account down (paused, for a 429's Retry-After) and return the error that holds the job."""
        if isinstance(error, RateLimited) and error.retry_after:
            state = PAUSED
            self.pause(account, error.retry_after)
        else:
            state = DOWN
            pipe = self.connection.pipeline()
            pipe.set(ACCOUNT_DOWN.key(account), DOWN, ex=DOWN_MARK_SECONDS)
            pipe.zadd(ACCOUNTS_DOWN.key(), {account: time.time()}, nx=True)
            pipe.delete(ACCOUNT_FAILURES.key(account))
            pipe.execute()
        log_event("account_down", account=account, state=state, error=str(error)[:200])
        return AccountPaused(f"{account} is {state}: {error}", account, retry_after=error.retry_after)

    def pause(self, account: str, seconds: float) -> None:
        """Hold the account's jobs for `seconds` (a Retry-After, a bucket refilling); they are released when it ends."""
        pipe = self.connection.pipeline()
        pipe.set(ACCOUNT_DOWN.key(account), PAUSED, px=max(1, round(seconds * 1000)))
        pipe.zadd(ACCOUNTS_DOWN.key(), {account: time.time()}, nx=True)
        pipe.execute()

    def came_back(self, account: str) -> int:
        """A probe's call succeeded: clear the mark and release every job held for the account now."""
        self.connection.delete(ACCOUNT_DOWN.key(account), ACCOUNT_PROBE.key(account), ACCOUNT_FAILURES.key(account))
        released = self.release_all(account)
        log_event("account_up", account=account, released=released)
        return released

    def release_round(self, probe_interval: float) -> int:
        """One round of every worker's release thread: accounts back up release all, down ones a probe.

        probe_interval: seconds between two probes of one down account (PROVIDER_PROBE_INTERVAL).
        """
        released = 0
        for raw in self.connection.zrange(ACCOUNTS_DOWN.key(), 0, -1):
            account = raw.decode()
            mark = self.connection.get(ACCOUNT_DOWN.key(account))
            if mark is None:
                released += self.release_all(account)
                self._unlist_if_empty(account)
            elif mark == DOWN.encode():
                released += self._release_probe(account, probe_interval)
        return released

    def release_all(self, account: str) -> int:
        """Release every job held for the account; those still finishing their run stay for the next round."""
        ids = [raw.decode() for raw in self.connection.zrange(ACCOUNT_HELD.key(account), 0, -1)]
        return sum(outcome is Release.RELEASED for outcome in self._release_many(account, ids))

    def held(self) -> dict[str, HeldAccount]:
        """Every account listed now: its state ("down", "paused", "up" while its jobs are being released), jobs, time left."""
        accounts = [raw.decode() for raw in self.connection.zrange(ACCOUNTS_DOWN.key(), 0, -1)]
        with self.connection.pipeline(transaction=False) as pipe:
            for account in accounts:
                pipe.get(ACCOUNT_DOWN.key(account))
                pipe.zcard(ACCOUNT_HELD.key(account))
                pipe.pttl(ACCOUNT_DOWN.key(account))
            answers = pipe.execute()
        return {
            account: HeldAccount((mark or b"up").decode(), jobs, max(left, 0) / 1000)
            for account, mark, jobs, left in zip(accounts, answers[::3], answers[1::3], answers[2::3], strict=True)
        }

    def _release_probe(self, account: str, probe_interval: float) -> int:
        """Release the oldest held job as the account's probe, unless a probe was released less than an interval ago."""
        probe_key = ACCOUNT_PROBE.key(account)
        if self.connection.exists(probe_key):
            return 0
        for raw in self.connection.zrange(ACCOUNT_HELD.key(account), 0, _PROBE_CANDIDATES - 1):
            job_id = raw.decode()
            # Claimed first: of the workers' rounds, one releases a probe an interval.
            if not self.connection.set(probe_key, job_id, nx=True, px=max(1, round(probe_interval * 1000))):
                return 0
            [outcome] = self._release_many(account, [job_id], probe=True)
            if outcome is Release.RELEASED:
                log_event("account_probe", account=account, job_id=job_id)
                return 1
            self.connection.delete(probe_key)
        return 0

    def _release_many(self, account: str, ids: list[str], probe: bool = False) -> list[Release]:
        """Move held jobs from RQ's scheduled registry to their queues, each at most once across workers.

        A few round trips for any number (a recovery releases hundreds at once). probe: the jobs may
        call the account while it is down (their meta says so, for guard()).
        """
        jobs = {job.id: job for job in Job.fetch_many(ids, connection=self.connection) if job is not None}
        with self.connection.pipeline(transaction=False) as pipe:
            for job in jobs.values():
                pipe.zscore(ScheduledJobRegistry(job.origin, connection=self.connection).key, job.id)
            scheduled = {job_id for job_id, score in zip(jobs, pipe.execute(), strict=True) if score is not None}
        # Fetched again once seen in the registry: as RQ scheduled them, not as their failed run was ending.
        fresh = {job.id: job for job in Job.fetch_many(sorted(scheduled), connection=self.connection) if job is not None}
        with self.connection.pipeline(transaction=False) as pipe:
            for job in fresh.values():
                job.meta[PROBE_META] = account if probe else None
                requeue_from(
                    LaneQueue(job.origin, connection=self.connection),
                    job,
                    _shop_of(job),
                    ScheduledJobRegistry(job.origin, connection=self.connection).key,
                    client=pipe,
                )
            moved = dict(zip(fresh, pipe.execute(), strict=True))
        outcomes = []
        done = []
        for job_id in ids:
            job = jobs.get(job_id)
            if moved.get(job_id):
                outcomes.append(Release.RELEASED)
            elif job is not None and job.get_status(refresh=False) == JobStatus.STARTED:
                outcomes.append(Release.BUSY)  # its failed run is still being recorded; RQ schedules it in a moment
                continue
            else:
                outcomes.append(Release.GONE)
            done.append(job_id)
        if done:
            self.connection.zrem(ACCOUNT_HELD.key(account), *done)
        return outcomes

    def _unlist_if_empty(self, account: str) -> None:
        """Drop an account that is up from the list once nothing is held for it.

        One script: checked and dropped apart, a job held in between would stay held with its
        account unlisted, unseen by every round until its safety re-run minutes later.
        """
        _UNLIST_SCRIPT(
            keys=[ACCOUNTS_DOWN.key(), ACCOUNT_DOWN.key(account), ACCOUNT_HELD.key(account)],
            args=[account],
            client=self.connection,
        )


def _shop_of(job: Job) -> str | None:
    """The store a job works for (its lane), from its arguments."""
    shop = job.kwargs.get("shop") if isinstance(job.kwargs, dict) else None
    return shop if isinstance(shop, str) else None


class HoldableJob(Job):
    """An RQ job whose next retry can be a hold: scheduled HELD_RECHECK_SECONDS away, for a release to bring forward."""

    hold_seconds: float | None = None

    def get_retry_interval(self):
        """The hold's delay when the failure callback held the job, else RQ's interval for this retry."""
        if self.hold_seconds is not None:
            return self.hold_seconds
        return super().get_retry_interval()


def guarded_client(svc, account: Account) -> GuardedProvider:
    """The job's client of a provider account, guarded by the account's health."""
    health = AccountHealth(svc.redis)
    return guard(svc.provider_client(account), health, provider_account(account.provider, account.api_key, account.store_id))


class GuardedProvider:
    """A provider client whose every call passes its account's health: held while down, marked on failure."""

    def __init__(
        self, client: PrintProvider, health: AccountHealth, account: str, probe: bool = False, job_id: str | None = None
    ):
        self._client = client
        self._health = health
        self.account = account
        self._probe = probe
        self._job_id = job_id
        self.name = client.name
        self.supports_replacement = client.supports_replacement

    def check_account(self) -> None:
        """The client's check_account, guarded."""
        return self._call(self._client.check_account)

    def find_orders(self, reference_id: str) -> list[PrintOrder]:
        """The client's find_orders, guarded."""
        return self._call(self._client.find_orders, reference_id)

    def get_order(self, order_id: str) -> PrintOrder | None:
        """The client's get_order, guarded."""
        return self._call(self._client.get_order, order_id)

    def cancel_order(self, order_id: str) -> CancelResult:
        """The client's cancel_order, guarded."""
        return self._call(self._client.cancel_order, order_id)

    def patch_order(self, order_id: str, quantities: dict[str, int], address: Address | None) -> PatchResult:
        """The client's patch_order, guarded."""
        return self._call(self._client.patch_order, order_id, quantities, address)

    def create_order(self, order: NewPrintOrder) -> PrintOrder:
        """The client's create_order, guarded."""
        return self._call(self._client.create_order, order)

    def __getattr__(self, name: str):
        # Optional provider calls (find_orders_by_any): guarded too; absent ones stay absent.
        call = getattr(self._client, name)
        if not callable(call):
            return call
        return lambda *args, **kwargs: self._call(call, *args, **kwargs)

    def _call(self, call, *args, **kwargs):
        admission = self._health.admit(self.account, self._probe)
        try:
            result = call(*args, **kwargs)
        except (RemoteUnavailable, RateLimited) as exc:
            held = self._health.failed(self.account, exc, self._job_id, admission.probing)
            if held is None:
                raise
            raise held from exc
        except Exception:
            self._answered(admission)  # any other answer (even a refusal) shows the account is reachable
            raise
        self._answered(admission)
        return result

    def _answered(self, admission: Admission) -> None:
        if admission.probing:
            self._health.came_back(self.account)
            self._probe = False  # the account is up: this job's later calls are ordinary ones
        elif admission.after_failures:
            self._health.answered(self.account)


def guard(client: PrintProvider, health: AccountHealth, account: str) -> GuardedProvider:
    """The client guarded by its account's health, for the job running now (released as its probe or not)."""
    job = get_current_job()
    if job is None:
        return GuardedProvider(client, health, account)
    return GuardedProvider(client, health, account, probe=job.meta.get(PROBE_META) == account, job_id=job.id)
