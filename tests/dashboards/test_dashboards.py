"""The dashboards: generated without drift, well-formed, on the metric contract and the alert rules.

What a real Grafana would do with them (render every panel) cannot run here; what can is checked:
the committed JSON is the generators' output byte for byte, ids and uids are unique and stable,
panels do not overlap, every panel has a unit, a description and the datasource variable, links
point at the other dashboards, every metric a query selects is one agentwatch emits (or a rule
records), and thresholds are the alert rules' `Config`. test_data.py runs every query against a
real Prometheus.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentwatch.alerts.rules import Config
from agentwatch.dashboards import GENERATORS
from agentwatch.dashboards.__main__ import generated
from agentwatch.dashboards.__main__ import main as generate
from agentwatch.dashboards.common import UIDS
from tests.alerts.test_rules import BUILTINS, emitted, metric_names, recorded
from tests.dashboards.queries import FILES, JSON_DIR, REPO, all_queries, load, panels

BOARDS = {path.stem: load(path) for path in FILES}
PROMETHEUS_SERIES = BUILTINS | {"ALERTS", "scrape_duration_seconds", "scrape_samples_scraped"}
"""Series Prometheus itself writes."""


def content_panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in panels(board) if p["type"] not in ("row", "text")]


# --- generated, deterministic -----------------------------------------------------------------


def test_the_committed_json_is_the_generators_output_byte_for_byte() -> None:
    files = generated()
    assert sorted(files) == [p.name for p in FILES]
    for name, text in files.items():
        committed = (JSON_DIR / name).read_text(encoding="utf-8")
        assert committed == text, f"{name} drifted: run python -m agentwatch.dashboards"


def test_generating_twice_gives_the_same_bytes() -> None:
    assert generated() == generated()


def test_check_passes_on_the_committed_files_and_fails_on_drift(tmp_path: Path) -> None:
    assert generate(["--check"]) == 0
    assert generate(["--output", str(tmp_path)]) == 0
    assert generate(["--check", "--output", str(tmp_path)]) == 0
    edited = tmp_path / FILES[0].name
    edited.write_text(edited.read_text().replace('"uid"', '"uid" ', 1))
    assert generate(["--check", "--output", str(tmp_path)]) == 1
    (tmp_path / "stray.json").write_text("{}")
    edited.write_text(FILES[0].read_text())
    assert generate(["--check", "--output", str(tmp_path)]) == 1


def test_the_module_runs_as_python_dash_m() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "agentwatch.dashboards", "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


# --- structure --------------------------------------------------------------------------------


def test_there_is_one_dashboard_per_generator_with_a_stable_unique_uid() -> None:
    assert len(BOARDS) == len(GENERATORS) == 5
    uids = [board["uid"] for board in BOARDS.values()]
    assert sorted(uids) == sorted(UIDS.values())
    assert all(re.fullmatch(r"agentwatch-[a-z-]+", uid) and len(uid) <= 40 for uid in uids)
    assert len({board["title"] for board in BOARDS.values()}) == 5


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_panel_ids_are_unique_and_panels_do_not_overlap(name: str) -> None:
    board = BOARDS[name]
    ids = [p["id"] for p in panels(board)]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) and i > 0 for i in ids)
    cells: dict[tuple[int, int], str] = {}
    for panel in board["panels"]:
        pos = panel["gridPos"]
        assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_panel_has_a_unit_a_description_and_the_datasource_variable(name: str) -> None:
    board = BOARDS[name]
    for panel in content_panels(board):
        title = panel["title"]
        assert panel["description"] and len(panel["description"]) > 20, title
        assert panel["fieldConfig"]["defaults"]["unit"], f"{title}: no unit"
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, title
        assert panel["targets"], f"{title}: no query"
        for t in panel["targets"]:
            assert t["datasource"] == panel["datasource"], title
            assert t["expr"].strip(), title
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), title
    titles = [p["title"] for p in panels(board) if p["type"] != "row"]
    assert len(titles) == len(set(titles)), "panel titles repeat"


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_dashboard_has_the_datasource_and_selector_variables(name: str) -> None:
    variables = {v["name"]: v for v in BOARDS[name]["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    expected = {
        "gpu-fleet": {"instance", "gpu"},
        "llm-service": {"job", "model"},
        "correlation": {"job"},
        "agent-reliability": {"job", "model"},
        "exporter-health": {"instance"},
    }[name]
    assert set(variables) == {"datasource"} | expected
    for key in expected:
        v = variables[key]
        assert v["includeAll"] and v["multi"] and v["allValue"] == ".*", key
        assert v["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    # Every variable is used, and only with regex matchers (multi-value and All need =~).
    text = "\n".join(t["expr"] for p in panels(BOARDS[name]) for t in p.get("targets", []))
    for key in expected:
        assert f'=~"${key}"' in text, f"${key} is not used"
        assert not re.search(rf'[^~]="\${key}"', text), f"${key} used with = instead of =~"


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_dashboard_links_to_every_other_one(name: str) -> None:
    links = BOARDS[name]["links"]
    targets = {link["url"] for link in links}
    others = {f"/d/{b['uid']}" for key, b in BOARDS.items() if key != name}
    assert targets == others
    assert all(link["keepTime"] and link["includeVars"] for link in links)


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_dashboard_shows_a_banner_when_the_data_is_simulated(name: str) -> None:
    first = BOARDS[name]["panels"][0]
    assert first["gridPos"] == {"h": 2, "w": 24, "x": 0, "y": 0}
    assert first["targets"][0]["expr"] == 'count(agentwatch_gpu_info{simulated="true"}) > 0'
    mapping = first["fieldConfig"]["defaults"]["mappings"][0]
    assert "SIMULATED" in mapping["options"]["result"]["text"]
    assert first["fieldConfig"]["defaults"]["noValue"].strip() == ""


def test_latency_targets_ask_for_exemplars() -> None:
    llm = BOARDS["llm-service"]
    latency = [
        t
        for p in panels(llm)
        for t in p.get("targets", [])
        if "histogram_quantile" in t["expr"] and "duration_seconds_bucket" in t["expr"]
    ]
    assert latency and all(t["exemplar"] for t in latency)


def test_the_correlation_dashboard_annotates_version_changes_and_firing_alerts() -> None:
    names = {a["name"]: a for a in BOARDS["correlation"]["annotations"]["list"]}
    assert set(names) == {"Component version changes", "Alerts firing"}
    assert "agentwatch_component_info" in names["Component version changes"]["expr"]
    assert names["Alerts firing"]["expr"] == 'ALERTS{alertstate="firing"}'


# --- the metric contract and the alert rules --------------------------------------------------


@pytest.mark.parametrize("query", all_queries(), ids=lambda q: q.id)
def test_every_metric_a_dashboard_queries_is_one_the_code_emits(query: Any) -> None:
    known, rules = emitted(), recorded()
    found = metric_names(query.expr.replace("$__rate_interval", "1m").replace("$__range", "1h"))
    assert found, f"{query.expr}: selects no metric"
    for name in found:
        if ":" in name:
            assert name in rules, f"{name} is not recorded by any rule"
        else:
            assert name in known or name in PROMETHEUS_SERIES, f"{name} is not in core/names.py"


def test_every_label_a_query_matches_is_one_the_metric_has() -> None:
    known = emitted()
    target = {"job", "instance", "le"}
    for query in all_queries():
        for metric, matchers in re.findall(r"([a-z_]+)\{([^}]*)\}", query.expr):
            if metric not in known:
                continue
            labels = set(re.findall(r"(\w+)\s*(?:=~|!=|!~|=)", matchers))
            assert labels <= set(known[metric].labels) | target, f"{query.id}: {labels}"


def thresholds(board: dict[str, Any], title: str) -> list[float]:
    panel = next(p for p in panels(board) if p["title"] == title)
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return [s["value"] for s in steps if s["value"] is not None]


THRESHOLDS = {
    ("gpu-fleet", "Memory used (share of total)"): lambda c: [
        c.memory_pressure_ratio,
        c.memory_full_ratio,
    ],
    ("gpu-fleet", "Time until memory is exhausted"): lambda c: [c.exhaustion_seconds, 21600],
    ("gpu-fleet", "Leak suspects: VRAM growth"): lambda c: [c.memory_leak_fast_bytes_per_second],
    ("llm-service", "Error ratio by type"): lambda c: [c.error_ratio],
    ("llm-service", "Operation duration percentiles"): lambda c: [c.latency_slo_le],
    ("llm-service", "Latency SLO: slow operations"): lambda c: [c.burn(6), c.burn(14.4)],
    ("llm-service", "Cost a day at the last hour's rate"): lambda c: [c.cost_budget_usd_per_day],
    ("correlation", "VRAM per inference"): lambda c: [c.memory_per_inference_bytes],
    ("agent-reliability", "Hallucinated tool calls"): lambda c: [c.hallucination_ratio],
    ("agent-reliability", "Truncations and refusals"): lambda c: [c.truncation_ratio],
    ("agent-reliability", "Retries"): lambda c: [c.retry_storm_per_second],
    ("exporter-health", "Data age"): lambda c: [c.exporter_stale_seconds],
}


@pytest.mark.parametrize("where", list(THRESHOLDS), ids=lambda w: f"{w[0]}:{w[1]}")
def test_thresholds_are_the_alert_rules_ones(where: tuple[str, str]) -> None:
    assert thresholds(BOARDS[where[0]], where[1]) == THRESHOLDS[where](Config())


def test_a_different_configuration_moves_the_thresholds() -> None:
    from agentwatch.dashboards import gpu_fleet
    from agentwatch.dashboards.common import render

    text = render(gpu_fleet.build(Config(memory_full_ratio=0.77, exporter_selector='job="n"')))
    assert '"value": 0.77' in text
    assert 'job=\\"n\\"' in text and 'job=\\"agentwatch-exporter\\"' not in text


# --- grafanalib: pinned, and only the generators import it --------------------------------------


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


def test_grafanalib_is_pinned_and_imported_by_the_dashboard_generators_only() -> None:
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'"grafanalib==\d+\.\d+\.\d+"', pyproject)
    skip = {".venv", "build", ".git", "node_modules"}
    importers = sorted(
        path.relative_to(REPO).as_posix()
        for path in REPO.rglob("*.py")
        if not skip & set(path.relative_to(REPO).parts) and "grafanalib" in imports_of(path)
    )
    assert importers == ["dashboards/common.py"]
