"""Deduplicate a delivery, check its guards and enqueue its job in one atomic Redis script call."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass

import redis
from redis.commands.core import Script
from rq import Queue

from jobs.lanes import lane_writes
from plugin.intake.delivery import Delivery
from plugin.intake.registry import JobRequest
from plugin.store import keys
from plugin.store.installed_marks import INSTALLED_MARK_TTL, installed_key

DEDUPE_KEY_PREFIX = keys.WEBHOOK_DELIVERY.prefix
# print-mirror:webhook-body:<shop>:<topic>:<digest>. The shop is a segment of its own right after
# the kind, so shop/redact (jobs/privacy.py) finds and erases these keys with the shop's others.
BODY_DEDUPE_KEY_PREFIX = keys.WEBHOOK_BODY.prefix

# RQ's enqueue is recorded on a pipeline and replayed inside the script, so RQ keeps deciding what
# an enqueued job looks like. Only single-key writes are replayed (key first, as the script
# expects); anything else means RQ changed and must be looked at, not guessed at.
_REPLAYABLE = frozenset({"HSET", "HMSET", "RPUSH", "LPUSH", "LTRIM", "SADD", "SET", "EXPIRE", "ZADD", "HINCRBY", "PERSIST"})

# KEYS: marker, body marker ("" for none), installed mark, tally hash ("" for none), one per guard,
#       one per replayed command.
# ARGV: job id, marker ttl, installed ("check" | "verified" | "skip"), mark ttl, tally field prefix
#       ("" for none), guard count, then (rule, value, ttl) per guard, then (argc, name, args...) per command.
# Either marker standing makes the delivery a duplicate: the webhook id catches Shopify's own
# retries, the body marker a signed body re-sent under fresh (unsigned) headers.
# Writes happen only once every check passed, and the markers go last: a command failing
# half-way leaves no marker, so Shopify's retry enqueues again instead of being taken as a duplicate.
_SCRIPT = """
local marker, body, mark, tally = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local job_id, marker_ttl, installed, mark_ttl, prefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local guards = tonumber(ARGV[6])
local function count(result)
  if prefix ~= '' then redis.call('HINCRBY', tally, prefix .. result, 1) end
end
local function remember(passed)
  for _, p in ipairs(passed) do redis.call('SET', p[1], p[2], 'EX', p[3]) end
end
if installed == 'check' and redis.call('EXISTS', mark) == 0 then return {'unverified'} end
if installed == 'verified' then redis.call('SET', mark, '1', 'EX', mark_ttl) end
if redis.call('EXISTS', marker) == 1 or (body ~= '' and redis.call('EXISTS', body) == 1) then
  count('duplicate'); return {'duplicate'}
end
local a, passed = 7, {}
for i = 1, guards do
  local rule, value, ttl = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  local key = KEYS[4 + i]
  local stored = redis.call('GET', key)
  local blocked = false
  if stored then
    if rule == 'differs' then
      blocked = stored == value
    elseif rule == 'not_older' then
      local newest = tonumber(stored)
      blocked = newest ~= nil and tonumber(value) < newest
    elseif rule == 'newer' then
      -- Integers (epoch microseconds) stay exact in Lua's doubles up to 2^53.
      local newest = tonumber(stored)
      blocked = newest ~= nil and tonumber(value) <= newest
    else
      return redis.error_reply('unknown guard rule ' .. rule)
    end
  end
  if blocked then
    -- Guards that passed still remember this delivery: e.g. a newer update that changed nothing
    -- moves "newest seen" on, so an older crossed delivery arriving later is refused as stale.
    remember(passed)
    count('guarded')
    return {'guarded', tostring(i), stored}
  end
  passed[#passed + 1] = {key, value, ttl}
  a = a + 3
end
local k = 4 + guards
while a <= #ARGV do
  local argc = tonumber(ARGV[a])
  k = k + 1
  local command = {ARGV[a + 1], KEYS[k]}
  for j = 1, argc do command[#command + 1] = ARGV[a + 1 + j] end
  redis.call(unpack(command))
  a = a + 2 + argc
end
remember(passed)
redis.call('SET', marker, job_id, 'EX', marker_ttl)
if body ~= '' then redis.call('SET', body, job_id, 'EX', marker_ttl) end
count('enqueued')
return {'enqueued'}
"""
# Bytes, so no client is needed to hash it; redis-py sends EVALSHA and loads it again after NOSCRIPT.
_ENQUEUE_SCRIPT = Script(None, _SCRIPT.encode())  # type: ignore[arg-type]  # the client comes with each call


class EnqueueOutcome(enum.Enum):
    """What happened to a delivery at the queue."""

    ENQUEUED = "enqueued"
    DUPLICATE = "duplicate"
    GUARDED = "guarded"  # a guard (e.g. unchanged fingerprint) said no job is needed
    UNVERIFIED = "unverified"  # the shop's installed mark is missing: check the database, then call again


class InstalledCheck(enum.Enum):
    """How the script treats the shop's installed mark."""

    CHECK = "check"  # answer UNVERIFIED when the mark is missing
    VERIFIED = "verified"  # the caller just read the database: set the mark, go ahead
    SKIP = "skip"  # the topic does not need an installed shop


@dataclass(frozen=True)
class Tally:
    """A Redis hash field prefix the script counts each outcome under (the outcome name is appended)."""

    key: str
    field_prefix: str


def dedupe_key(delivery: Delivery) -> str:
    """The Redis key remembering (topic, webhook id)."""
    return f"{DEDUPE_KEY_PREFIX}{delivery.topic}:{delivery.webhook_id}"


def body_dedupe_key(delivery: Delivery) -> str | None:
    """The Redis key remembering (shop, topic, signed body), or None when the delivery has no body digest."""
    if not delivery.body_digest:
        return None
    return f"{BODY_DEDUPE_KEY_PREFIX}{delivery.shop}:{delivery.topic}:{delivery.body_digest}"


def enqueue_once(
    connection: redis.Redis,
    queue: Queue,
    delivery: Delivery,
    request: JobRequest,
    *,
    dedupe_ttl: int,
    job_options: dict,
    installed: InstalledCheck = InstalledCheck.SKIP,
    tally: Tally | None = None,
) -> tuple[EnqueueOutcome, str | None]:
    """Enqueue request unless this delivery was seen before or a guard blocks it, in one round trip.

    Seen before: the same topic and webhook id, or the same shop, topic and signed body under any
    webhook id (Shopify signs only the body, so a replay can carry any headers it likes).

    Returns the outcome and the job id (or the blocking guard's reason). Redis errors propagate:
    the caller answers 503 so Shopify delivers again; nothing was acknowledged, nothing is lost.
    """
    job_id = str(uuid.uuid4())
    commands = _job_writes(queue, delivery, request, job_id, job_options)
    guards = request.guards
    keys = [
        dedupe_key(delivery),
        body_dedupe_key(delivery) or "",
        installed_key(delivery.shop),
        tally.key if tally else "",
        *(guard.key for guard in guards),
        *(command[1] for command in commands),
    ]
    args: list = [job_id, dedupe_ttl, installed.value, INSTALLED_MARK_TTL, tally.field_prefix if tally else "", len(guards)]
    for guard in guards:
        args += [guard.rule.value, guard.value, guard.ttl]
    for name, _key, *rest in commands:
        args += [len(rest), name, *rest]
    reply = _ENQUEUE_SCRIPT(keys=keys, args=args, client=connection)
    outcome = EnqueueOutcome(_text(reply[0]))
    if outcome is EnqueueOutcome.GUARDED:
        return outcome, guards[int(reply[1]) - 1].reason(_text(reply[2]))
    return outcome, job_id if outcome is EnqueueOutcome.ENQUEUED else None


def _job_writes(queue: Queue, delivery: Delivery, request: JobRequest, job_id: str, job_options: dict) -> list[tuple]:
    """The Redis writes RQ makes to enqueue the job (recorded, never executed), into the store's lane."""
    # Into the store's lane rather than onto the queue's one list: one store's burst waits its turns.
    _, commands = lane_writes(
        queue,
        delivery.shop,
        lambda recorder: queue.enqueue_call(
            request.func,
            kwargs=request.kwargs,
            job_id=job_id,
            pipeline=recorder,
            description=f"{delivery.topic} {delivery.shop} {request.kwargs.get('order_id', '')}".strip(),
            **job_options,
        ),
    )
    for command in commands:
        if str(command[0]).upper() not in _REPLAYABLE or len(command) < 2:
            raise RuntimeError(f"RQ's enqueue issued {command[0]!r}, which the enqueue script cannot replay")
    return commands


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
