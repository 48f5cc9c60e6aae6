"""The OpenTelemetry Collector's OTel → Prometheus metric name translation, with suffixes.

This is what the collector's `prometheus` and `prometheusremotewrite` exporters do with
`add_metric_suffixes: true` (their default), so the names dashboards and alerts query can be
derived from, and checked against, the OTel names the code emits (`tests/test_names.py`).

Source: opentelemetry-collector-contrib, `pkg/translator/prometheus/normalize_name.go`
(`BuildCompliantName` → `normalizeName`, `unitMap`, `perUnitMap`; the same rules live on in
`github.com/prometheus/otlptranslator`, `metric_namer.go` and `unit_namer.go`). The rules:

1. the name is split into tokens at every character that is not a letter or a digit;
2. the unit is split at the first `/`; the main part maps through `unitMap` (`By` → `bytes`,
   `s` → `seconds`, `1` → nothing, unknown units pass through cleaned), the per part through
   `perUnitMap` (`s` → `second`) and gains a `per` token; a part holding a `{...}` annotation is
   dropped, and a part already present as a token of the name is not added again;
3. a monotonic counter ends in `total` (moved to the end if the name already has it);
4. a gauge with unit exactly `1` ends in `ratio` (gauges only: counters with unit `1` are
   usually counts of things, not ratios);
5. tokens are joined with `_`; a leading digit gains a `_` prefix.

One deliberate narrowing: tokens are ASCII letters and digits, where the Go code uses Unicode
classes; a non-ASCII letter would make an invalid classic Prometheus name anyway.
"""

from __future__ import annotations

import re

from agentwatch.names import Kind

_UNITS: dict[str, str] = {
    # Time
    "d": "days",
    "h": "hours",
    "min": "minutes",
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
    # Bytes
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "GiBy": "gibibytes",
    "TiBy": "tibibytes",
    "KBy": "kilobytes",
    "MBy": "megabytes",
    "GBy": "gigabytes",
    "TBy": "terabytes",
    # SI
    "m": "meters",
    "V": "volts",
    "A": "amperes",
    "J": "joules",
    "W": "watts",
    "g": "grams",
    # Misc
    "Cel": "celsius",
    "Hz": "hertz",
    "1": "",
    "%": "percent",
}
"""UCUM main units → Prometheus unit words (`unitMap`)."""

_PER_UNITS: dict[str, str] = {
    "s": "second",
    "m": "minute",
    "h": "hour",
    "d": "day",
    "w": "week",
    "mo": "month",
    "y": "year",
}
"""UCUM units after a `/` → singular words (`perUnitMap`)."""

_SEPARATORS = re.compile(r"[^A-Za-z0-9]+")


def _tokens(text: str) -> list[str]:
    return [token for token in _SEPARATORS.split(text) if token]


def _unit_word(part: str, mapping: dict[str, str]) -> str:
    """The cleaned Prometheus word for one side of a unit; empty when it adds nothing."""
    part = part.strip()
    if not part or "{" in part or "}" in part:
        return ""
    return "_".join(_tokens(mapping.get(part, part)))


def prometheus_name(otel_name: str, unit: str, kind: Kind) -> str:
    """The Prometheus name the collector gives an OTel metric `otel_name` with `unit`."""
    tokens = _tokens(otel_name)
    main, _, per = unit.partition("/")

    main_word = _unit_word(main, _UNITS)
    if main_word and main_word not in tokens:
        tokens.append(main_word)
    per_word = _unit_word(per, _PER_UNITS)
    if per_word and per_word not in tokens:
        tokens += ["per", per_word]

    if kind is Kind.COUNTER:
        tokens = [token for token in tokens if token != "total"] + ["total"]
    # The raw unit, untrimmed, as the collector compares it.
    if unit == "1" and kind is Kind.GAUGE:
        tokens = [token for token in tokens if token != "ratio"] + ["ratio"]

    name = "_".join(tokens)
    if name[:1].isdigit():
        name = "_" + name
    return name
