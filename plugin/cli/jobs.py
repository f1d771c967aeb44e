"""`flask --app plugin jobs failed [--requeue ID | --all]`: list and requeue jobs that failed for good."""

from __future__ import annotations

import click
import redis
from flask.cli import AppGroup
from rq.exceptions import InvalidJobOperation, NoSuchJobError

from jobs.failed_jobs import failed_job_ids, failed_jobs, requeue_failed
from plugin.cli.activity import format_table
from plugin.services import get_services

jobs_cli = AppGroup("jobs", help="Inspect and requeue background jobs.")
COLUMNS = ("job id", "failed at (UTC)", "job", "shop", "store order", "error")


def failed_job_rows(connection: redis.Redis) -> list[tuple[str, ...]]:
    """One table row per failed job still in a registry, oldest first."""
    return [
        (
            job.id,
            job.ended_at.strftime("%Y-%m-%d %H:%M:%S") if job.ended_at else "-",
            job.job,
            job.shop or "-",
            job.order_id or "-",
            job.error,
        )
        for job in failed_jobs(connection)
    ]


@jobs_cli.command("failed")
@click.option("--requeue", "requeue_id", metavar="ID", help="Put the failed job ID back on its queue.")
@click.option("--all", "requeue_all", is_flag=True, help="Put every failed job back on its queue.")
def jobs_failed(requeue_id: str | None, requeue_all: bool) -> None:
    """List jobs that failed for good (kept 7 days), or requeue them once the cause is fixed."""
    if requeue_id and requeue_all:
        raise click.UsageError("use --requeue ID or --all, not both")
    connection = get_services().redis
    if requeue_id:
        try:
            requeued_one = requeue_failed(connection, requeue_id.strip())
        except (NoSuchJobError, InvalidJobOperation):
            requeued_one = False
        if not requeued_one:
            raise click.ClickException(f"{requeue_id} is not a failed job (see `flask --app plugin jobs failed`)")
        click.echo(f"requeued {requeue_id.strip()}")
        return
    if requeue_all:
        requeued = 0
        for job_id in failed_job_ids(connection):
            try:
                requeued += requeue_failed(connection, job_id)
            except (NoSuchJobError, InvalidJobOperation):
                continue  # expired or requeued by someone else meanwhile
        click.echo(f"requeued {requeued} failed job{'s' if requeued != 1 else ''}")
        return
    rows = failed_job_rows(connection)
    if not rows:
        click.echo("no failed jobs")
        return
    click.echo(format_table(COLUMNS, rows))
    click.echo("Requeue one with --requeue ID, or all with --all, once the cause is fixed.")
