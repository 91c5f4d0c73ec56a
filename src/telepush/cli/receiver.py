"""``telepush receiver``: run the integrator's receiver kit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from telepush.cli.common import fail


def register(app: typer.Typer) -> None:
    app.command()(receiver)


def receiver(
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Listen port (HTTPS).")] = 8443,
    database: Annotated[
        str, typer.Option(help="SQLite file or postgresql:// URL for what is received.")
    ] = "receiver.db",
    auth: Annotated[str, typer.Option(help="oauth2 (token endpoint + bearer) or basic.")] = (
        "oauth2"
    ),
    client_id: Annotated[
        str | None, typer.Option(envvar="RECEIVER_CLIENT_ID", help="OAuth2 client id accepted.")
    ] = None,
    client_secret: Annotated[
        str | None,
        typer.Option(envvar="RECEIVER_CLIENT_SECRET", help="OAuth2 client secret accepted."),
    ] = None,
    username: Annotated[
        str | None,
        typer.Option(envvar="RECEIVER_USERNAME", help="Basic-auth user name (basic mode)."),
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(envvar="RECEIVER_PASSWORD", help="Basic-auth password (basic mode)."),
    ] = None,
    token_ttl: Annotated[int, typer.Option(help="Lifetime of issued tokens, seconds.")] = 3600,
    reject_status: Annotated[
        int, typer.Option(help="Status for a bad or expired token: 401 or 403.")
    ] = 401,
    cert: Annotated[
        Path | None,
        typer.Option(
            help="Server certificate chain (PEM). Without it a local development CA and a "
            "localhost certificate are generated (next to a SQLite database, else in the "
            "current directory)."
        ),
    ] = None,
    key: Annotated[Path | None, typer.Option(help="Private key of --cert (PEM).")] = None,
    control: Annotated[
        bool,
        typer.Option(
            "--control/--no-control",
            help="Mount the unauthenticated /_control/ API (tests and demos only).",
        ),
    ] = False,
    log_level: Annotated[str, typer.Option(help="Log level.")] = "info",
) -> None:
    """Run the receiver kit: a reference customer platform that receives telepush's pushes.

    It issues OAuth2 tokens (client credentials, HTTP Basic client authentication) or checks
    Basic auth, validates each document, stores it durably and idempotently (a SQLite file,
    or PostgreSQL with a postgresql:// URL) and answers 200 only once it is committed. Read
    what arrived with GET /trips, /crashes/{id}, /deletions, /diagnoses, /crash-reports and
    /stats."""
    from telepush.receiver import ReceiverSettings, serve

    try:
        settings = ReceiverSettings(
            database=database,
            auth_mode=auth,
            client_id=client_id,
            client_secret=client_secret,
            username=username,
            password=password,
            token_ttl_s=token_ttl,
            reject_status=reject_status,
            enable_control=control,
        )
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"]) or "settings"
        fail(f"receiver {where}: {err['msg'].removeprefix('Value error, ')}")
    serve(settings, host=host, port=port, certfile=cert, keyfile=key, log_level=log_level)
