"""Metric points recorded through bound aggregations: what the SDK's `record()` does, cheaper.

Every LLM call records four to six points, almost always under the attribute sets of the last
call (one model, one provider, one server). The OpenTelemetry SDK's `record()` and `add()`
re-validate, copy and hash those attributes on every point (several microseconds each, most of
an instrumented call's overhead); the API has no bound instruments to avoid it. `Points` binds
an (instrument, attribute set) once, keeping the attributes the SDK cleaned and, per reader,
the view match and aggregation key, and then aggregates each point the way the SDK's
`_ViewInstrumentMatch.consume_measurement` does: the same aggregation, the same lock, the same
exemplar filter and reservoir (a `Measurement` is only built for points the filter samples).

The exported data is the SDK's own, by construction; tests compare it point for point with the
public API's. Anything the fast path does not know falls back to the public `record()`/`add()`:
another SDK version or layout, a disabled or non-SDK instrument, a value the SDK would reject
(it then warns as usual), or a change of readers, which rebinds.
"""

from __future__ import annotations

import math
import threading
from bisect import bisect_left
from collections.abc import Sequence
from time import time_ns
from typing import Any

from opentelemetry import context as otel_context

try:  # the SDK internals the fast path reads; without them, the public API only
    from opentelemetry.sdk.metrics._internal import aggregation as _aggregation
    from opentelemetry.sdk.metrics._internal import exemplar as _exemplar
    from opentelemetry.sdk.metrics._internal import instrument as _instrument
    from opentelemetry.sdk.metrics._internal import measurement_consumer as _consumer
    from opentelemetry.sdk.metrics._internal._view_instrument_match import _hash_attributes
    from opentelemetry.sdk.metrics._internal.measurement import Measurement

    _BINDABLE: tuple[type, ...] = (_instrument._Histogram, _instrument._Counter)
    _CONSUMER: Any = _consumer.SynchronousMeasurementConsumer
    # The aggregations whose aggregate() reads nothing of a point but its value (and, for a
    # sampled exemplar, the whole Measurement): explicit-bucket histograms and sums.
    _HISTOGRAM: Any = _aggregation._ExplicitBucketHistogramAggregation
    _AGGREGATIONS: tuple[type, ...] = (_HISTOGRAM, _aggregation._SumAggregation)
    # The SDK's filters, whose answer depends on the context only (never on the value).
    _VALUE_FREE_FILTERS: tuple[type, ...] = (
        _exemplar.AlwaysOnExemplarFilter,
        _exemplar.AlwaysOffExemplarFilter,
        _exemplar.TraceBasedExemplarFilter,
    )
except ImportError:  # pragma: no cover - another SDK layout
    _BINDABLE, _CONSUMER, _HISTOGRAM, _AGGREGATIONS, _VALUE_FREE_FILTERS = (), None, None, (), ()

MAX_BOUND = 1024
"""Bound attribute sets kept; past this the oldest half is dropped (model names are bounded,
so only a process with very many servers or error types ever gets here)."""


class _Value:
    """What an aggregation reads of a point the exemplar filter did not sample: its value."""

    __slots__ = ("value",)

    def __init__(self, value: float) -> None:
        self.value = value


class _Bound:
    """One instrument under one attribute set: where its points go, per reader."""

    __slots__ = ("instrument", "attributes", "storages", "targets", "filter")

    def __init__(
        self, instrument: Any, attributes: Any, storages: Any, targets: list[Any], flt: Any
    ) -> None:
        self.instrument = instrument
        self.attributes = attributes
        self.storages = storages
        self.targets = targets
        self.filter = flt

    def aggregate(self, value: float) -> None:
        ctx = otel_context.get_current()
        should = self.filter.should_sample(value, 0, self.attributes, ctx)
        point: Any
        if should:
            point = Measurement(value, time_ns(), self.instrument, ctx, self.attributes)
        else:
            point = _Value(value)
        for match, key, attributes in self.targets:
            if match._reset_on_collect:
                # Delta readers swap aggregations out on collect: hold the lock, as the SDK does.
                with match._lock:
                    match._get_or_create_aggregation(key, attributes).aggregate(point, should)
                continue
            aggregation = match._attributes_aggregation.get(key)
            if aggregation is None:
                with match._lock:
                    aggregation = match._get_or_create_aggregation(key, attributes)
            aggregation.aggregate(point, should)

    def aggregate_many(self, values: Sequence[float]) -> None:
        """`aggregate()` of each of `values` (all valid), with one lock per aggregation.

        The SDK's exemplar filters decide on the context, not the value: asked once. Points
        it samples go one by one (each exemplar needs its Measurement); the others are added
        to an explicit-bucket histogram in one update, as its `aggregate()` would add them.
        """
        ctx = otel_context.get_current()
        flt = self.filter
        if type(flt) not in _VALUE_FREE_FILTERS or flt.should_sample(values[0], 0, None, ctx):
            for value in values:
                self.aggregate(value)
            return
        for match, key, attributes in self.targets:
            if match._reset_on_collect:
                with match._lock:  # as in aggregate(): collect() must not swap it meanwhile
                    _add_all(match._get_or_create_aggregation(key, attributes), values)
                continue
            aggregation = match._attributes_aggregation.get(key)
            if aggregation is None:
                with match._lock:
                    aggregation = match._get_or_create_aggregation(key, attributes)
            _add_all(aggregation, values)


def _add_all(aggregation: Any, values: Sequence[float]) -> None:
    if type(aggregation) is _HISTOGRAM:
        _add_to_histogram(aggregation, values)
    else:
        for value in values:
            aggregation.aggregate(_Value(value), False)


def _add_to_histogram(aggregation: Any, values: Sequence[float]) -> None:
    """What `_ExplicitBucketHistogramAggregation.aggregate` does for each value, under one lock."""
    with aggregation._lock:
        if aggregation._value is None:
            aggregation._value = aggregation._get_empty_bucket_counts()
        counts, boundaries, total = aggregation._value, aggregation._boundaries, aggregation._sum
        for value in values:
            total += value
            counts[bisect_left(boundaries, value)] += 1
        aggregation._sum = total
        if aggregation._record_min_max:
            aggregation._min = min(aggregation._min, *values)
            aggregation._max = max(aggregation._max, *values)


class Points:
    """Records points into SDK instruments through cached bindings; thread-safe."""

    def __init__(self) -> None:
        self._bound: dict[tuple[Any, ...], _Bound | None] = {}  # None: use the public API
        self._lock = threading.Lock()

    def record(self, instrument: Any, value: float, attributes: dict[str, Any]) -> None:
        """`instrument.record(value, attributes)` (or `add` for a counter), same result."""
        if not (value >= 0 and value != math.inf):  # rejected (and warned about) by the SDK
            self._public(instrument, value, attributes)
            return
        bound = self._binding(instrument, attributes)
        if bound is None:
            self._public(instrument, value, attributes)
        else:
            bound.aggregate(value)

    def record_all(
        self, instrument: Any, values: Sequence[float], attributes: dict[str, Any]
    ) -> None:
        """`record()` of each of `values`, in order, under one attribute set."""
        if not values:
            return
        bound = self._binding(instrument, attributes)
        if bound is not None and all(v >= 0 and v != math.inf for v in values):
            bound.aggregate_many(values)
            return
        for value in values:
            if bound is None or not (value >= 0 and value != math.inf):
                self._public(instrument, value, attributes)
            else:
                bound.aggregate(value)

    @staticmethod
    def _public(instrument: Any, value: float, attributes: dict[str, Any]) -> None:
        if hasattr(instrument, "record"):
            instrument.record(value, attributes)
        else:
            instrument.add(value, attributes)

    def _binding(self, instrument: Any, attributes: dict[str, Any]) -> _Bound | None:
        try:
            key = (instrument, *attributes.items())
            known = key in self._bound
        except TypeError:  # an unhashable attribute value (a list): the public API
            return None
        if known:
            bound = self._bound.get(key)
        else:
            bound = self._bind(instrument, attributes)
            with self._lock:
                if len(self._bound) >= MAX_BOUND:
                    for stale in list(self._bound)[: MAX_BOUND // 2]:
                        del self._bound[stale]
                self._bound[key] = bound
        if bound is None:
            return None
        if bound.storages is not instrument._measurement_consumer._reader_storages:
            with self._lock:
                self._bound.pop(key, None)  # readers changed: bind again next time
            return None
        if not instrument._is_enabled():
            return None
        return bound

    @staticmethod
    def _bind(instrument: Any, attributes: dict[str, Any]) -> _Bound | None:
        """The binding of `instrument` under `attributes`, or None to use the public API."""
        if type(instrument) not in _BINDABLE or _CONSUMER is None:
            return None
        try:
            consumer: Any = instrument._measurement_consumer
            if type(consumer) is not _CONSUMER:
                return None
            # The SDK's own cleaning of the attributes, done once.
            clean = Measurement(0, 0, instrument, otel_context.get_current(), attributes).attributes
            storages = consumer._reader_storages
            targets = []
            for storage in storages.values():
                for match in storage._get_or_init_view_instrument_match(instrument):
                    attrs = dict(clean) if clean else {}
                    keys = match._view._attribute_keys
                    if keys is not None:
                        attrs = {k: v for k, v in attrs.items() if k in keys}
                    key = _hash_attributes(attrs)
                    with match._lock:
                        aggregation = match._get_or_create_aggregation(key, attrs)
                    if type(aggregation) not in _AGGREGATIONS:
                        return None
                    targets.append((match, key, attrs))
            return _Bound(
                instrument, clean, storages, targets, consumer._sdk_config.exemplar_filter
            )
        except Exception:  # noqa: BLE001 - internals that differ: the public API, always correct
            return None
