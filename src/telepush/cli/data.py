"""Commands on the store: customers, push, deliveries. They work without a running server."""

from __future__ import annotations

import json
import sys
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from telepush.api.schemas import DeliveryOut
from telepush.cli.common import console, fail, root, run
from telepush.cli.push import push_file
from telepush.config import Settings
from telepush.operations import Operations
from telepush.runtime import opened_store

T = TypeVar("T")
customers = typer.Typer(
    help="Configure customers: where and how their data is pushed.", no_args_is_help=True
)
deliveries = typer.Typer(help="Inspect and replay deliveries.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(customers, name="customers")
    app.add_typer(deliveries, name="deliveries")
    app.command("push")(push)


def with_ops(settings: Settings, action: Callable[[Operations], Awaitable[T]]) -> T:
    async def _go() -> T:
        async with opened_store(settings, migrate=True) as store:
            return await action(Operations(store, max_body_bytes=settings.max_body_bytes))

    return run(_go())


def load_customer_file(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """Customers from a JSON or TOML file: one object with ``customerId``, or ``customers``."""
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        fail(f"{path} is not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: {exc}")
    items = data.get("customers", [data]) if isinstance(data, dict) else data
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        fail(f'{path}: expected a customer object or {{"customers": [...]}}')
    out = []
    for i, item in enumerate(items):
        item = dict(item)
        customer_id = item.pop("customerId", None)
        if not isinstance(customer_id, str):
            fail(f"{path}: customer #{i + 1} has no 'customerId'")
        out.append((customer_id, item))
    return out


@customers.command("apply")
def customers_apply(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="JSON or TOML file ('-' for JSON on stdin).")],
) -> None:
    """Create or replace the customers described in FILE (validated before anything is saved)."""
    settings = root(ctx).settings()
    entries = load_customer_file(file)

    async def _apply(ops: Operations) -> None:
        from telepush.domain.customer import CustomerConfig, check_customer_id

        for customer_id, body in entries:  # validate all first: all or nothing
            check_customer_id(customer_id)
            CustomerConfig.parse(body)
        for customer_id, body in entries:
            customer, created = await ops.put_customer(customer_id, body)
            verb = "created" if created else f"updated (revision {customer.revision})"
            console.print(f"{customer_id}: {verb}; services: {', '.join(customer.config.services)}")

    with_ops(settings, _apply)


@customers.command("list")
def customers_list(ctx: typer.Context) -> None:
    """List configured customers."""
    found = with_ops(root(ctx).settings(), lambda ops: ops.list_customers())
    table = Table("customerId", "name", "auth", "services", "accepted", "revision")
    for c in found:
        table.add_row(
            c.customer_id,
            c.config.name,
            c.config.auth.type,
            ", ".join(c.config.services),
            c.config.accepted_status,
            str(c.revision),
        )
    console.print(table)


@customers.command("show")
def customers_show(ctx: typer.Context, customer_id: str) -> None:
    """Show one customer's configuration (secrets are never shown)."""
    found = with_ops(root(ctx).settings(), lambda ops: ops.get_customer(customer_id))
    console.print_json(data=found.public())


def push(
    ctx: typer.Context,
    customer_id: Annotated[str, typer.Argument(help="Customer id.")],
    service: Annotated[
        str, typer.Argument(help="trip, deleted-trip, crash, crash-report or diagnosis.")
    ],
    file: Annotated[
        Path, typer.Argument(help="A JSON document, a JSON array or NDJSON; '-' reads stdin.")
    ],
    chunk: Annotated[int, typer.Option(help="Documents per transaction.", min=1)] = 500,
) -> None:
    """Queue documents from FILE for CUSTOMER_ID's SERVICE, with a progress bar."""
    settings = root(ctx).settings()
    summary = with_ops(settings, lambda ops: push_file(ops, customer_id, service, file, chunk))
    if summary.rejected:
        raise typer.Exit(1)


@deliveries.command("list")
def deliveries_list(
    ctx: typer.Context,
    customer: Annotated[str | None, typer.Option(help="Only this customer.")] = None,
    service: Annotated[str | None, typer.Option(help="Only this service.")] = None,
    status: Annotated[
        str | None, typer.Option(help="pending, sending, delivered, failed or superseded.")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many.", min=1, max=1000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines, for scripts.")] = False,
) -> None:
    """List deliveries, newest first."""
    page = with_ops(
        root(ctx).settings(),
        lambda ops: ops.list_deliveries(
            customer_id=customer, service=service, status=status, limit=limit
        ),
    )
    if as_json:
        for d in page.items:
            print(DeliveryOut.of(d, with_attempts=False).model_dump_json(by_alias=True))
        return
    table = Table(
        "deliveryId", "customer", "service", "key", "status", "attempts", "created", "next attempt"
    )
    for d in page.items:
        table.add_row(
            d.delivery_id,
            d.customer_id,
            d.service,
            d.key or "",
            str(d.status),
            str(d.attempt_count),
            d.created_at.isoformat(timespec="seconds"),
            d.next_attempt_at.isoformat(timespec="seconds") if d.next_attempt_at else "",
        )
    console.print(table)


@deliveries.command("show")
def deliveries_show(
    ctx: typer.Context,
    delivery_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="JSON, for scripts.")] = False,
) -> None:
    """Show one delivery and every attempt."""
    d = with_ops(root(ctx).settings(), lambda ops: ops.get_delivery(delivery_id))
    if as_json:
        print(DeliveryOut.of(d, with_attempts=True).model_dump_json(by_alias=True, indent=2))
        return
    console.print(
        f"[bold]{d.delivery_id}[/bold]  {d.customer_id}/{d.service}  key={d.key}  "
        f"status=[bold]{d.status}[/bold]  created={d.created_at.isoformat()}"
    )
    if d.next_attempt_at:
        console.print(f"next attempt at {d.next_attempt_at.isoformat()}")
    table = Table("#", "at", "status code", "error", "ms", "response / detail")
    for a in d.attempts:
        table.add_row(
            str(a.number),
            a.at.isoformat(timespec="seconds"),
            str(a.status_code or ""),
            str(a.error or ""),
            str(a.duration_ms),
            (a.response or a.detail or "")[:80],
        )
    console.print(table)


@deliveries.command("retry")
def deliveries_retry(ctx: typer.Context, delivery_id: str) -> None:
    """Put a failed delivery back in the queue."""
    d = with_ops(root(ctx).settings(), lambda ops: ops.retry_delivery(delivery_id))
    console.print(f"{d.delivery_id}: {d.status}")
