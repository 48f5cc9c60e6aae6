"""The Prometheus rules: generated without drift, lint-clean, unit-tested, on the metric contract.

The promtool unit tests themselves (alerts/tests/*_test.yml) hold the behaviour: when each alert
fires, with which labels and annotations, and the negative cases. These tests run them, and check
that every alert has one, that the lead times hold, and that every metric a rule queries is one
agentwatch emits.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentwatch import names
from agentwatch.alerts.rules import Config, Rules, render
from tests.helpers import require_binary

REPO = Path(__file__).resolve().parents[2]
ALERTS = REPO / "alerts"
RULE_FILES = sorted(ALERTS.glob("*.rules.yml"))
UNIT_TESTS = sorted((ALERTS / "tests").glob("*_test.yml"))
RUNBOOKS = REPO / "docs" / "runbooks.md"


def rules() -> list[dict[str, Any]]:
    """Every rule of the committed rule files."""
    out: list[dict[str, Any]] = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            out += group["rules"]
    return out


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def recorded() -> set[str]:
    return {rule["record"] for rule in rules() if "record" in rule}


# --- generated, lint-clean ------------------------------------------------------------------


def test_the_committed_rule_files_are_the_generators_output() -> None:
    files = Rules(Config()).files()
    assert sorted(files) == [p.name for p in RULE_FILES]
    for name, content in files.items():
        committed = (ALERTS / name).read_text(encoding="utf-8")
        assert committed == render(content), f"{name} drifted: python -m agentwatch.alerts.rules"


def test_the_configuration_is_the_one_place_for_selectors_and_thresholds() -> None:
    config = Config(exporter_selector='job="gpu-nodes"', critical_free_ratio=0.33)
    text = "".join(render(c) for c in Rules(config).files().values())
    assert "agentwatch-exporter" not in text
    assert text.count('{job="gpu-nodes"') > 10
    assert "< 0.33\n" in text


def test_a_latency_objective_must_be_a_bucket_boundary() -> None:
    with pytest.raises(ValueError, match="not a duration bucket"):
        Config(latency_slo_le=10.0)


@pytest.mark.prometheus
def test_promtool_check_rules_is_clean_with_every_lint_fatal() -> None:
    promtool = require_binary("promtool")
    result = subprocess.run(
        [promtool, "check", "rules", "--lint=all", "--lint-fatal", *map(str, RULE_FILES)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_FILES)


@pytest.mark.prometheus
def test_every_promtool_unit_test_passes() -> None:
    promtool = require_binary("promtool")
    result = subprocess.run(
        [promtool, "test", "rules", *(p.name for p in UNIT_TESTS)],
        capture_output=True,
        text=True,
        cwd=ALERTS / "tests",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(UNIT_TESTS)


# --- every alert is tested and documented ---------------------------------------------------


def unit_test_cases() -> list[dict[str, Any]]:
    """Every alert_rule_test of every unit-test file, with its test's name."""
    cases = []
    for path in UNIT_TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                cases.append({**case, "test": test["name"]})
    return cases


def tiers() -> list[tuple[str, str]]:
    return sorted({(a["alert"], a["labels"]["severity"]) for a in alerts()})


@pytest.mark.parametrize(("alertname", "severity"), tiers(), ids=lambda v: str(v))
def test_every_alert_tier_has_a_firing_case_and_a_silent_one(alertname: str, severity: str) -> None:
    cases = [c for c in unit_test_cases() if c["alertname"] == alertname]
    firing = [
        c
        for c in cases
        for alert in c["exp_alerts"]
        if alert["exp_labels"].get("severity") == severity
    ]
    assert firing, f"no promtool case where {alertname} fires at {severity}"
    # Exact annotations, every one of them.
    for case in firing:
        for alert in case["exp_alerts"]:
            assert set(alert["exp_annotations"]) == {"summary", "description", "runbook_url"}
    # In the test where it fires, an earlier evaluation where it does not.
    tests = {c["test"] for c in firing}
    assert any(c["test"] in tests and c["exp_alerts"] == [] for c in cases)


def test_every_alert_has_severity_team_and_annotations() -> None:
    for alert in alerts():
        assert alert["labels"]["severity"] in {"critical", "warning", "info"}, alert["alert"]
        assert alert["labels"]["team"], alert["alert"]
        annotations = alert["annotations"]
        assert "{{" not in annotations["summary"], alert["alert"]
        assert "{{ $labels." in annotations["description"] or "$value" in annotations["description"]
        assert "for" in alert
        assert re.fullmatch(r"Agentwatch[A-Z][A-Za-z]+", alert["alert"])


def anchors(markdown: str) -> set[str]:
    """GitHub's anchors of the headings of a Markdown document."""
    out = set()
    for heading in re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE):
        out.add(re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-"))
    return out


def test_every_runbook_url_points_at_a_section_of_the_runbooks() -> None:
    sections = anchors(RUNBOOKS.read_text(encoding="utf-8"))
    for alert in alerts():
        url = alert["annotations"]["runbook_url"]
        assert url.startswith(Config().runbook_url + "#")
        assert url.split("#", 1)[1] in sections, f"{alert['alert']}: no runbook section"


def test_the_remediation_alerts_have_their_agreed_names() -> None:
    leak = {"AgentwatchGpuProcessMemoryLeak", "AgentwatchGpuMemoryExhaustionImminent"}
    assert leak | {"AgentwatchGpuMemoryFillingUp"} <= {a["alert"] for a in alerts()}


def test_recording_rules_are_named_level_metric_operations() -> None:
    for name in recorded():
        assert re.fullmatch(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", name), name


# --- lead time --------------------------------------------------------------------------------


def expand(values: str) -> list[float | None]:
    """promtool's expanding notation (`a+bxn`, `axn`, `_xn`, `stale`) as one value a step."""
    out: list[float | None] = []
    for term in values.split():
        if match := re.fullmatch(r"(_|stale)(?:x(\d+))?", term):
            out += [None] * int(match.group(2) or 1)
        elif match := re.fullmatch(r"(-?[\d.e+]+?)(?:([+-][\d.e]+)?x(\d+))?", term):
            start, step, count = match.groups()
            delta = float(step or 0)
            out += [float(start) + i * delta for i in range(int(count or 0) + 1)]
        else:
            raise ValueError(f"unknown term {term!r}")
    return out


def seconds(duration: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smhd])", duration))


LEAD_TIMES = {
    "a leak of 180 MB a minute pages 12 minutes before the GPU reaches 90 percent": 600,
    "a leak that fills the GPU to 90 percent in 6 hours warns 4 hours 44 minutes before": 3600,
}


@pytest.mark.parametrize(("name", "lead"), LEAD_TIMES.items(), ids=["180MB-a-minute", "6-hours"])
def test_a_memory_alert_fires_long_enough_before_the_gpu_reaches_90_percent(
    name: str, lead: int
) -> None:
    test = next(
        t
        for t in yaml.safe_load((ALERTS / "tests" / "gpu_memory_test.yml").read_text())["tests"]
        if t["name"] == name
    )
    step = seconds(test["interval"])
    series = {s["series"].split("{")[0]: expand(s["values"]) for s in test["input_series"]}
    used, total = series[names.GPU_MEMORY_USED.prom], series[names.GPU_MEMORY_TOTAL.prom]
    full = next(i for i, u in enumerate(used) if u is not None and u >= 0.9 * (total[i] or 0))
    # The 8 GB GPU and the leak's rate, as the issue states them.
    assert total[0] == 8e9 and used[0] == 3e9
    fired = min(seconds(c["eval_time"]) for c in test["alert_rule_test"] if c["exp_alerts"])
    assert full * step - fired >= lead


# --- the metric contract ----------------------------------------------------------------------

KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "offset", "bool"}
KEYWORDS |= {"group_left", "group_right", "inf", "nan"}
BUILTINS = {"up"}
"""Series Prometheus itself writes."""


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (recorded names included)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges and subqueries
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\boffset\s+-?\w+", " ", expr)
    expr = re.sub(r"\b\d[\w.]*(?:[eE][+-]?\d+)?", " ", expr)  # numbers and durations
    found = set()
    for match in re.finditer(r"[A-Za-z_:][\w:]*", expr):
        rest = expr[match.end() :].lstrip()
        if match.group() not in KEYWORDS and not rest.startswith("("):
            found.add(match.group())
    return found


EXTRACTION_CASES = {
    "selector": ('agentwatch_gpu_up{job="a",x=~"1|2"} == 0', {"agentwatch_gpu_up"}),
    "functions-and-ranges": (
        "max_over_time(a_b[2m]) > 0 and a_b offset 5m",
        {"a_b"},
    ),
    "grouping": (
        "sum by (job, le) (rate(x_bucket[5m])) / ignoring (le) group_left sum(y)",
        {"x_bucket", "y"},
    ),
    "numbers": ("1 - x:y:z * 1e9 + 2.5e-3 < 0.1 * total", {"x:y:z", "total"}),
    "strings": ('time() - a{l="not_a_metric"} < 900', {"a"}),
}


@pytest.mark.parametrize(
    ("expr", "expected"), list(EXTRACTION_CASES.values()), ids=list(EXTRACTION_CASES)
)
def test_metric_names_finds_the_selected_series(expr: str, expected: set[str]) -> None:
    assert metric_names(expr) == expected


def emitted() -> dict[str, names.MetricSpec]:
    """Every series name agentwatch's code emits, as Prometheus (or the collector) writes it."""
    out: dict[str, names.MetricSpec] = {}
    for spec in names.ALL_METRICS:
        if spec.kind is names.Kind.HISTOGRAM:
            for suffix in ("_bucket", "_sum", "_count"):
                out[spec.prom + suffix] = spec
        else:
            out[spec.prom] = spec
    return out


def test_every_metric_the_rules_use_is_one_the_code_emits() -> None:
    known = emitted()
    for rule in rules():
        for name in metric_names(rule["expr"]):
            if ":" in name:
                assert name in recorded(), f"{rule}: {name} is not recorded by any rule"
            else:
                assert name in known or name in BUILTINS, f"{name} is not in core/names.py"


def test_every_label_the_rules_match_or_keep_is_one_the_metric_has() -> None:
    known = emitted()
    target = {"job", "instance", "le"}
    for rule in rules():
        for metric, matchers in re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}", rule["expr"]):
            labels = set(re.findall(r"(\w+)\s*(?:=~|!=|!~|=)", matchers))
            if ":" in metric:  # a recorded series keeps labels of the metrics it is made of
                allowed = {lab for spec in names.ALL_METRICS for lab in spec.labels}
            else:
                allowed = set(known[metric].labels) if metric in known else set()
            assert labels <= allowed | target, f"{metric}: {labels - allowed - target}"
        for clause in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", rule["expr"]):
            for label in filter(None, (label.strip() for label in clause.split(","))):
                spec_labels = {lab for spec in names.ALL_METRICS for lab in spec.labels}
                assert label in spec_labels | target, f"{rule}: unknown label {label}"


def test_the_apps_gpu_selector_is_the_exporters_negated_or_given() -> None:
    assert Config().app_selector == 'job!="agentwatch-exporter"'
    assert Config(exporter_selector='job="gpu-nodes"').app_selector == 'job!="gpu-nodes"'
    with pytest.raises(ValueError, match="app_gpu_selector"):
        Config(exporter_selector='job=~"gpu-.*",cluster="a"')
    given = Config(exporter_selector='job=~"gpu-.*"', app_gpu_selector='job=~"app-.*"')
    assert given.app_selector == 'job=~"app-.*"'
