"""The exporter benchmark runs end to end in `--quick` mode; no timing is asserted, ever."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "exporter_bench.py"
ROWS = {
    "cycle.cpu.median": "ms",
    "cycle.cpu.p99": "ms",
    "cycle.share.render": "%",
    "cycle.share.leak_analysis": "%",
    "cycle.share.backend_replay": "%",
    "scrape.text_cached.median": "ms",
    "scrape.gzip_cached.p99": "ms",
    "scrape.prometheus_first_after_cycle.median": "ms",
    "scrape.http_text_cached.server_cpu": "ms",
    "scrape.http_prometheus_cached.server_cpu": "ms",
    "memory.rss": "MB",
    "memory.peak_rss": "MB",
}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    report = tmp_path_factory.mktemp("bench") / "report.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json", str(report)],
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, json.loads(report.read_text())


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("exporter_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while decorating
    spec.loader.exec_module(module)
    return module


def test_quick_run_reports_every_measurement_with_its_unit(
    quick_run: tuple[str, dict[str, Any]],
) -> None:
    _, report = quick_run
    units = {row["name"]: row["unit"] for row in report["rows"]}
    assert units.items() >= ROWS.items()


def test_quick_run_rows_are_well_formed(quick_run: tuple[str, dict[str, Any]]) -> None:
    _, report = quick_run
    for row in report["rows"]:
        assert math.isfinite(row["value"]) and row["value"] >= 0, row
        if row["baseline"] is None:
            assert row["ratio"] is None, row
        else:
            assert row["baseline"] > 0, row
            assert row["ratio"] == pytest.approx(row["value"] / row["baseline"]), row
        if row["target"] is None:
            assert row["passed"] is None, row
        else:
            assert row["passed"] is (row["value"] <= row["target"]), row
    shares = [r["value"] for r in report["rows"] if r["name"].startswith("cycle.share.")]
    assert sum(shares) <= 100.0 + 1e-6


def test_quick_run_prints_one_table_line_per_row(quick_run: tuple[str, dict[str, Any]]) -> None:
    stdout, report = quick_run
    lines = stdout.splitlines()
    assert lines[1].split()[:3] == ["metric", "value", "unit"]
    assert [line.split()[0] for line in lines[2:]] == [row["name"] for row in report["rows"]]


@pytest.mark.parametrize(
    ("value", "check", "code"),
    [(3.0, True, 1), (3.0, False, 0), (1.0, True, 0)],
    ids=["missed-with-check", "missed-without-check", "met-with-check"],
)
def test_exit_code_fails_only_a_checked_miss(
    bench: ModuleType, value: float, check: bool, code: int
) -> None:
    rows = [bench.Row("scrape", value, "ms", target=2.0), bench.Row("share", 50.0, "%")]
    assert bench.exit_code(rows, check) == code
