"""The instrumentation benchmark runs end to end in `--quick` mode; no timing is asserted, ever."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "instrumentation_bench.py"
MODES = ("sync", "async")
VARIANTS = ("span", "agentwatch", "official")


def expected_rows() -> dict[str, str]:
    rows = {}
    for mode in MODES:
        rows[f"{mode}.call.cpu.none"] = "us"
        rows[f"{mode}.stream.cpu.none"] = "us"
        for variant in VARIANTS:
            rows[f"{mode}.call.added.{variant}"] = "us"
            rows[f"{mode}.stream.per_chunk.{variant}"] = "us"
            rows[f"{mode}.stream.per_chunk_all_in.{variant}"] = "us"
        rows[f"{mode}.call.agentwatch_over_span"] = "x"
        rows[f"{mode}.call.agentwatch_over_official"] = "x"
    return rows


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, dict[str, Any]]:
    report = tmp_path_factory.mktemp("bench") / "report.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json", str(report)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr, json.loads(report.read_text())


def test_quick_run_reports_every_row_with_its_unit(
    quick_run: tuple[str, str, dict[str, Any]],
) -> None:
    _, _, report = quick_run
    assert {row["name"]: row["unit"] for row in report["rows"]} == expected_rows()


def test_quick_run_rows_are_well_formed(quick_run: tuple[str, str, dict[str, Any]]) -> None:
    _, _, report = quick_run
    for row in report["rows"]:
        assert math.isfinite(row["value"]), row  # an added cost can be < 0 in so short a run
        if row["name"].endswith(".cpu.none"):
            assert row["value"] > 0, row
        if row["baseline"] is None:
            assert row["ratio"] is None, row
        else:
            assert row["baseline"] > 0, row
            assert row["ratio"] == pytest.approx(row["value"] / row["baseline"]), row
        if row["target"] is None:
            assert row["passed"] is None, row
        else:
            assert row["passed"] is (row["value"] <= row["target"]), row
    targets = {r["name"]: r["target"] for r in report["rows"] if r["target"] is not None}
    assert targets == {
        **{f"{m}.call.agentwatch_over_span": 1.25 for m in MODES},
        **{f"{m}.call.agentwatch_over_official": 1.0 for m in MODES},
        **{f"{m}.stream.per_chunk.agentwatch": 2.0 for m in MODES},
    }


def test_quick_run_prints_one_table_line_per_row_and_no_errors(
    quick_run: tuple[str, str, dict[str, Any]],
) -> None:
    stdout, stderr, report = quick_run
    lines = stdout.splitlines()
    assert lines[1].split()[:3] == ["metric", "value", "unit"]
    assert [line.split()[0] for line in lines[2:]] == [row["name"] for row in report["rows"]]
    assert stderr == ""
