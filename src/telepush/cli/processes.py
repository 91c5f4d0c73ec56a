"""Long-running commands: serve, worker, migrate."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from telepush import runtime
from telepush.cli.common import console, root, run
from telepush.gc_tuning import tune_for_long_running


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(worker)
    app.command()(migrate)


@contextlib.contextmanager
def _long_running() -> Iterator[None]:
    """Run the long-running commands on uvloop's event loop where it is installed (a
    dependency everywhere but on Windows): the delivery worker's HTTPS and the API spend
    much of their time in the event loop's own transport and TLS code. The garbage collector
    is set for a long-running process (``gc_tuning``)."""
    tune_for_long_running()
    try:
        import uvloop
    except ImportError:
        yield
        return

    class _UVLoopPolicy(asyncio.DefaultEventLoopPolicy):
        def new_event_loop(self) -> asyncio.AbstractEventLoop:
            return uvloop.new_event_loop()

    previous = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(_UVLoopPolicy())
    try:
        yield
    finally:
        asyncio.set_event_loop_policy(previous)


def _ready(info: runtime.ServeInfo) -> None:
    console.print(f"[green]telepush[/green] API on {info.url}  (OpenAPI: {info.url}/docs)")
    if info.token_file is not None:
        console.print(f"API token: stored in {info.token_file} (mode 0600)")
    console.print(f"database: {info.database_url}")


def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="Listen address (TELEPUSH_HOST).", show_default=False)
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Listen port (TELEPUSH_PORT).", show_default=False)
    ] = None,
    ca_bundle: Annotated[
        Path | None,
        typer.Option(
            help="Extra trusted CAs for customer endpoints, PEM (TELEPUSH_CA_BUNDLE).",
            show_default=False,
        ),
    ] = None,
    allow_private_networks: Annotated[
        bool | None,
        typer.Option(
            "--allow-private-networks/--refuse-private-networks",
            help="Allow destinations on private, loopback or link-local addresses "
            "(TELEPUSH_ALLOW_PRIVATE_NETWORKS; refused by default).",
            show_default=False,
        ),
    ] = None,
    worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="Also deliver in this process.")
    ] = True,
) -> None:
    """Run the HTTP API and a delivery worker in one process (the embedded default).

    Applies pending migrations first. Stops gracefully on SIGTERM/SIGINT: in-flight attempts
    finish (or are released), accepted events stay queued."""
    settings = root(ctx).settings(
        host=host, port=port, ca_bundle=ca_bundle, allow_private_networks=allow_private_networks
    )
    with _long_running():
        run(runtime.serve(settings, run_worker=worker, on_ready=_ready))


def worker(
    ctx: typer.Context,
    ca_bundle: Annotated[
        Path | None,
        typer.Option(help="Extra trusted CAs, PEM (TELEPUSH_CA_BUNDLE).", show_default=False),
    ] = None,
    allow_private_networks: Annotated[
        bool | None,
        typer.Option(
            "--allow-private-networks/--refuse-private-networks",
            help="Allow private/loopback destinations (TELEPUSH_ALLOW_PRIVATE_NETWORKS).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run a delivery worker only (no API), against the configured database."""
    settings = root(ctx).settings(
        ca_bundle=ca_bundle, allow_private_networks=allow_private_networks
    )
    console.print(f"telepush worker on {settings.resolved_database_url}")
    with _long_running():
        run(runtime.serve(settings, run_api=False, migrate=False))


def migrate(ctx: typer.Context) -> None:
    """Create or update the database schema. Safe to run again."""
    settings = root(ctx).settings()

    async def _go() -> list[str]:
        store = runtime.open_store(settings)
        await store.open()
        try:
            return await store.migrate()
        finally:
            await store.close()

    applied = run(_go())
    if applied:
        console.print(f"applied {len(applied)} migration(s): {', '.join(applied)}")
    else:
        console.print("schema is up to date")
