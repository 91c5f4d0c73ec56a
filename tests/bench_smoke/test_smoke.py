"""Each benchmark scenario still runs: a seconds-long ``--smoke`` run of each, in CI.

Benchmarks are not tests; this only keeps them from rotting. It checks that every scenario
prints its table and produces sane figures (positive rates, computed ratios), not that a
target is met: that depends on the machine.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.pg import POSTGRES_URL, query, require_server

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ("throughput", "ingest", "latency", "isolation", "large", "crash", "backlog")
# Figures that are counts of bad events: zero is the expected value.
COUNTS = {
    "lost (accepted, never received)",
    "duplicates per kill",
    "duplicates per kill: in flight at the kill (info)",
    "duplicates per kill: answered before the kill, not yet recorded (info)",
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_smoke_run_prints_sane_figures(scenario: str, tmp_path: Path) -> None:
    """The scenario's smoke run exits 0, prints its table and reports positive figures."""
    out = tmp_path / "result.json"
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{scenario}", "--smoke", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert f"== {scenario}:" in done.stdout
    assert "figure" in done.stdout and "ratio" in done.stdout
    result = json.loads(out.read_text())
    assert result["scenario"] == scenario and result["smoke"] is True
    assert result["figures"]
    for fig in result["figures"]:
        value = fig["value"]
        assert value is not None and math.isfinite(value), fig
        if fig["name"] in COUNTS:
            assert value >= 0, fig
        else:
            assert value > 0, fig
        if fig["baseline"]:
            assert fig["ratio"] is not None and fig["ratio"] > 0, fig


def test_scaleout_smoke_run_on_postgresql(tmp_path: Path) -> None:
    """Scenario 8 needs PostgreSQL: it skips when the shared server is unreachable (fails
    under CI); otherwise its smoke run drains with 1 and 2 workers, loses nothing, reports
    rates, CPU and the ratio to one worker, and drops its scratch databases."""
    require_server(POSTGRES_URL)
    before = query(POSTGRES_URL, "SELECT datname FROM pg_database")
    out = tmp_path / "result.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.scaleout", "--smoke", "--json", str(out)],
        cwd=ROOT,
        env={**os.environ, "TELEPUSH_TEST_POSTGRES_URL": POSTGRES_URL},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "== scaleout:" in done.stdout
    assert "lost deliveries (accepted ids never received): 0" in done.stdout
    result = json.loads(out.read_text())
    assert result["scenario"] == "scaleout" and result["smoke"] is True
    names = {fig["name"] for fig in result["figures"]}
    assert {"deliveries/s, 1 worker(s)", "deliveries/s, 2 worker(s)"} <= names
    for fig in result["figures"]:
        assert fig["value"] is not None and math.isfinite(fig["value"]) and fig["value"] > 0, fig
        if fig["baseline"]:
            assert fig["ratio"] is not None and fig["ratio"] > 0, fig
    left = {row[0] for row in query(POSTGRES_URL, "SELECT datname FROM pg_database")}
    assert not {name for name in left - {row[0] for row in before} if "bench" in name}


def test_peers_smoke_run_against_celery_and_dramatiq(tmp_path: Path) -> None:
    """Scenario 2 runs Celery and Dramatiq from a virtual environment of their own (created
    on the first run, then reused) on Redis: it skips when Redis is unreachable and cannot be
    started (fails under CI); otherwise every leg delivers all its trips, rates, CPU and
    ratios are positive, and the peers are no project dependencies."""
    out = tmp_path / "result.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.peers", "--smoke", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if done.returncode == 0 and "skipped the peers" in done.stdout:
        pytest.skip(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "== peers:" in done.stdout
    result = json.loads(out.read_text())
    assert result["scenario"] == "peers" and result["smoke"] is True
    figures = {fig["name"]: fig for fig in result["figures"]}
    assert figures["deliveries/s vs the best peer"]["ratio"] > 0
    for peer in ("Celery", "Dramatiq"):
        for name in (f"deliveries/s vs {peer}", f"CPU-s per 1,000 deliveries vs {peer}"):
            fig = figures[name]
            assert fig["value"] > 0 and fig["baseValue"] > 0 and fig["ratio"] > 0, fig
        lost = figures[f"lost vs {peer}"]
        assert lost["telepush"] == [0] and lost["baseline"] == [0], lost
    ceiling = figures["deliveries/s vs the bare aiohttp client (info)"]
    assert ceiling["value"] > 0 and ceiling["baseValue"] > 0 and ceiling["ratio"] > 0, ceiling
    assert "5× the best peer would be" in done.stdout
    pyproject = (ROOT / "pyproject.toml").read_text().lower()
    assert "celery" not in pyproject and "dramatiq" not in pyproject
