"""A fast renderer of the exporter's families, byte for byte what prometheus_client writes.

`generate_latest` re-validates and escapes every label name of every sample; with 8 GPUs and 64
processes that is most of a collection cycle. The exporter's families are fixed (the specs of
`names.EXPORTER_METRICS`), so their HEAD lines are built once, and a label set's rendered text
is cached as long as the series lives (a process's labels repeat every cycle). A test pins the
output to `generate_latest` over `SnapshotCollector`, in both formats.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from prometheus_client.utils import floatToGoString

from agentwatch import names
from agentwatch.exporter.collector import PROMETHEUS_UNITS
from agentwatch.exporter.model import Snapshot
from agentwatch.exporter.observations import observations
from agentwatch.names import Kind, MetricSpec

_MAX_CACHED_LABELS = 20_000
_format_value = cast(Callable[[float], str], floatToGoString)  # untyped in prometheus_client


def _escape_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _heads(spec: MetricSpec) -> tuple[str, str]:
    """HELP/TYPE(/UNIT) lines of `spec` in the text format and in OpenMetrics."""
    kind = "counter" if spec.kind is Kind.COUNTER else "gauge"
    text_help = spec.help.replace("\\", r"\\").replace("\n", r"\n")
    text = f"# HELP {spec.prom} {text_help}\n# TYPE {spec.prom} {kind}\n"
    family = spec.family
    unit = PROMETHEUS_UNITS.get(spec.unit, "")
    om = f"# HELP {family} {_escape_value(spec.help)}\n# TYPE {family} {kind}\n"
    if unit:
        om += f"# UNIT {family} {unit}\n"
    return text, om


class Renderer:
    """Renders a snapshot's families; keeps a cache of label strings between calls."""

    def __init__(self) -> None:
        self._heads = {spec.prom: _heads(spec) for spec in names.EXPORTER_METRICS}
        # Label names sorted as prometheus_client sorts them, with each name's position.
        self._order = {
            spec.prom: [spec.labels.index(n) for n in sorted(spec.labels)]
            for spec in names.EXPORTER_METRICS
        }
        self._labels: dict[tuple[str, tuple[str, ...]], str] = {}

    def render(self, snapshot: Snapshot, openmetrics: bool) -> str:
        """The families of `snapshot` (without `# EOF`, which ends the whole exposition)."""
        if len(self._labels) > _MAX_CACHED_LABELS:
            self._labels.clear()  # series churned (pids come and go): start afresh
        cache = self._labels
        out: list[str] = []
        for spec, samples in observations(snapshot):
            heads = self._heads[spec.prom]
            out.append(heads[1] if openmetrics else heads[0])
            name = spec.prom
            order = self._order[name]
            sorted_names = sorted(spec.labels)
            for values, value in samples:
                key = (name, values)
                labels = cache.get(key)
                if labels is None:
                    if values:
                        inner = ",".join(
                            f'{n}="{_escape_value(values[i])}"'
                            for n, i in zip(sorted_names, order, strict=True)
                        )
                        labels = f"{name}{{{inner}}} "
                    else:
                        labels = f"{name} "
                    cache[key] = labels
                out.append(labels)
                out.append(_format_value(value))
                out.append("\n")
        return "".join(out)
