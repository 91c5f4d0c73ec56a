"""What every command shares: settings from the root options, errors shown plainly."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from telepush.config import Settings, load_settings
from telepush.errors import TelepushError
from telepush.logs import setup_logging

T = TypeVar("T")
console = Console()
err_console = Console(stderr=True)


@dataclass
class Root:
    config: Path | None = None
    flags: dict[str, Any] = field(default_factory=dict)

    def settings(self, **more: Any) -> Settings:
        try:
            settings = load_settings(self.config, **{**self.flags, **more})
        except TelepushError as exc:
            fail(exc.message)
        setup_logging(settings.log_level, json_lines=settings.log_json)
        return settings


def root(ctx: typer.Context) -> Root:
    obj = ctx.find_root().obj
    assert isinstance(obj, Root)
    return obj


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro``; a telepush error becomes a one-line message and exit code 2."""
    try:
        return asyncio.run(coro)
    except TelepushError as exc:
        where = escape(f" [{exc.field}]") if exc.field else ""
        err_console.print(
            f"[red]error{where}:[/red] {escape(exc.message)}", highlight=False, soft_wrap=True
        )
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


def fail(message: str) -> NoReturn:
    err_console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)
