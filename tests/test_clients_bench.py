"""The per-client benchmark runs end to end in `--quick` mode; no timing is asserted, ever."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SUFFIXES = {
    "call.cpu.none": "us",
    "call.added.span": "us",
    "call.added.agentwatch": "us",
    "call.agentwatch_over_span": "x",
}


def test_every_client_module_gets_its_rows(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "clients_bench.py"), "--quick", "--json", str(report)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(report.read_text())
    # Every SDK of the dev extra is installed in the test environment: none may be missing.
    assert data["missing"] == []
    clients = sorted(p.stem for p in (BENCHMARKS / "clients").glob("*.py") if p.stem != "__init__")
    rows = {row["name"]: row for row in data["rows"]}
    expected = {f"{c}.{s}": unit for c in clients for s, unit in SUFFIXES.items()}
    assert {name: row["unit"] for name, row in rows.items()} == expected
    for name, row in rows.items():
        assert math.isfinite(row["value"]), name
        if name.endswith("agentwatch_over_span"):
            assert row["target"] == 1.25
    assert "agentwatch per-client benchmark" in done.stdout
