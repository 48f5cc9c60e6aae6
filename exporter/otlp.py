"""Optional OTLP push of the exporter's metrics, through a `MeterProvider` of its own.

The pusher sends exactly what `/metrics` serves (`observations.observations`), named by the
OTel side of each `MetricSpec`. It never touches the global meter provider, so it cannot
interfere with a user's own OpenTelemetry setup, and it is imported only when OTLP is enabled,
so the exporter does not pay for the SDK otherwise.

An unreachable or failing collector never stops the exporter: exports run on the SDK's reader
thread, are bounded by `timeout_seconds`, and failures are logged by us at most once a minute
(the SDK logs each failed attempt on its own loggers).
"""

from __future__ import annotations

import importlib
import logging
import math
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import OTELResourceDetector, Resource

from agentwatch import __version__, names
from agentwatch.errors import UsageError
from agentwatch.exporter.model import Snapshot
from agentwatch.exporter.observations import observations
from agentwatch.names import Kind, MetricSpec

logger = logging.getLogger(__name__)

PROTOCOLS = ("http/protobuf", "grpc")
SERVICE_NAME = "agentwatch-exporter"
METER_NAME = "agentwatch.exporter"
LOG_INTERVAL_SECONDS = 60.0
"""At most one failure line of ours per this many seconds."""
SHUTDOWN_GRACE_SECONDS = 3.0
"""How long shutdown waits for the last push by default."""
MAX_PROCESS_SERIES = 1000
"""Distinct process series a meter provider may see before it is replaced (see `_Generation`)."""


class _Throttle:
    """Says yes at most once per `interval` seconds."""

    def __init__(self, interval: float, clock: Callable[[], float]) -> None:
        self._interval = interval
        self._clock = clock
        self._last: float | None = None

    def ready(self) -> bool:
        """True, and start a new quiet period, if the last yes was `interval` ago or never."""
        now = self._clock()
        if self._last is not None and now - self._last < self._interval:
            return False
        self._last = now
        return True


class _PushHealth:
    """Failure and recovery of the push, logged without flooding the log."""

    def __init__(self, endpoint: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._endpoint = endpoint
        self._throttle = _Throttle(LOG_INTERVAL_SECONDS, clock)
        self._lock = threading.Lock()
        self.failures = 0
        """Failed pushes since the last success."""
        self.unreported = 0
        self.last_ok = True

    def record(self, ok: bool) -> None:
        """Note one push's outcome; log a failure at most once a minute, a recovery once."""
        with self._lock:
            if ok:
                if self.failures:
                    logger.info(
                        "OTLP push to %s works again after %d failed attempts",
                        self._endpoint,
                        self.failures,
                    )
                self.failures = self.unreported = 0
                self.last_ok = True
                return
            self.failures += 1
            self.unreported += 1
            self.last_ok = False
            if self._throttle.ready():
                logger.warning(
                    "OTLP push to %s failed (%d times since the last report; the OpenTelemetry "
                    "SDK log has the cause); the exporter goes on and keeps retrying",
                    self._endpoint,
                    self.unreported,
                )
                self.unreported = 0


class _GuardedExporter(MetricExporter):
    """Delegates to the OTLP exporter; records outcomes and never raises."""

    def __init__(self, inner: MetricExporter, health: _PushHealth) -> None:
        # The reader takes temporality and aggregation from its exporter; keep the inner one's
        # (it honours OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE).
        super().__init__(
            preferred_temporality=inner._preferred_temporality,
            preferred_aggregation=inner._preferred_aggregation,
        )
        self._inner = inner
        self._health = health
        self.closing = False
        self._shut = False

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        # The reader's last push at shutdown would sit out the whole retry timeout against a
        # collector already known to be down: skip it, so that shutdown stays prompt.
        if self._shut or (self.closing and not self._health.last_ok):
            return MetricExportResult.FAILURE
        try:
            result = self._inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        except Exception:
            logger.debug("OTLP metric exporter raised", exc_info=True)
            result = MetricExportResult.FAILURE
        if not self._shut:  # an export cut short by shutdown says nothing about the collector
            self._health.record(result is MetricExportResult.SUCCESS)
        return result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self._inner.force_flush(timeout_millis=timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        # Also what ends an export still retrying when the reader's grace period is over.
        if not self._shut:
            self._shut = True
            self._inner.shutdown(timeout_millis=timeout_millis, **kwargs)


class _Generation:
    """One meter provider with its reader and exporter.

    With cumulative temporality the SDK keeps every attribute set it has ever seen, and past its
    cardinality limit (2000 per instrument) folds new ones into an `otel.metric.overflow`
    series. Process series come and go with PIDs, so the pusher replaces the whole provider
    before that can happen; gauges and counters (absolute totals) are unaffected by a restart.
    """

    def __init__(self, provider: MeterProvider, exporter: _GuardedExporter) -> None:
        self.provider = provider
        self.exporter = exporter

    def shutdown(self, timeout_seconds: float) -> None:
        self.exporter.closing = True
        try:
            self.provider.shutdown(timeout_millis=timeout_seconds * 1000)
        except Exception:
            logger.warning("OTLP meter provider did not shut down cleanly", exc_info=True)


def _metrics_url(endpoint: str) -> str:
    """The OTLP/HTTP metrics URL for a collector base URL (or the full URL, kept as is)."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/metrics") else endpoint + "/v1/metrics"


def _resource(extra: Mapping[str, str] | None) -> Resource:
    """Our defaults, overridden by OTEL_RESOURCE_ATTRIBUTES / OTEL_SERVICE_NAME, then `extra`."""
    attributes: dict[str, str] = {
        "service.name": SERVICE_NAME,
        "service.version": __version__,
        "host.name": socket.gethostname(),
    }
    for key, value in OTELResourceDetector().detect().attributes.items():
        attributes[key] = str(value)
    attributes.update(extra or {})
    return Resource.create(attributes)


class OtlpPusher:
    """Pushes the latest `Snapshot` as OTLP metrics every `interval_seconds`.

    `snapshot` is called from the SDK's reader thread, once per instrument per push: it should
    return the stored latest snapshot (the same object until the next collection), which is
    converted once. `endpoint` is the collector's base URL (`http://host:4318`) or the full
    `/v1/metrics` URL for HTTP, `host:port` or a URL for gRPC. `shutdown()` must be called to
    send the last push; nothing is registered with `atexit`.
    """

    def __init__(
        self,
        snapshot: Callable[[], Snapshot | None],
        endpoint: str,
        interval_seconds: float,
        headers: Mapping[str, str] | None = None,
        protocol: str = "http/protobuf",
        resource_attributes: Mapping[str, str] | None = None,
        timeout_seconds: float = 10,
        max_process_series: int = MAX_PROCESS_SERIES,
    ) -> None:
        if not (0 < interval_seconds < math.inf):
            raise ValueError(f"interval_seconds must be positive, not {interval_seconds!r}")
        if not (0 < timeout_seconds < math.inf):
            raise ValueError(f"timeout_seconds must be positive, not {timeout_seconds!r}")
        if max_process_series < 1:
            raise ValueError(f"max_process_series must be positive, not {max_process_series!r}")
        if protocol not in PROTOCOLS:
            raise UsageError(
                f"unknown OTLP protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}"
            )
        self._snapshot = snapshot
        self._endpoint = endpoint
        self._interval = interval_seconds
        self._headers = dict(headers) if headers else None
        self._protocol = protocol
        self._timeout = timeout_seconds
        self._max_process_series = max_process_series
        self._resource = _resource(resource_attributes)
        self._health = _PushHealth(endpoint)
        self._callback_errors = _Throttle(LOG_INTERVAL_SECONDS, time.monotonic)
        # Built now so that a missing gRPC extra is a usage error before anything starts.
        self._pending_exporter: MetricExporter | None = self._new_exporter()

        self._lifecycle = threading.Lock()
        self._generation: _Generation | None = None
        self._started = False
        self._stopped = False

        self._cache_lock = threading.Lock()
        self._cached_snapshot: Snapshot | None = None
        self._cached: dict[str, list[Observation]] = {}
        self._process_series: set[tuple[str, ...]] = set()

    def start(self) -> None:
        """Start pushing in the background; a second call does nothing."""
        with self._lifecycle:
            if self._stopped:
                raise RuntimeError("OtlpPusher cannot start again after shutdown()")
            if self._started:
                return
            self._started = True
            self._generation = self._new_generation()
        logger.info(
            "pushing metrics over OTLP (%s) to %s every %gs",
            self._protocol,
            self._endpoint,
            self._interval,
        )

    def shutdown(self, timeout_seconds: float | None = None) -> None:
        """Push once more (unless the collector is known to be down) and stop; idempotent.

        Returns within about `timeout_seconds` (default: the lesser of the export timeout and
        `SHUTDOWN_GRACE_SECONDS`); an export still retrying then is abandoned.
        """
        with self._lifecycle:
            self._stopped = True
            generation, self._generation = self._generation, None
            unused, self._pending_exporter = self._pending_exporter, None
        if unused is not None:  # never started: release its HTTP session
            unused.shutdown()
        if generation is not None:
            grace = min(self._timeout, SHUTDOWN_GRACE_SECONDS)
            generation.shutdown(grace if timeout_seconds is None else timeout_seconds)

    def _new_exporter(self) -> MetricExporter:
        if self._protocol == "grpc":
            try:
                module = importlib.import_module(
                    "opentelemetry.exporter.otlp.proto.grpc.metric_exporter"
                )
            except ImportError:
                raise UsageError(
                    "OTLP over gRPC needs the grpc extra: pip install 'agentwatch[grpc]'"
                ) from None
            exporter: MetricExporter = module.OTLPMetricExporter(
                endpoint=self._endpoint, headers=self._headers, timeout=self._timeout
            )
            return exporter
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        return OTLPMetricExporter(
            endpoint=_metrics_url(self._endpoint), headers=self._headers, timeout=self._timeout
        )

    def _new_generation(self) -> _Generation:
        inner, self._pending_exporter = self._pending_exporter or self._new_exporter(), None
        exporter = _GuardedExporter(inner, self._health)
        reader = PeriodicExportingMetricReader(
            exporter,
            export_interval_millis=self._interval * 1000,
            export_timeout_millis=self._timeout * 1000,
        )
        # shutdown_on_exit=False: shutdown() is ours to call, once.
        provider = MeterProvider(
            resource=self._resource, metric_readers=[reader], shutdown_on_exit=False
        )
        meter = provider.get_meter(METER_NAME, __version__)
        for spec in names.EXPORTER_METRICS:
            callback = self._callback(spec)
            if spec.kind is Kind.GAUGE:
                meter.create_observable_gauge(spec.otel, [callback], spec.unit, spec.help)
            elif spec.kind is Kind.COUNTER:
                meter.create_observable_counter(spec.otel, [callback], spec.unit, spec.help)
            else:
                raise ValueError(f"{spec.prom}: the exporter has no {spec.kind.value} instruments")
        return _Generation(provider, exporter)

    def _callback(self, spec: MetricSpec) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            return self._observed(spec.otel)

        return observe

    def _observed(self, otel_name: str) -> list[Observation]:
        """This instrument's observations of the latest snapshot, converted once per snapshot."""
        try:
            snapshot = self._snapshot()
            with self._cache_lock:
                if snapshot is not self._cached_snapshot:
                    self._cached = {} if snapshot is None else self._convert(snapshot)
                    self._cached_snapshot = snapshot
                return self._cached.get(otel_name, [])
        except Exception:
            # A bug here must not kill the reader thread, nor log once per instrument per cycle.
            if self._callback_errors.ready():
                logger.exception("cannot turn the snapshot into OTLP observations")
            return []

    def _convert(self, snapshot: Snapshot) -> dict[str, list[Observation]]:
        converted: dict[str, list[Observation]] = {}
        fresh: set[tuple[str, ...]] = set()
        for spec, samples in observations(snapshot):
            labels = spec.labels
            converted[spec.otel] = [
                Observation(value, dict(zip(labels, values, strict=True)))
                for values, value in samples
            ]
            if spec is names.GPU_PROCESS_MEMORY_USED or spec is names.GPU_PROCESS_MEMORY_GROWTH:
                fresh.update(values for values, _ in samples)
        self._process_series |= fresh
        if len(self._process_series) > self._max_process_series:
            self._process_series = fresh
            # Not on this (the reader's) thread: replacing the provider joins it.
            threading.Thread(
                target=self._recycle, name="agentwatch-otlp-recycle", daemon=True
            ).start()
        return converted

    def _recycle(self) -> None:
        """Replace the meter provider, dropping the attribute sets of processes long gone."""
        with self._lifecycle:
            if self._stopped or self._generation is None:
                return
            old, self._generation = self._generation, self._new_generation()
        logger.info("renewing the OTLP meter provider to forget exited processes")
        old.shutdown(min(self._timeout, SHUTDOWN_GRACE_SECONDS))
