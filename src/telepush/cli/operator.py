"""The operator's commands: bulk replays with a progress bar, tasks, endpoint health, pausing.

Like the other data commands they work on the store directly, with or without a running
server: a replay started here is run here, chunk by chunk, while the bar moves.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from telepush.api.console_schemas import EndpointOut, TaskOut
from telepush.cli.common import console, fail, root
from telepush.cli.data import deliveries, with_ops
from telepush.console import Endpoints, Replays
from telepush.domain.health import EndpointHealth
from telepush.domain.tasks import Task, TaskStatus
from telepush.operations import Operations

tasks = typer.Typer(help="Bulk replay tasks and their progress.", no_args_is_help=True)
endpoints = typer.Typer(
    help="Customer endpoints: health, circuit breaker, pause and resume.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(tasks, name="tasks")
    app.add_typer(endpoints, name="endpoints")


def _instant(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--{name}: '{value}' is not an ISO-8601 instant (e.g. 2026-11-25T00:00:00Z)")
    if at.utcoffset() is None:
        fail(f"--{name}: give a time zone (e.g. 2026-11-25T00:00:00Z)")
    return at


@deliveries.command("retry-failed")
def deliveries_retry_failed(
    ctx: typer.Context,
    customer_id: Annotated[str, typer.Argument(help="Customer id.")],
    service: Annotated[str, typer.Argument(help="The service whose failures to replay.")],
    since: Annotated[
        str | None, typer.Option("--from", help="Only failed at or after this ISO-8601 instant.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="Only failed before this ISO-8601 instant.")
    ] = None,
    chunk: Annotated[int, typer.Option(help="Deliveries re-queued per transaction.", min=1)] = 500,
) -> None:
    """Put every failed delivery of CUSTOMER_ID's SERVICE back in the queue, with progress.

    Each gets one more attempt: if it fails again it ends failed, without a new round of
    retries. Refused while another replay of the same service runs (see `telepush tasks`)."""
    failed_from, failed_to = _instant(since, "from"), _instant(until, "to")

    async def _go(ops: Operations) -> Task:
        replays = Replays(ops, chunk=chunk)
        task = await replays.start(
            customer_id, service, failed_from=failed_from, failed_to=failed_to
        )
        console.print(f"task {task.task_id}: {task.nb_items} failed deliveries to re-queue")
        with Progress(
            TextColumn("re-queueing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as bar:
            job = bar.add_task("re-queue", total=max(task.nb_items, 1))
            bar.update(job, completed=0 if task.nb_items else 1)

            def step(t: Task) -> None:
                bar.update(job, completed=t.nb_done + t.nb_skipped)

            return await replays.run(task, step)

    task = with_ops(root(ctx).settings(), _go)
    skipped = f", {task.nb_skipped} skipped (no longer failed)" if task.nb_skipped else ""
    console.print(f"task {task.task_id} {task.status}: {task.nb_done} re-queued{skipped}")


@tasks.command("list")
def tasks_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="How many.", min=1, max=200)] = 20,
) -> None:
    """Replay tasks, newest first."""
    found = with_ops(root(ctx).settings(), lambda ops: Replays(ops).list(limit))
    table = Table("taskId", "customer", "service", "status", "items", "done", "skipped", "created")
    for t in found:
        table.add_row(
            t.task_id,
            t.customer_id,
            t.service,
            _status(t.status),
            str(t.nb_items),
            str(t.nb_done),
            str(t.nb_skipped),
            t.created_at.isoformat(timespec="seconds"),
        )
    console.print(table)


@tasks.command("show")
def tasks_show(ctx: typer.Context, task_id: str) -> None:
    """One task and its progress (JSON, as GET /v1/tasks/{taskId})."""
    task = with_ops(root(ctx).settings(), lambda ops: Replays(ops).get(task_id))
    print(TaskOut.of(task).model_dump_json(by_alias=True, indent=2))


def _status(status: TaskStatus) -> str:
    colour = {TaskStatus.RUNNING: "yellow", TaskStatus.DONE: "green"}.get(status, "red")
    return f"[{colour}]{status}[/{colour}]"


@endpoints.command("list")
def endpoints_list(
    ctx: typer.Context,
    customer: Annotated[str | None, typer.Option(help="Only this customer.")] = None,
    window: Annotated[
        int, typer.Option(help="Minutes of history for rates and latency.", min=1)
    ] = 60,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines, for scripts.")] = False,
) -> None:
    """Health of every endpoint: breaker state, failure streak, failure rate, latency."""
    found = with_ops(
        root(ctx).settings(),
        lambda ops: Endpoints(ops).health(window_minutes=window, customer_id=customer),
    )
    if as_json:
        for e in found:
            print(EndpointOut.of(e).model_dump_json(by_alias=True))
        return
    table = Table(
        "customer", "service", "state", "streak", "last success", "failure rate",
        "p50/p95/p99 ms", "pending",
        title=f"last {window} min",
    )  # fmt: skip
    for e in found:
        rate = e.failure_rate
        table.add_row(
            e.customer_id,
            e.service,
            _state(e),
            str(e.consecutive_failures),
            e.last_success_at.isoformat(timespec="seconds") if e.last_success_at else "never",
            "" if rate is None else f"{rate:.1%}",
            "/".join("-" if v is None else str(v) for v in _latency(e)),
            str(e.pending),
        )
    console.print(table)


def _latency(e: EndpointHealth) -> tuple[int | None, int | None, int | None]:
    return e.latency_p50_ms, e.latency_p95_ms, e.latency_p99_ms


def _state(e: EndpointHealth) -> str:
    if e.paused is None:
        return "[green]running[/green]" if e.enabled else "[dim]disabled[/dim]"
    return f"[red]paused ({e.paused})[/red]"


@endpoints.command("pause")
def endpoints_pause(ctx: typer.Context, customer_id: str, service: str) -> None:
    """Pause an endpoint: its deliveries wait in the queue, spending no attempts."""
    e = with_ops(
        root(ctx).settings(), lambda ops: Endpoints(ops).set_paused(customer_id, service, True)
    )
    console.print(f"{e.customer_id}/{e.service}: paused; {e.pending} pending wait")


@endpoints.command("resume")
def endpoints_resume(ctx: typer.Context, customer_id: str, service: str) -> None:
    """Resume a paused endpoint (paused by hand or by the breaker); its backlog drains."""
    e = with_ops(
        root(ctx).settings(), lambda ops: Endpoints(ops).set_paused(customer_id, service, False)
    )
    console.print(f"{e.customer_id}/{e.service}: running; {e.pending} pending to send")
