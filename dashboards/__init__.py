"""Grafana dashboards generated from the metric contract: `python -m agentwatch.dashboards`.

One generator module per dashboard (`gpu_fleet`, `llm_service`, `correlation`,
`agent_reliability`, `exporter_health`), each with a `build()` returning the grafanalib
dashboard; `common` holds what they share. Metric names come from `agentwatch.names`, recorded
series and thresholds from `agentwatch.alerts.rules`, so a dashboard cannot query a series
nothing emits, nor draw a threshold the alerts do not use. The committed `json/*.json` are the
generators' output, and `--check` (and a test) fails when they drift.
"""

from __future__ import annotations

GENERATORS: tuple[str, ...] = (
    "gpu_fleet",
    "llm_service",
    "correlation",
    "agent_reliability",
    "exporter_health",
)
"""The generator modules, in the order of the dashboards' links."""
