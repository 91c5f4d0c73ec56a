"""Figures, the printed table, the results section of ``docs/benchmarks.md``, the command line.

A scenario measures one or more ``Figure``s, each over several runs, telepush and its
baseline side by side in the same invocation. A figure's ratio compares the medians, and its
target is checked on either the ratio or telepush's own value.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

# telepush's delivery_processes in every scenario (a command-line option): HTTP in a child
# process beside the queue's, which on these two cores delivers ~20 % more (benchmarks.md).
DELIVERY_PROCESSES = 1

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
BEGIN = "<!-- results:begin -->"
END = "<!-- results:end -->"
ORDER = (
    "throughput",
    "peers",
    "ingest",
    "latency",
    "isolation",
    "large",
    "crash",
    "backlog",
    "scaleout",
)

On = Literal["ratio", "value"]
Op = Literal[">=", "<=", "=="]


@dataclass(frozen=True)
class Target:
    on: On  # "ratio": telepush vs baseline; "value": telepush's own figure
    op: Op
    bound: float
    text: str = ""

    def met(self, value: float | None) -> bool | None:
        if value is None:
            return None
        if self.op == ">=":
            return value >= self.bound
        if self.op == "<=":
            return value <= self.bound
        return value == self.bound

    def describe(self) -> str:
        return self.text or f"{self.on} {self.op} {self.bound:g}"


@dataclass
class Figure:
    """One measured quantity: telepush's values and the baseline's, one per run."""

    name: str
    unit: str
    telepush: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    target: Target | None = None
    baseline_name: str = ""
    note: str = ""

    @property
    def value(self) -> float | None:
        return statistics.median(self.telepush) if self.telepush else None

    @property
    def base_value(self) -> float | None:
        return statistics.median(self.baseline) if self.baseline else None

    @property
    def ratio(self) -> float | None:
        value, base = self.value, self.base_value
        if value is None or base is None or base == 0:
            return None
        return value / base

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        return self.target.met(self.ratio if self.target.on == "ratio" else self.value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "telepush": self.telepush,
            "baseline": self.baseline,
            "baselineName": self.baseline_name,
            "value": self.value,
            "baseValue": self.base_value,
            "ratio": self.ratio,
            "target": None if self.target is None else self.target.describe(),
            "met": self.met,
            "note": self.note,
        }


@dataclass
class Result:
    scenario: str
    command: str
    scale: str  # what was run, e.g. "100,000 trips of 2 KB"
    figures: list[Figure]
    notes: list[str] = field(default_factory=list)
    smoke: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "command": self.command,
            "scale": self.scale,
            "smoke": self.smoke,
            "seconds": self.seconds,
            "figures": [f.to_dict() for f in self.figures],
            "notes": self.notes,
        }


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def spread(values: list[float]) -> str:
    """The median, and the range when there were several runs."""
    if not values:
        return "-"
    mid = fmt(statistics.median(values))
    if len(values) == 1:
        return mid
    return f"{mid} ({fmt(min(values))}–{fmt(max(values))})"


def _met(value: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "-"}[value]


def table_rows(result: Result) -> list[list[str]]:
    rows = []
    for fig in result.figures:
        rows.append(
            [
                fig.name,
                f"{spread(fig.telepush)} {fig.unit}".rstrip(),
                f"{spread(fig.baseline)} {fig.unit}".rstrip() if fig.baseline else "-",
                fmt(fig.ratio),
                fig.target.describe() if fig.target else "-",
                _met(fig.met),
            ]
        )
    return rows


HEAD = ["figure", "telepush", "baseline", "ratio", "target", "met?"]


def print_table(result: Result) -> None:
    rows = [HEAD, *table_rows(result)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEAD))]
    title = f"== {result.scenario}: {result.scale}" + ("  [smoke]" if result.smoke else "")
    print(title)
    for n, row in enumerate(rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if n == 0:
            print("  ".join("-" * width for width in widths))
    for name in dict.fromkeys(f.baseline_name for f in result.figures if f.baseline_name):
        print(f"baseline: {name}")
    for note in result.notes:
        print(f"note: {note}")
    print(f"({result.seconds:.1f} s)")


def machine_note() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return (
        f"{os.cpu_count()} CPU, Python {platform.python_version()}, "
        f"load {load:.1f} at start (shared)"
    )


DOC_HEAD = (
    "| scenario | figure | telepush | baseline | ratio | target | met? | scale | date | "
    "machine | command |"
)


def doc_rows(result: Result, machine: str) -> list[str]:
    today = datetime.date.today().isoformat()
    rows = []
    for fig, cells in zip(result.figures, table_rows(result), strict=True):
        base = cells[2]
        if fig.baseline_name:
            base = f"{base} ({fig.baseline_name})"
        row = [result.scenario, *cells[:2], base, *cells[3:], result.scale, today, machine]
        row.append(f"`{result.command}`")
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    return rows


def write_docs(result: Result, machine: str, path: Path = DOCS) -> None:
    """Replace this scenario's rows in the results table of ``path``, keep the others."""
    text = path.read_text() if path.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text = text.rstrip("\n") + f"\n\n## Results\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    body, tail = rest.split(END, 1)
    kept: dict[str, list[str]] = {}
    for line in body.splitlines():
        match = re.match(r"\| (\w+) \|", line)
        if match and match.group(1) in ORDER and not line.startswith(DOC_HEAD):
            kept.setdefault(match.group(1), []).append(line)
    kept[result.scenario] = doc_rows(result, machine)
    lines = [DOC_HEAD, "|" + " --- |" * DOC_HEAD.count(" | ") + " --- |"]
    for scenario in ORDER:
        lines.extend(kept.get(scenario, []))
    path.write_text(head + BEGIN + "\n" + "\n".join(lines) + "\n" + END + tail)


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--smoke", action="store_true", help="a seconds-long run (CI); no docs")
    p.add_argument("--runs", type=int, default=None, help="repetitions (default 2; smoke 1)")
    p.add_argument("--json", type=Path, default=None, help="also write the result as JSON")
    p.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    p.add_argument(
        "--delivery-processes",
        type=int,
        default=DELIVERY_PROCESSES,
        help="the delivery_processes setting of every telepush process that delivers "
        f"(default {DELIVERY_PROCESSES}; 0: each sends from its own process)",
    )
    return p


Measure = Callable[[argparse.Namespace], Coroutine[Any, Any, Result]]


def main(scenario: str, description: str, measure: Measure, extra: Any = None) -> Result:
    """Parse the command line, run ``measure``, print, and record the result."""
    p = parser(description)
    if extra is not None:
        extra(p)
    args = p.parse_args()
    if args.runs is None:
        args.runs = 1 if args.smoke else 2
    machine = machine_note()
    # every telepush process the scenario starts inherits it (API-only ones start none)
    os.environ["TELEPUSH_DELIVERY_PROCESSES"] = str(args.delivery_processes)
    started = time.monotonic()
    result = asyncio.run(measure(args))
    result.notes.append(f"telepush delivery_processes = {args.delivery_processes}")
    result.seconds = time.monotonic() - started
    result.smoke = args.smoke
    print_table(result)
    if args.json is not None:
        args.json.write_text(json.dumps(result.to_dict(), indent=2))
    if not args.smoke and not args.no_write:
        write_docs(result, machine)
        print(f"results written to {DOCS}")
    sys.stdout.flush()
    return result
