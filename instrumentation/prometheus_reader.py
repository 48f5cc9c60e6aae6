"""`PrometheusReader`: the SDK's metrics as a Prometheus scrape, written as the collector would.

A pull `MetricReader` (cumulative temporality for every instrument) that collects when asked and
writes the Prometheus text format 0.0.4 or OpenMetrics 1.0. The translation is the one the
OpenTelemetry Collector's `prometheus` exporter applies, so a dashboard or alert reads the same
series whether the app is scraped directly or through a collector:

- names by `agentwatch.otel_names.prometheus_name`: monotonic sums are counters ending in
  `_total`; gauges (`_ratio` for unit `1`) and non-monotonic sums (no suffix) are gauges;
  histograms are `_bucket{le=...}` with cumulative counts and `+Inf`, `_sum` and `_count`;
  exponential histograms are dropped (the text formats cannot carry them), as are exemplars
  and histogram min/max;
- attribute keys with characters other than `[A-Za-z0-9_]` turned into `_` (`key_` before a
  leading digit, `key` before a single leading `_`), the values of keys that collide joined with
  `;` in key order (`NormalizeLabel`, `createAttributes`); values as pcommon's `AsString`;
- `le` as client_golang writes it: `16` in the text format, `16.0` in OpenMetrics;
- the scope as `otel_scope_name`, `otel_scope_version` and `otel_scope_schema_url` labels (when
  not empty), its attributes as `otel_scope_<key>`, on every point; no `otel_scope_info`;
- the resource as one `target_info` info metric (a gauge in the text format) carrying every
  resource attribute, never copied onto other series (the SDK Prometheus exporter spec).

A metric whose name another metric of a different type already took is dropped and logged once;
a series repeated under identical labels keeps its first value, so a scrape is never rejected.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricReader, MetricsData
from opentelemetry.sdk.metrics.export import Gauge as GaugeData
from opentelemetry.sdk.metrics.export import Histogram as HistogramData
from opentelemetry.sdk.metrics.export import Sum as SumData

from agentwatch.names import Kind
from agentwatch.otel_names import prometheus_name

log = logging.getLogger("agentwatch.instrumentation")

_INSTRUMENTS: tuple[type, ...] = (
    Counter,
    UpDownCounter,
    Histogram,
    ObservableCounter,
    ObservableUpDownCounter,
    ObservableGauge,
)
# Cumulative is the SDK's default too; said here because Prometheus cannot take anything else.
_CUMULATIVE = {kind: AggregationTemporality.CUMULATIVE for kind in _INSTRUMENTS}
_Number = Callable[[float], str]
_INVALID_LABEL_CHARS = re.compile(r"[^A-Za-z0-9_]")
_Labels = list[tuple[str, str]]


def go_float(value: float) -> str:
    """`value` as Go's `strconv.FormatFloat(value, 'g', -1, 64)` writes it (client_golang)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    # repr gives the shortest digits that round-trip, as Go's shortest formatting does.
    sign, digit_tuple, exponent = Decimal(repr(value)).as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    exponent += len(digit_tuple) - len(digits)
    point = len(digits) + exponent  # the decimal point's position within `digits`
    minus = "-" if sign else ""
    exp10 = point - 1
    if exp10 < -4 or exp10 >= 6:  # Go's %e threshold for the shortest form
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{minus}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{minus}{digits}{'0' * (point - len(digits))}"
    return f"{minus}{digits[:point]}.{digits[point:]}"


def openmetrics_float(value: float) -> str:
    """`value` as client_golang writes an OpenMetrics number: always with a `.` or exponent."""
    text = go_float(value)
    if text[-1].isdigit() and "." not in text and "e" not in text:
        return text + ".0"
    return text


def label_name(key: str) -> str:
    """An attribute key as a Prometheus label name, as the collector's `NormalizeLabel` does."""
    if not key:
        return key
    name = _INVALID_LABEL_CHARS.sub("_", key)
    if name[0].isdigit():
        return "key_" + name
    if name.startswith("_") and not name.startswith("__"):
        return "key" + name
    return name


def label_value(value: Any) -> str:
    """An attribute value as a string, as pcommon's `Value.AsString` writes it."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return go_float(value)
        return format(Decimal(repr(value)).normalize(), "f")  # Go's 'f' with precision -1
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, Iterable):
        return json.dumps(list(value), separators=(",", ":"), default=str)
    return str(value)


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _labels(attributes: Mapping[str, Any] | None) -> dict[str, str]:
    """Attributes as labels; values of keys that normalise alike are joined with `;`."""
    out: dict[str, str] = {}
    attrs = attributes or {}
    for key in sorted(attrs):
        name = label_name(key)
        if not name:
            continue
        text = label_value(attrs[key])
        out[name] = f"{out[name]};{text}" if name in out else text
    return out


def _scope_labels(scope: Any) -> dict[str, str]:
    out = {f"otel_scope_{k}": v for k, v in _labels(getattr(scope, "attributes", None)).items()}
    for name, value in (
        ("otel_scope_name", scope.name),
        ("otel_scope_version", scope.version),
        ("otel_scope_schema_url", scope.schema_url),
    ):
        if value:
            out[name] = value
    return out


def _render_labels(labels: Mapping[str, str], le: str | None = None) -> str:
    pairs = [f'{name}="{_escape(labels[name])}"' for name in sorted(labels)]
    if le is not None:
        pairs.append(f'le="{le}"')  # last, as client_golang writes it
    return "{" + ",".join(pairs) + "}" if pairs else ""


@dataclass
class _Family:
    name: str
    kind: Kind
    help: str
    lines: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)


class PrometheusReader(MetricReader):
    """A pull reader whose `render()` collects now and writes a Prometheus exposition."""

    def __init__(self) -> None:
        super().__init__(preferred_temporality=_CUMULATIVE)
        # Reentrant: collect() calls _receive_metrics() on this thread while render() holds it.
        self._lock = threading.RLock()
        self._data: MetricsData | None = None
        self._shut_down = False
        self._dropped: set[str] = set()

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        with self._lock:
            self._data = metrics_data

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Stop collecting; later renders are empty."""
        with self._lock:
            self._shut_down = True
            self._data = None

    def render(self, openmetrics: bool = False, *, eof: bool = True) -> bytes:
        """Collect now and write the exposition; `eof=False` leaves OpenMetrics' `# EOF` off."""
        with self._lock:
            data = None
            if not self._shut_down:
                self.collect()
                data, self._data = self._data, None
            text = self._write(data, openmetrics) if data is not None else ""
        if openmetrics and eof:
            text += "# EOF\n"
        return text.encode()

    def _write(self, data: MetricsData, openmetrics: bool) -> str:
        families: dict[str, _Family] = {}
        target: dict[str, str] | None = None
        number = openmetrics_float if openmetrics else go_float
        for resource_metrics in data.resource_metrics:
            if target is None:  # at most one target_info: the SDK has one resource anyway
                target = _labels(resource_metrics.resource.attributes) or None
            for scope_metrics in resource_metrics.scope_metrics:
                scope = _scope_labels(scope_metrics.scope)
                for metric in scope_metrics.metrics:
                    self._add(families, metric, scope, number)
        out: list[str] = []
        for family in families.values():
            if family.lines:
                out.append(_heads(family, openmetrics))
                out.extend(family.lines)
        if target:
            kind = "info" if openmetrics else "gauge"
            head = "target" if openmetrics else "target_info"
            out.append(f"# HELP {head} Target metadata\n# TYPE {head} {kind}\n")
            out.append(f"target_info{_render_labels(target)} 1\n")
        return "".join(out)

    def _add(
        self, families: dict[str, _Family], metric: Any, scope: dict[str, str], number: _Number
    ) -> None:
        data = metric.data
        # `naming` is the OTel type as the collector's name rules see it: `_total` for monotonic
        # sums, `_ratio` for gauges with unit 1, and neither for a non-monotonic sum (served as
        # a gauge), as for a histogram.
        if isinstance(data, HistogramData):
            kind = naming = Kind.HISTOGRAM
        elif isinstance(data, SumData):
            kind = Kind.COUNTER if data.is_monotonic else Kind.GAUGE
            naming = Kind.COUNTER if data.is_monotonic else Kind.HISTOGRAM
        elif isinstance(data, GaugeData):
            kind = naming = Kind.GAUGE
        else:
            self._drop(metric.name, f"{type(data).__name__} has no Prometheus text form")
            return
        name = prometheus_name(metric.name, metric.unit or "", naming)
        family = families.get(name)
        if family is None:
            family = families[name] = _Family(name, kind, metric.description or metric.name)
        elif family.kind is not kind:
            self._drop(metric.name, f"{name} is already a {family.kind.value}")
            return
        for point in data.data_points:
            labels = {**_labels(point.attributes), **scope}
            key = _render_labels(labels)
            if key in family.seen:
                continue
            family.seen.add(key)
            if kind is Kind.HISTOGRAM:
                family.lines.extend(_histogram_lines(name, labels, point, number))
            else:
                family.lines.append(f"{name}{key} {number(float(point.value))}\n")

    def _drop(self, metric: str, why: str) -> None:
        if metric not in self._dropped:
            self._dropped.add(metric)
            log.warning("metric %s is not served on /metrics: %s", metric, why)


def _heads(family: _Family, openmetrics: bool) -> str:
    kind = family.kind.value
    if not openmetrics:
        help_text = family.help.replace("\\", r"\\").replace("\n", r"\n")
        return f"# HELP {family.name} {help_text}\n# TYPE {family.name} {kind}\n"
    name = family.name.removesuffix("_total") if family.kind is Kind.COUNTER else family.name
    return f"# HELP {name} {_escape(family.help)}\n# TYPE {name} {kind}\n"


def _histogram_lines(name: str, labels: dict[str, str], point: Any, number: _Number) -> list[str]:
    """A histogram point's cumulative buckets, sum and count; `number` also writes `le`."""
    lines: list[str] = []
    running = 0
    # The SDK reports one count per bound plus the overflow bucket, each on its own.
    for bound, count in zip([*point.explicit_bounds, math.inf], point.bucket_counts, strict=True):
        running += count
        le = number(bound)
        lines.append(f"{name}_bucket{_render_labels(labels, le)} {number(float(running))}\n")
    key = _render_labels(labels)
    lines.append(f"{name}_sum{key} {number(float(point.sum))}\n")
    lines.append(f"{name}_count{key} {number(float(point.count))}\n")
    return lines
