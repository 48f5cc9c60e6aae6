"""The check-code benchmark runs end to end in `--quick` mode; no timing is asserted, ever."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[3] / "benchmarks" / "codecheck_bench.py"
ROWS = {"check.first": "ms", "check.median": "ms", "check.max": "ms", "command.wall": "ms"}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("bench") / "report.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json", str(path)],
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stderr
    assert "check.median" in done.stdout
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def test_the_report_has_every_row_with_its_unit(report: dict[str, Any]) -> None:
    assert {row["name"]: row["unit"] for row in report["rows"]} == ROWS


def test_the_file_checked_is_1000_lines_with_findings(report: dict[str, Any]) -> None:
    assert report["lines"] >= 1000 and report["findings"] > 0


def test_rows_are_well_formed(report: dict[str, Any]) -> None:
    for row in report["rows"]:
        assert math.isfinite(row["value"]) and row["value"] >= 0, row
        assert row["baseline"] > 0, row
        assert row["ratio"] == pytest.approx(row["value"] / row["baseline"]), row
        if row["target"] is None:
            assert row["passed"] is None, row
        else:
            assert row["passed"] is (row["value"] <= row["target"]), row
