"""All the app's RQ queues seen as one, for tests that count or list jobs wherever their urgency put them."""

from __future__ import annotations

import redis
from rq.job import Job

from jobs.queueing import make_queues, queue_for


class AllRegistries:
    """One kind of registry (failed, finished, …) over every queue: counts and ids added up."""

    def __init__(self, registries: list):
        self._registries = registries

    @property
    def count(self) -> int:
        """Jobs in this registry of every queue."""
        return sum(registry.count for registry in self._registries)

    def get_job_ids(self, *args, **kwargs) -> list[str]:
        """Their ids, queue by queue (most urgent first)."""
        return [job_id for registry in self._registries for job_id in registry.get_job_ids(*args, **kwargs)]

    def requeue(self, job_id: str) -> None:
        """Requeue the job from whichever registry holds it."""
        for registry in self._registries:
            if job_id in registry:
                registry.requeue(job_id)
                return
        raise KeyError(job_id)


class AllQueues:
    """The app's queues as one: what a test sees of the jobs, whichever queue their urgency chose."""

    def __init__(self, connection: redis.Redis):
        self.connection = connection
        self.queues = make_queues(connection)

    @property
    def count(self) -> int:
        """Jobs waiting on every queue."""
        return sum(queue.count for queue in self.queues)

    @property
    def jobs(self) -> list[Job]:
        """The waiting jobs, queue by queue (most urgent first), each in its queue's order."""
        return [job for queue in self.queues for job in queue.jobs]

    @property
    def job_ids(self) -> list[str]:
        """The waiting jobs' ids."""
        return [job_id for queue in self.queues for job_id in queue.job_ids]

    def fetch_job(self, job_id: str) -> Job | None:
        """A job by id, wherever it is."""
        return self.queues[0].fetch_job(job_id)

    def enqueue_call(self, func: str, *args, **kwargs) -> Job:
        """Enqueue on the queue the app would choose for this function."""
        return queue_for(self.connection, func).enqueue_call(func, *args, **kwargs)

    def enqueue_in(self, delay, func: str, *args, **kwargs) -> Job:
        """Schedule on the queue the app would choose for this function."""
        return queue_for(self.connection, func).enqueue_in(delay, func, *args, **kwargs)

    def remove(self, job: Job) -> None:
        """Take the job off the queue it waits on."""
        for queue in self.queues:
            queue.remove(job)

    def _registries(self, kind: str) -> AllRegistries:
        return AllRegistries([getattr(queue, kind) for queue in self.queues])

    @property
    def failed_job_registry(self) -> AllRegistries:
        """Failed jobs of every queue."""
        return self._registries("failed_job_registry")

    @property
    def finished_job_registry(self) -> AllRegistries:
        """Finished jobs of every queue."""
        return self._registries("finished_job_registry")

    @property
    def started_job_registry(self) -> AllRegistries:
        """Running jobs of every queue."""
        return self._registries("started_job_registry")

    @property
    def scheduled_job_registry(self) -> AllRegistries:
        """Jobs waiting for a retry, of every queue."""
        return self._registries("scheduled_job_registry")
