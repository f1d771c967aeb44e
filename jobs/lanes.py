"""Fair turns between stores: each store's waiting jobs form a lane, and workers serve the lanes round-robin.

RQ keeps one FIFO list per queue, so a store that cancels 2,000 orders at once puts every other
store's cancellations behind its own. Here a job for a store waits in its store's lane
(`print-mirror:lane:<shop>:<queue>`, a list) instead, and each queue keeps a ring of the stores
with waiting jobs (`print-mirror:lanes:<queue>`, a sorted set scored by when the store was last
served). A worker takes the next job of the store served longest ago; a store that just became
active scores 0 and goes first. One store's burst therefore delays another store's job by at most
one job per busy store, whatever the burst's size.

Queues keep their urgency: a worker empties the lanes of a more urgent queue before it looks at
a less urgent one. Jobs RQ itself puts back on a queue's list (retries due, abandoned jobs, an
operator's requeue) are taken first within their queue: they are older work.

Invariant, kept by doing every push and pop in one Redis script: a store is in the ring while its
lane holds jobs. A pop that finds a lane empty (erased by shop/redact) drops the store from the
ring, so the ring heals itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import redis
from redis.commands.core import Script
from rq import Queue
from rq.exceptions import DequeueTimeout

from plugin.store import keys

# A doorbell each lane push rings, so an idle worker blocked on it wakes at once. Trimmed: while
# every worker is busy the bells only pile up into a few spurious wake-ups.
DOORBELL_KEY = keys.LANE_DOORBELL.key()
DOORBELL_LENGTH = 16
# Counts turns, so the ring's scores say which store was served longest ago.
TURN_KEY = keys.LANE_TURN.key()


def lane_key(shop: str, queue_name: str) -> str:
    """The list of a store's jobs waiting on one queue."""
    return keys.LANE.key(shop, queue_name)


def ring_key(queue_name: str) -> str:
    """The stores with jobs waiting on one queue, scored by their last turn."""
    return keys.LANE_RING.key(queue_name)


def lane_pushes(shop: str, queue_name: str, job_id: str) -> list[tuple]:
    """The single-key Redis writes that put a job in its store's lane and wake a worker, as (command, key, args...)."""
    return [
        ("RPUSH", lane_key(shop, queue_name), job_id),
        # NX: a store already waiting keeps its turn; a newly active one (score 0) goes first.
        ("ZADD", ring_key(queue_name), "NX", 0, shop),
        ("LPUSH", DOORBELL_KEY, 1),
        ("LTRIM", DOORBELL_KEY, 0, DOORBELL_LENGTH - 1),
    ]


def into_lane(commands: Sequence[tuple], queue_key: str, queue_name: str, shop: str) -> list[tuple]:
    """RQ's recorded enqueue writes with its push onto the queue's list replaced by the lane's writes."""
    routed: list[tuple] = []
    pushed = False
    for command in commands:
        name = str(command[0]).upper()
        if name in ("RPUSH", "LPUSH") and _text(command[1]) == queue_key:
            routed.extend(lane_pushes(shop, queue_name, _text(command[2])))
            pushed = True
        else:
            routed.append(tuple(command))
    if not pushed:
        raise RuntimeError(f"RQ's enqueue did not push onto {queue_key}; cannot route the job into a lane")
    return routed


def lane_writes(queue, shop: str | None, enqueue: Callable):
    """(enqueue(recorder)'s result, the Redis writes RQ made for it), recorded on a pipeline that is never
    executed, its push onto the queue routed into the store's lane (shop None: left on RQ's list)."""
    with queue.connection.pipeline(transaction=False) as recorder:
        result = enqueue(recorder)
        commands = [args for args, _options in recorder.command_stack]
        recorder.reset()
    return result, commands if shop is None else into_lane(commands, queue.key, queue.name, shop)


def enqueue_in_lane(queue, shop: str, func: str, **options):
    """Enqueue like queue.enqueue_call, but into the store's lane; one transaction."""
    job, commands = lane_writes(queue, shop, lambda recorder: queue.enqueue_call(func, pipeline=recorder, **options))
    with queue.connection.pipeline(transaction=True) as pipe:
        for name, key, *args in commands:
            pipe.execute_command(name, key, *args)
        pipe.execute()
    return job


def requeue_from(queue, job, shop: str | None, waiting_key: str, client=None):
    """Move a job from the sorted set it waits in (RQ's scheduled registry) onto the queue, its store's lane when
    shop is given: one script, so of two workers one moves it, and a worker killed midway moves it whole or not at all.

    False: the job was no longer in waiting_key (another worker moved it, or it never got there).
    client: a pipeline to queue the move on (its execute() answers 1 or 0 for it); default: at once.
    """
    _, commands = lane_writes(queue, shop, lambda recorder: queue.enqueue_job(job, pipeline=recorder))
    keys_: list[str] = [waiting_key]
    args: list = [job.id]
    for name, key, *rest in commands:
        keys_.append(_text(key))
        args += [len(rest), name, *rest]
    moved = _MOVE_SCRIPT(keys=keys_, args=args, client=client if client is not None else queue.connection)
    return moved if client is not None else bool(moved)


# KEYS[1]: the sorted set the job leaves, then the key of each write. ARGV[1]: the job id, then per
# write its argument count, its name and its arguments (the writes RQ recorded for the enqueue).
_MOVE = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
local a, k = 2, 2
while a <= #ARGV do
  local argc = tonumber(ARGV[a])
  local command = {ARGV[a + 1], KEYS[k]}
  for j = 1, argc do command[#command + 1] = ARGV[a + 1 + j] end
  redis.call(unpack(command))
  a, k = a + 2 + argc, k + 1
end
return 1
"""
_MOVE_SCRIPT = Script(None, _MOVE.encode())  # type: ignore[arg-type]  # the client comes with each call

# KEYS: none (each key is built from the arguments, as RQ's own scripts do: lanes are per store).
# ARGV: turn key, lane key prefix, then (queue key, queue name, ring key) per queue, most urgent first.
# Returns {queue key, job id} or false when nothing waits anywhere.
_TAKE = """
local turn_key, lane_prefix = ARGV[1], ARGV[2]
for i = 3, #ARGV, 3 do
  local queue_key, queue_name, ring = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local id = redis.call('LPOP', queue_key)
  if id then return {queue_key, id} end
  while true do
    local head = redis.call('ZRANGE', ring, 0, 0)
    if #head == 0 then break end
    local shop = head[1]
    local lane = lane_prefix .. shop .. ':' .. queue_name
    id = redis.call('LPOP', lane)
    if id then
      if redis.call('LLEN', lane) == 0 then
        redis.call('ZREM', ring, shop)
      else
        redis.call('ZADD', ring, redis.call('INCR', turn_key), shop)
      end
      return {queue_key, id}
    end
    redis.call('ZREM', ring, shop)
  end
end
return false
"""
_TAKE_SCRIPT = Script(None, _TAKE.encode())  # type: ignore[arg-type]  # the client comes with each call


def take(connection: redis.Redis, queue_keys_and_names: Iterable[tuple[str, str]]) -> tuple[str, str] | None:
    """Pop the next job: the most urgent queue with work, RQ's own list first, then the store served longest ago."""
    args: list = [TURN_KEY, keys.LANE.prefix]
    for queue_key, queue_name in queue_keys_and_names:
        args += [queue_key, queue_name, ring_key(queue_name)]
    reply = _TAKE_SCRIPT(keys=[], args=args, client=connection)
    if not reply:
        return None
    return _text(reply[0]), _text(reply[1])


def waiting_shops(connection: redis.Redis, queue_name: str) -> list[str]:
    """The stores with jobs waiting in a lane of this queue, next turn first."""
    return [_text(shop) for shop in connection.zrange(ring_key(queue_name), 0, -1)]


def _per_lane(connection: redis.Redis, queue_name: str, read) -> list:
    """read(pipeline, lane key) for every waiting store's lane of the queue, in one round trip."""
    shops = waiting_shops(connection, queue_name)
    with connection.pipeline(transaction=False) as pipe:
        for shop in shops:
            read(pipe, lane_key(shop, queue_name))
        return pipe.execute()


def queued_in_lanes(connection: redis.Redis, queue_name: str) -> int:
    """Jobs waiting in every store's lane of a queue."""
    return sum(_per_lane(connection, queue_name, lambda pipe, key: pipe.llen(key)))


class LaneQueue(Queue):
    """An RQ queue whose waiting jobs include its lanes, dequeued store by store (the worker's queue class)."""

    @property
    def count(self) -> int:
        """Jobs waiting on RQ's list and in every store's lane."""
        return self.connection.llen(self.key) + queued_in_lanes(self.connection, self.name)

    def get_job_ids(self, offset: int = 0, length: int = -1) -> list[str]:
        """Waiting ids: RQ's list first, then each store's lane whole, next turn first."""
        ids = super().get_job_ids()
        for lane in _per_lane(self.connection, self.name, lambda pipe, key: pipe.lrange(key, 0, -1)):
            ids += [_text(job_id) for job_id in lane]
        if length == 0:
            return []
        return ids[offset:] if length < 0 else ids[offset : offset + length]

    def head_job_ids(self) -> list[str]:
        """The longest-waiting id of RQ's list and of each store's lane: among them is the queue's oldest job."""
        heads = super().get_job_ids(0, 1)
        heads += [
            _text(job_id) for job_id in _per_lane(self.connection, self.name, lambda pipe, key: pipe.lindex(key, 0)) if job_id
        ]
        return heads

    def remove(self, job_or_id, pipeline=None):
        """Take a job off RQ's list or whichever lane it waits in."""
        job_id = job_or_id if isinstance(job_or_id, str) else job_or_id.id
        client = pipeline if pipeline is not None else self.connection
        for shop in waiting_shops(self.connection, self.name):
            client.lrem(lane_key(shop, self.name), 1, job_id)
        return super().remove(job_or_id, pipeline=pipeline)

    @classmethod
    def dequeue_any(cls, queues, timeout, connection, job_class=None, serializer=None, death_penalty_class=None):
        """The next job by urgency, then by store turn; blocks up to timeout (None: not at all) when none waits."""
        queues = list(queues)
        names = {queue.key: queue.name for queue in queues}
        while True:
            taken = take(connection, names.items())
            if taken is None:
                if timeout is None:
                    return None
                # RQ's own lists too: a retry RQ's scheduler puts back rings no bell.
                popped = connection.blpop([DOORBELL_KEY, *names], timeout)
                if popped is None:
                    raise DequeueTimeout(timeout, list(names))
                if _text(popped[0]) == DOORBELL_KEY:
                    continue
                taken = _text(popped[0]), _text(popped[1])
            fetched = cls._fetch_dequeued_job(
                connection,
                taken[0],
                taken[1],
                job_class=job_class,
                serializer=serializer,
                death_penalty_class=death_penalty_class,
            )
            if fetched is not None:
                return fetched


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
