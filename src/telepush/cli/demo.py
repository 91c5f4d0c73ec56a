"""``telepush demo``: the whole product on this machine in about a minute."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from telepush.cli.common import console, err_console, root, run
from telepush.demo import DemoOptions, check_port, demo_settings, prepare_workspace, run_demo
from telepush.demo.view import RichView
from telepush.errors import TelepushError

DEFAULT_SEED = 2025


DEMO_HELP = "\n\n".join(
    [
        "Run a complete demo on this machine: nothing else to install, nothing leaves "
        "127.0.0.1. It takes well under a minute with the defaults.",
        "[bold]What happens[/bold]",
        "1. A receiver kit (the customer's side) starts over HTTPS on a free port, with its "
        "own development CA (trusted by the demo's telepush only) and an OAuth2 token endpoint "
        "with a generated client id and secret.",
        "2. telepush starts (API + worker) on a SQLite file in the demo directory, with an API "
        "token generated there (api-token, mode 0600).",
        "3. A customer, demo-fleet, is configured over the HTTP API: OAuth2 (with an extra "
        "header and query parameter on token requests), all five services, retries after 2 s, "
        "3 s, then every 5 s.",
        "4. Seeded synthetic events go through the API: --events trips in batches, a crash, a "
        "crash report, three diagnoses (one empty) and two trip deletions - one arrives while "
        "its trip is still failing (the trip is superseded, never sent again), one follows a "
        "trip already delivered.",
        "5. The receiver is scripted to fail: the trip endpoint is down for a few seconds and "
        "the crash-report endpoint answers 503 three times; those deliveries are retried until "
        "delivered.",
        "6. Live progress of the deliveries by status, then a summary: delivered, retried "
        "(delivered after more than one attempt), superseded, failed; what the receiver "
        "stored; where to look next (API URL, token file, database, curl and CLI commands). "
        'The last line, "summary: delivered=... retried=... superseded=... failed=...", is '
        "for scripts.",
        "[bold]Exit codes[/bold]: 0 every delivery final and none failed; 1 timed out or some "
        "failed; 2 the demo could not start (port in use, unusable directory); 130 "
        "interrupted.",
    ]
)


def register(app: typer.Typer) -> None:
    app.command(help=DEMO_HELP, short_help="Run a one-minute demo with a local receiver kit.")(demo)


def demo(
    ctx: typer.Context,
    directory: Annotated[
        Path,
        typer.Option(
            "--dir",
            help="Demo directory, created if missing. Reused across runs, but every run "
            "starts from empty databases (telepush.db and receiver.db there are deleted); "
            "the API token, secret key and demo certificates are kept. A non-empty directory "
            "not made by the demo is refused.",
        ),
    ] = Path("telepush-demo"),
    events: Annotated[
        int,
        typer.Option(
            min=2,
            help="Trips to push (each with raw sensor tables: mostly 20-100 KB, one in 40 "
            "of 300 KB-1 MB); the crash, crash report, diagnoses and deletions come on top.",
        ),
    ] = 200,
    seed: Annotated[
        int, typer.Option(help="Seed of the synthetic data: the same seed, the same documents.")
    ] = DEFAULT_SEED,
    port: Annotated[
        int,
        typer.Option(min=0, max=65535, help="Port of telepush's API on 127.0.0.1 (0: a free one)."),
    ] = 0,
    timeout: Annotated[
        float,
        typer.Option(
            min=1, help="Seconds to wait for every delivery to be final; then exit code 1."
        ),
    ] = 120.0,
    keep_running: Annotated[
        bool,
        typer.Option(
            "--keep-running",
            help="After the summary, leave telepush and the receiver up to explore them, "
            "until Ctrl-C (SIGINT) or SIGTERM.",
        ),
    ] = False,
) -> None:
    """Run the demo (see ``DEMO_HELP``)."""
    try:
        check_port(port)
        workspace = prepare_workspace(directory)
    except TelepushError as exc:
        err_console.print(f"[red]error:[/red] {escape(exc.message)}", soft_wrap=True)
        raise typer.Exit(2) from None
    flags = demo_settings(workspace, port)
    if root(ctx).flags.get("log_level") is None:
        flags["log_level"] = "warning"  # the live display, not log lines
    settings = root(ctx).settings(**flags)
    options = DemoOptions(events=events, seed=seed, timeout_s=timeout, keep_running=keep_running)
    console.print(f"[bold]telepush demo[/bold] in {workspace.root} (seed {seed})")
    code = run(run_demo(settings, workspace, options, RichView(console)))
    if keep_running:
        console.print("telepush and the receiver kit stopped")
    raise typer.Exit(code)
