"""`flask --app plugin jobs failed [--requeue ID | --all]`: list and requeue jobs that failed for good."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.registry import FailedJobRegistry

from jobs.failed_jobs import failed_jobs
from jobs.failed_jobs import failed_registry as failed_job_registry
from plugin.cli.activity import format_table
from plugin.services import get_services

jobs_cli = AppGroup("jobs", help="Inspect and requeue background jobs.")
COLUMNS = ("job id", "failed at (UTC)", "job", "shop", "store order", "error")


def failed_registry() -> FailedJobRegistry:
    """The failed-job registry of the app's queue."""
    return failed_job_registry(get_services().redis)


def failed_job_rows(registry: FailedJobRegistry) -> list[tuple[str, ...]]:
    """One table row per failed job still in the registry, oldest first."""
    return [
        (
            job.id,
            job.ended_at.strftime("%Y-%m-%d %H:%M:%S") if job.ended_at else "-",
            job.job,
            job.shop or "-",
            job.order_id or "-",
            job.error,
        )
        for job in failed_jobs(registry.connection)
    ]


@jobs_cli.command("failed")
@click.option("--requeue", "requeue_id", metavar="ID", help="Put the failed job ID back on the queue.")
@click.option("--all", "requeue_all", is_flag=True, help="Put every failed job back on the queue.")
def jobs_failed(requeue_id: str | None, requeue_all: bool) -> None:
    """List jobs that failed for good (kept 7 days), or requeue them once the cause is fixed."""
    if requeue_id and requeue_all:
        raise click.UsageError("use --requeue ID or --all, not both")
    registry = failed_registry()
    if requeue_id:
        try:
            registry.requeue(requeue_id.strip())
        except (NoSuchJobError, InvalidJobOperation) as exc:
            raise click.ClickException(f"{requeue_id} is not a failed job (see `flask --app plugin jobs failed`)") from exc
        click.echo(f"requeued {requeue_id.strip()}")
        return
    if requeue_all:
        requeued = 0
        for job_id in registry.get_job_ids():
            try:
                registry.requeue(job_id)
                requeued += 1
            except (NoSuchJobError, InvalidJobOperation):
                continue  # expired or requeued by someone else meanwhile
        click.echo(f"requeued {requeued} failed job{'s' if requeued != 1 else ''}")
        return
    rows = failed_job_rows(registry)
    if not rows:
        click.echo("no failed jobs")
        return
    click.echo(format_table(COLUMNS, rows))
    click.echo("Requeue one with --requeue ID, or all with --all, once the cause is fixed.")
