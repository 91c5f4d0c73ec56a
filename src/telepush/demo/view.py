"""The demo in a terminal (Rich): narration, a live progress bar of the deliveries, the
summary and where to look next. Off a terminal (a pipe, a CI log) the live display gives way
to a plain progress line every few seconds."""

from __future__ import annotations

import shlex
import time
from collections.abc import Mapping

from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from telepush.demo.outcome import Outcome, unfinished
from telepush.demo.session import Endpoints
from telepush.demo.workspace import RECEIVER_CLIENT_ID
from telepush.synth import SERVICES

STATUSES = ("pending", "sending", "delivered", "failed", "superseded")
_COLOURS = {"delivered": "green", "failed": "red", "superseded": "magenta", "sending": "cyan"}
PLAIN_EVERY_S = 3.0


class RichView:
    """Implements the session's ``View`` on a Rich console."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live: Live | None = None
        self.started_at = time.monotonic()
        self._last_plain = 0.0
        self._last_line = ""

    def narrate(self, text: str) -> None:
        elapsed = time.monotonic() - self.started_at
        self.console.print(f"[dim]{elapsed:5.1f}s[/dim]  {text}", highlight=False, soft_wrap=True)

    def started(self, endpoints: Endpoints) -> None:
        self.started_at = time.monotonic()
        self.narrate(f"receiver kit on {endpoints.receiver_url} (HTTPS, its own demo CA)")
        self.narrate(f"telepush API and worker on {endpoints.api_url} (SQLite)")
        if self.console.is_terminal:
            self.live = Live(console=self.console, refresh_per_second=8, transient=False)
            self.live.start()

    def progress(self, stats: Mapping[str, int]) -> None:
        if self.live is not None:
            self.live.update(_progress(stats))
            return
        line = "progress: " + "  ".join(f"{s} {stats.get(s, 0)}" for s in STATUSES)
        now = time.monotonic()
        final = sum(stats.values()) and not unfinished(stats)
        due = final or now - self._last_plain >= PLAIN_EVERY_S
        if sum(stats.values()) and line != self._last_line and due:
            self.console.print(line, highlight=False)
            self._last_plain, self._last_line = now, line

    def close(self) -> None:
        """Stop the live display (idempotent)."""
        if self.live is not None:
            self.live.stop()
            self.live = None

    def finished(self, outcome: Outcome, endpoints: Endpoints, keep_running: bool) -> None:
        self.close()
        if outcome.timed_out:
            self.console.print(
                f"[red]timed out[/red]: {outcome.total.unfinished} deliveries still not final "
                "(raise --timeout, or run with --keep-running to look at them)",
                soft_wrap=True,
            )
        self.console.print(_deliveries_table(outcome))
        self.console.print(_receiver_table(outcome))
        self.console.print(_next_steps(endpoints, keep_running))
        for command in _commands(endpoints):
            self.console.print(f"  $ {command}", highlight=False, soft_wrap=True, markup=False)
        self.console.print(outcome.line(), highlight=False, soft_wrap=True)
        if keep_running:
            self.console.print(
                "[bold]telepush and the receiver keep running[/bold]: press Ctrl-C to stop"
            )


def _progress(stats: Mapping[str, int]) -> Group:
    total = sum(stats.values())
    done = total - unfinished(stats)
    bar = ProgressBar(total=max(total, 1), completed=done, width=50)
    counts = Text("  ")
    for status in STATUSES:
        counts.append(f"{status} ", style="dim")
        counts.append(f"{stats.get(status, 0):<5}", style=_COLOURS.get(status, "yellow"))
    head = Table.grid(padding=(0, 1))
    head.add_row(Text("deliveries", style="bold"), bar, Text(f"{done}/{total} final"))
    return Group(head, counts)


def _deliveries_table(outcome: Outcome) -> Table:
    table = Table(title="Deliveries", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("service", no_wrap=True)
    for name in ("pushed", "delivered", "retried", "superseded", "failed", "not final"):
        table.add_column(name, justify="right")
    rows = [(s, outcome.per_service[s]) for s in SERVICES if s in outcome.per_service]
    for index, (name, counts) in enumerate([*rows, ("total", outcome.total)]):
        table.add_row(
            name,
            str(counts.pushed),
            f"[green]{counts.delivered}[/green]",
            str(counts.retried),
            str(counts.superseded),
            f"[red]{counts.failed}[/red]" if counts.failed else "0",
            str(counts.unfinished),
            end_section=index == len(rows) - 1,
            style="bold" if name == "total" else None,
        )
    return table


def _receiver_table(outcome: Outcome) -> Table:
    table = Table(
        title="What the receiver kit stored (GET /stats)", title_justify="left", box=box.SIMPLE_HEAD
    )
    table.add_column("service", no_wrap=True)
    for name in ("stored now", "pushes received", "duplicates"):
        table.add_column(name, justify="right")
    stats = outcome.receiver
    for service in SERVICES:
        table.add_row(
            service,
            str(stats.get("stored", {}).get(service, 0)),
            str(stats.get("received", {}).get(service, 0)),
            str(stats.get("duplicates", {}).get(service, 0)),
        )
    tokens = stats.get("tokens", {})
    table.caption = (
        f"OAuth2 tokens issued: {tokens.get('issued', 0)}; a deleted trip is no longer stored"
    )
    return table


def _next_steps(endpoints: Endpoints, keep_running: bool) -> Table:
    ws = endpoints.workspace
    token_file = endpoints.token_file or ws.root / "api-token"
    grid = Table.grid(padding=(0, 2))
    grid.title, grid.title_justify = "Where to look next", "left"
    grid.add_column(style="bold")
    grid.add_column()
    later = "" if keep_running else " (stopped now; --keep-running leaves it up)"
    grid.add_row("API", f"{endpoints.api_url}  (OpenAPI: {endpoints.api_url}/docs){later}")
    grid.add_row("dashboard", f"{endpoints.api_url}/dashboard  (sign in with the API token)")
    grid.add_row("API token", str(token_file))
    grid.add_row("database", str(ws.telepush_db))
    grid.add_row("receiver", f"{endpoints.receiver_url}{later}")
    grid.add_row("", f"CA {ws.ca_pem}")
    grid.add_row("", f"database {ws.receiver_db}")
    grid.add_row("", f"client {RECEIVER_CLIENT_ID}, secret in {ws.secret_file}")
    return grid


def _commands(endpoints: Endpoints) -> list[str]:
    """Commands to copy, one per line (never wrapped)."""
    ws = endpoints.workspace
    token = shlex.quote(str(endpoints.token_file or ws.root / "api-token"))
    return [
        f'curl -H "Authorization: Bearer $(cat {token})" '
        f"'{endpoints.api_url}/v1/deliveries?status=delivered'",
        f"telepush --data-dir {shlex.quote(str(ws.root))} deliveries list",
    ]
