"""What every agentwatch dashboard shares: datasource, variables, links, units, panels, layout.

This is the one module that imports grafanalib (untyped, pinned): the five generators build
their dashboards from the helpers here, so they speak in metric specs, selectors and
thresholds, never in Grafana's JSON. Every panel gets the `${datasource}` variable, a unit and
a description; `Layout` places panels left to right in rows of 24 columns and numbers them in
order, so the ids and positions of a dashboard are a pure function of its generator.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import attr
import grafanalib.core as g  # type: ignore[import-untyped]
from grafanalib._gen import DashboardEncoder  # type: ignore[import-untyped]

from agentwatch import names

DATASOURCE: dict[str, str] = {"type": "prometheus", "uid": "${datasource}"}
"""Every panel, target, variable and annotation queries the dashboard's datasource variable."""
TAG = "agentwatch"
SCHEMA_VERSION = 39
"""Grafana 10/11's schema: the panels here are the `timeseries`/`stat`/`table` kind."""
RATE = "$__rate_interval"
ALL = ".*"
"""The regex the `All` option of every multi-value variable stands for."""

UIDS: dict[str, str] = {
    "gpu_fleet": "agentwatch-gpu-fleet",
    "llm_service": "agentwatch-llm-service",
    "correlation": "agentwatch-correlation",
    "agent_reliability": "agentwatch-agent-reliability",
    "exporter_health": "agentwatch-exporter-health",
}
"""Stable uids (links and provisioning depend on them), by generator module."""
TITLES: dict[str, str] = {
    "gpu_fleet": "agentwatch / GPU fleet",
    "llm_service": "agentwatch / LLM service",
    "correlation": "agentwatch / Correlation",
    "agent_reliability": "agentwatch / Agent reliability",
    "exporter_health": "agentwatch / Exporter health",
}

Json = dict[str, Any]
Steps = list[Json]


def metric(spec: names.MetricSpec, part: str = "") -> str:
    """The Prometheus series name of `spec`; `part` is `bucket`, `sum` or `count` of a histogram."""
    if part and spec.kind is not names.Kind.HISTOGRAM:
        raise ValueError(f"{spec.prom} is no histogram: it has no _{part}")
    return f"{spec.prom}_{part}" if part else spec.prom


def select(name: str, *matchers: str) -> str:
    """`name{m1,m2}`, leaving out empty matchers (a Config selector may be empty)."""
    kept = [m for m in matchers if m]
    return f"{name}{{{','.join(kept)}}}" if kept else name


def matches(label: str, regex: str) -> str:
    """A regex matcher, `label=~"regex"`."""
    return f'{label}=~"{regex}"'


def steps(base: str, *levels: tuple[float, str]) -> Steps:
    """Grafana threshold steps: `base` colour below the first level, then each (value, colour)."""
    return [{"color": base, "value": None}] + [{"color": c, "value": v} for v, c in levels]


NO_STEPS = steps("green")


@attr.s
class Target(g.Target):  # type: ignore[misc]
    """A Prometheus query of a panel: code mode, range or instant, exemplars where asked."""

    exemplar: bool = attr.ib(default=False)

    def to_json_data(self) -> Json:
        data: Json = super().to_json_data()
        data.update(
            datasource=DATASOURCE,
            editorMode="code",
            exemplar=self.exemplar,
            range=not self.instant,
        )
        # Fields of Graphite and old Grafana that grafanalib writes for every target.
        for key in ("target", "metric", "step", "query", "intervalFactor"):
            data.pop(key, None)
        return data


def target(
    expr: str,
    legend: str = "",
    *,
    instant: bool = False,
    table: bool = False,
    exemplar: bool = False,
) -> Target:
    """One query; its refId is given by the panel (A, B, ...)."""
    # grafanalib's fields are invisible to mypy (an untyped base class): pass them as a mapping.
    fields: Json = {
        "expr": expr,
        "legendFormat": legend,
        "instant": instant,
        "format": g.TABLE_TARGET_FORMAT if table else g.TIME_SERIES_TARGET_FORMAT,
        "exemplar": exemplar,
    }
    return Target(**fields)


def _refs(targets: Sequence[Target]) -> list[Target]:
    refs: list[Json] = [{"refId": chr(ord("A") + i)} for i in range(len(targets))]
    return [attr.evolve(t, **ref) for t, ref in zip(targets, refs, strict=True)]


def _defaults(unit: str, thresholds: Steps, extra: Json | None = None) -> Json:
    defaults: Json = {"unit": unit, "thresholds": {"mode": "absolute", "steps": thresholds}}
    return {"fieldConfig": {"defaults": {**defaults, **(extra or {})}}}


def timeseries(
    title: str,
    description: str,
    targets: Sequence[Target],
    unit: str,
    *,
    thresholds: Steps | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    bars: bool = False,
    stack: bool = False,
) -> Any:
    """A time series panel; thresholds, when given, are drawn as dashed lines."""
    limits = {k: v for k, v in (("min", minimum), ("max", maximum)) if v is not None}
    return g.TimeSeries(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=_refs(targets),
        unit=unit,
        drawStyle="bars" if bars else "line",
        fillOpacity=60 if bars else 10,
        stacking={"mode": "normal", "group": "A"} if stack else {},
        thresholdsStyleMode="dashed" if thresholds else "off",
        legendDisplayMode="table",
        legendCalcs=["lastNotNull", "max"],
        tooltipMode="multi",
        tooltipSort="desc",
        extraJson=_defaults(unit, thresholds or NO_STEPS, limits),
    )


def stat(
    title: str,
    description: str,
    targets: Sequence[Target],
    unit: str,
    *,
    thresholds: Steps | None = None,
    mappings: list[Json] | None = None,
    no_value: str = "no data",
    reduce: str = "lastNotNull",
) -> Any:
    """A stat panel coloured by its thresholds."""
    return g.Stat(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=_refs(targets),
        format=unit,
        colorMode="background",
        graphMode="none",
        reduceCalc=reduce,
        noValue=no_value,
        mappings=mappings or [],
        thresholds=thresholds or NO_STEPS,
        extraJson=_defaults(unit, thresholds or NO_STEPS),
    )


def state_timeline(
    title: str,
    description: str,
    targets: Sequence[Target],
    unit: str,
    *,
    thresholds: Steps,
    mappings: list[Json] | None = None,
) -> Any:
    """A state timeline (one lane per series), coloured by thresholds or value mappings."""
    return g.StateTimeline(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=_refs(targets),
        mappings=mappings or [],
        extraJson=_defaults(unit, thresholds),
    )


def table(
    title: str,
    description: str,
    targets: Sequence[Target],
    unit: str,
    *,
    columns: dict[str, str],
    units: dict[str, str] | None = None,
    sort_by: str = "",
    thresholds: Steps | None = None,
) -> Any:
    """A table of instant queries merged on their labels.

    `columns` maps the labels (and `Value #A`, ... for the queries' values) to shown names, in
    order; other labels are hidden. `units` gives per-column units by shown name.
    """
    organize = {
        "id": "organize",
        "options": {
            "excludeByName": {"Time": True},
            "indexByName": {key: i for i, key in enumerate(columns)},
            "renameByName": columns,
        },
    }
    keep = {"id": "filterFieldsByName", "options": {"include": {"names": list(columns)}}}
    overrides = [
        {
            "matcher": {"id": "byName", "options": name},
            "properties": [{"id": "unit", "value": u}],
        }
        for name, u in (units or {}).items()
    ]
    return g.Table(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=_refs(targets),
        unit=unit,
        overrides=overrides,
        sortBy=[g.TableSortByField(displayName=sort_by, desc=True)] if sort_by else [],
        transformations=[{"id": "merge", "options": {}}, keep, organize],
        extraJson=_defaults(unit, thresholds or NO_STEPS),
    )


def text(title: str, description: str, content: str) -> Any:
    """A Markdown text panel."""
    return g.Text(title=title, description=description, content=content)


def simulated_banner() -> Any:
    """A banner that turns red only while simulated GPU series exist in the datasource.

    Empty and transparent otherwise: simulated data can never be mistaken for real data
    (DESIGN.md), and real data carries no banner.
    """
    simulated = select(metric(names.GPU_INFO), 'simulated="true"')
    query = f"count({simulated}) > 0"
    mapping = {
        "type": "range",
        "options": {
            "from": 1,
            "to": 1e9,
            "result": {"color": "red", "index": 0, "text": "SIMULATED GPU DATA: not from hardware"},
        },
    }
    panel = stat(
        "Simulated data",
        'Red while any GPU series in this datasource carries simulated="true" (the exporter\'s'
        " simulated backend); empty when every GPU is real.",
        [target(query, "simulated GPUs", instant=True)],
        "none",
        thresholds=steps("red"),
        mappings=[mapping],
        no_value=" ",
    )
    return attr.evolve(panel, transparent=True, textMode="value")


def datasource_variable() -> Any:
    """The Prometheus datasource the whole dashboard queries."""
    return g.Template(
        name="datasource",
        label="Data source",
        query="prometheus",
        type="datasource",
        default="default",
        includeAll=False,
        regex="",
    )


def query_variable(name: str, label: str, series: str, label_name: str) -> Any:
    """A multi-value variable over the values of `label_name` of `series`, All by default."""
    variable = g.Template(
        name=name,
        label=label,
        query=f"label_values({series}, {label_name})",
        dataSource=DATASOURCE,
        default="All",
        includeAll=True,
        multi=True,
        allValue=ALL,
        refresh=g.REFRESH_ON_TIME_RANGE_CHANGE,
        regex="",
    )
    # grafanalib's current value is the default's text; Grafana's All is the value `$__all`.
    variable._current = {"selected": True, "text": ["All"], "value": ["$__all"]}
    return variable


def links(current: str) -> list[Any]:
    """A link to each other agentwatch dashboard, keeping the time range and the variables."""
    return [
        g.DashboardLink(
            type="link",
            title=TITLES[key].split(" / ", 1)[1],
            uri=f"/d/{uid}",
            tooltip=TITLES[key],
            icon="dashboard",
            includeVars=True,
            keepTime=True,
        )
        for key, uid in UIDS.items()
        if key != current
    ]


def annotation(name: str, expr: str, title: str, text_format: str, color: str) -> Json:
    """A Prometheus annotation: a marker wherever `expr` has a sample."""
    return {
        "datasource": DATASOURCE,
        "enable": True,
        "expr": expr,
        "iconColor": color,
        "name": name,
        "step": "60s",
        "titleFormat": title,
        "textFormat": text_format,
        "useValueForTime": False,
    }


@dataclass
class Layout:
    """Places panels in rows of 24 columns, left to right, and numbers them in order."""

    panels: list[Any] = field(default_factory=list)
    _x: int = 0
    _y: int = 0
    _row_height: int = 0

    def _next_id(self) -> int:
        return len(self.panels) + 1

    def _newline(self) -> None:
        self._y += self._row_height
        self._x = self._row_height = 0

    def row(self, title: str) -> None:
        """A full-width row header."""
        self._newline()
        pos = g.GridPos(h=1, w=24, x=0, y=self._y)
        self.panels.append(g.RowPanel(title=title, gridPos=pos, id=self._next_id()))
        self._y += 1

    def add(self, panel: Any, w: int = 12, h: int = 8) -> None:
        """Place `panel` w columns wide, on a new line when it does not fit."""
        if self._x + w > 24:
            self._newline()
        pos = g.GridPos(h=h, w=w, x=self._x, y=self._y)
        self.panels.append(attr.evolve(panel, gridPos=pos, id=self._next_id()))
        self._x += w
        self._row_height = max(self._row_height, h)


def dashboard(
    key: str,
    description: str,
    layout: Layout,
    variables: Sequence[Any],
    annotations: Sequence[Json] = (),
) -> Any:
    """The dashboard `key` (a generator module's name), with the banner and links of all."""
    return g.Dashboard(
        title=TITLES[key],
        uid=UIDS[key],
        description=description,
        tags=[TAG],
        timezone="browser",
        refresh="30s",
        schemaVersion=SCHEMA_VERSION,
        graphTooltip=g.GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR,
        editable=True,
        links=links(key),
        panels=layout.panels,
        templating=g.Templating(list=[datasource_variable(), *variables]),
        annotations=g.Annotations(list=list(annotations)),
        time=g.Time("now-1h", "now"),
    )


def banner_layout() -> Layout:
    """A new layout that starts with the simulated-data banner."""
    layout = Layout()
    layout.add(simulated_banner(), w=24, h=2)
    return layout


def render(board: Any) -> str:
    """The dashboard's JSON text: sorted keys, two-space indent, a final newline."""
    data = json.loads(json.dumps(board.to_json_data(), cls=DashboardEncoder))
    # grafanalib writes the pre-Grafana-5 `rows` and a per-panel null `datasource` on rows.
    data.pop("rows", None)
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
