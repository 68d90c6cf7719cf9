"""The end-to-end bench (bench/e2e.py, ``make bench-e2e``) keeps working: at its CI size, in both
runtime modes, it completes, prints its table, and the sink saw every accepted notice once and in
each patient's order. No timing is asserted: the figures are for people, not for this test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from services import require_postgres, require_rabbitmq

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.postgres
@pytest.mark.rabbitmq
@pytest.mark.timeout(420)
def test_the_bench_runs_small_in_both_modes_and_loses_nothing(tmp_path: Path) -> None:
    # Given the real services (a missing one fails with CI=true, else skips)
    require_rabbitmq()
    with require_postgres():
        pass
    figures = tmp_path / "bench.json"

    # When the bench runs at its CI size in both modes
    completed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "e2e.py"),
            "--small",
            "--modes",
            "embedded,production",
            "--json",
            str(figures),
        ],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
        cwd=ROOT,
    )

    # Then it completes and prints the table with the raw limits beside it
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "| mode | transport | P | C | N | accepted/s | delivered/s |" in completed.stdout
    assert "Raw limits, same run:" in completed.stdout
    report = json.loads(figures.read_text())
    assert {"sqlite_commits_per_s", "postgres_commits_per_s", "rabbitmq_msgs_per_s"} <= set(
        report["raw"]
    )
    # And every notice sent was accepted and delivered once, in each patient's order
    runs = {run["mode"]: run for run in report["runs"]}
    assert set(runs) == {"embedded", "production"}
    for mode, run in runs.items():
        assert run["error"] is None, (mode, run["error"])
        assert run["sent"] == run["acked"] == run["delivered"] == 60, (mode, run["answers"])
        assert run["lost"] == 0, mode
        assert run["effective_duplicates"] == 0, mode
        assert run["order_violations"] == 0, mode
        assert run["commits_per_notice"] is not None, mode
