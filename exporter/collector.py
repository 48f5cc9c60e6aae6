"""The Prometheus collector: the latest `Snapshot` as metric families."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from agentwatch.exporter.model import Snapshot
from agentwatch.exporter.observations import observations
from agentwatch.names import Kind

PROMETHEUS_UNITS = {
    "By": "bytes",
    "s": "seconds",
    "1": "ratio",
    "Cel": "celsius",
    "W": "watts",
    "J": "joules",
    "By/s": "bytes_per_second",
}
"""OpenTelemetry units of the contract as the Prometheus unit words that end the names."""


class SnapshotCollector:
    """Expose whatever snapshot `source` returns; nothing while it returns None."""

    def __init__(self, source: Callable[[], Snapshot | None]) -> None:
        self._source = source

    def describe(self) -> Iterable[Metric]:
        # Nothing to describe up front: registering must never touch a backend.
        return []

    def collect(self) -> Iterable[Metric]:
        """Build fresh families from the snapshot."""
        snapshot = self._source()
        if snapshot is None:
            return
        for spec, samples in observations(snapshot):
            unit = PROMETHEUS_UNITS.get(spec.unit, "")
            family: GaugeMetricFamily | CounterMetricFamily
            if spec.kind is Kind.COUNTER:
                family = CounterMetricFamily(spec.family, spec.help, labels=spec.labels, unit=unit)
            else:
                family = GaugeMetricFamily(spec.prom, spec.help, labels=spec.labels, unit=unit)
            for labels, value in samples:
                family.add_metric(labels, value)
            yield family
