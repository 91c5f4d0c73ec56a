"""``telepush``: serve, work, migrate, and manage customers and deliveries."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from telepush import __version__
from telepush.cli import data, demo, maintenance, operator, processes, receiver
from telepush.cli.common import Root, console

app = typer.Typer(
    name="telepush",
    help="Push telematics data (trips, deletions, crashes, crash reports, diagnoses) to "
    "customers' HTTPS endpoints — securely, quickly, never lost.\n\n"
    "Settings come from flags, then TELEPUSH_* environment variables, then the TOML file "
    "given with --config (or TELEPUSH_CONFIG), then defaults; see telepush.example.toml.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        console.print(f"telepush {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="TOML settings file (or TELEPUSH_CONFIG).", show_default=False
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Data directory: SQLite file, generated API token and secret key "
            "(TELEPUSH_DATA_DIR; default ~/.local/share/telepush).",
            show_default=False,
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            help="sqlite:///path (default: telepush.db in the data directory) "
            "(TELEPUSH_DATABASE_URL).",
            show_default=False,
        ),
    ] = None,
    log_level: Annotated[
        str | None,
        typer.Option(
            help="debug, info, warning or error (TELEPUSH_LOG_LEVEL).", show_default=False
        ),
    ] = None,
    log_json: Annotated[
        bool | None,
        typer.Option(
            "--log-json/--log-text",
            help="One JSON object per log line (TELEPUSH_LOG_JSON).",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    ctx.obj = Root(
        config=config,
        flags={
            "data_dir": data_dir,
            "database_url": database_url,
            "log_level": log_level,
            "log_json": log_json,
        },
    )


processes.register(app)
data.register(app)
operator.register(app)
maintenance.register(app)
receiver.register(app)
demo.register(app)


def main() -> None:
    app()
