"""OpenTelemetry SDK providers from the standard `OTEL_*` variables, when the process has none.

`agentwatch.instrument()` and the `opentelemetry-instrument` entry points share this: when a
global SDK provider is already set (by the application, or by `opentelemetry-distro`'s
configurator, which runs before any instrumentor), it is used as it is. Otherwise, and only when
the variables name an OTLP endpoint, an SDK provider is built from them and made global, so
other instrumentations in the process share it:

- `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_{TRACES,METRICS}_ENDPOINT`;
- `OTEL_EXPORTER_OTLP[_{SIGNAL}]_PROTOCOL`: `http/protobuf` (the default) or `grpc` (which needs
  the `agentwatch[grpc]` extra); headers, timeouts and compression are read by the exporters;
- `OTEL_{TRACES,METRICS}_EXPORTER=none` turns a signal off;
- `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` make the resource.

Without an endpoint nothing is built: the OpenTelemetry API's no-op providers stay, and the
calls cost next to nothing.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import metrics, trace

log = logging.getLogger("agentwatch.instrumentation")

TRACES = "TRACES"
METRICS = "METRICS"


def is_sdk(provider: object) -> bool:
    """True for an OpenTelemetry SDK provider (not the API's no-op or proxy ones)."""
    return type(provider).__module__.startswith("opentelemetry.sdk")


def otlp_configured(environ: Mapping[str, str], signal: str) -> bool:
    """True when the variables name an OTLP endpoint for `signal` and do not turn it off."""
    exporters = environ.get(f"OTEL_{signal}_EXPORTER", "otlp").strip().lower()
    if exporters == "none" or "otlp" not in exporters.split(","):
        return False
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or environ.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")
    )


def protocol(environ: Mapping[str, str], signal: str) -> str:
    """The OTLP protocol for `signal`: the per-signal variable, the general one, else HTTP."""
    value = environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL") or environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    value = value.strip().lower()
    if value not in ("http/protobuf", "grpc"):
        raise ValueError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={value!r} is not supported: use http/protobuf or grpc"
        )
    return value


def _exporter(environ: Mapping[str, str], signal: str) -> Any:
    """The OTLP exporter of `signal` for the configured protocol; it reads its own variables."""
    kind = "trace" if signal == TRACES else "metric"
    transport = "grpc" if protocol(environ, signal) == "grpc" else "http"
    try:
        module = importlib.import_module(
            f"opentelemetry.exporter.otlp.proto.{transport}.{kind}_exporter"
        )
    except ImportError as exc:
        raise ValueError(
            "OTLP over gRPC needs the grpc extra: pip install 'agentwatch[grpc]'"
        ) from exc
    return getattr(module, "OTLPSpanExporter" if signal == TRACES else "OTLPMetricExporter")()


@dataclass
class Built:
    """The providers to use, and which of them were built here.

    Global providers built here are flushed by `close()`, not shut down: other instrumentations
    in the process may hold them, and the SDK shuts them down at exit. A private provider (the
    one behind `prometheus=`) is shut down.
    """

    tracer_provider: Any | None = None
    meter_provider: Any | None = None
    made_global: list[Any] = field(default_factory=list)
    private: list[Any] = field(default_factory=list)

    def close(self) -> None:
        """Flush the global providers built here and shut the private ones down."""
        made_global, private = self.made_global, self.private
        self.made_global, self.private = [], []
        for provider in made_global + private:
            try:
                if provider in private:
                    provider.shutdown()
                else:
                    provider.force_flush()
            except Exception as exc:  # noqa: BLE001 - undoing must finish whatever happens
                log.warning("flushing %s failed: %s", type(provider).__name__, exc)


def install_from_env(
    environ: Mapping[str, str] | None = None,
    metric_readers: Sequence[Any] = (),
    resource_attributes: Mapping[str, Any] | None = None,
) -> Built:
    """The providers to use: the global SDK ones, else ones built from `OTEL_*` (made global).

    `metric_readers` (agentwatch's Prometheus reader) get a meter provider of their own, built
    here and kept private (never global, so `uninstrument()` can shut it down and a later
    `instrument()` build another), which also exports over OTLP when the variables say so. A
    global SDK provider that already exists is used as it is, never replaced.
    `resource_attributes` are added to the resource of the providers built here (over
    `OTEL_RESOURCE_ATTRIBUTES`): the declared component versions.
    """
    attributes = dict(resource_attributes or {})
    env = os.environ if environ is None else environ
    built = Built()
    from opentelemetry.sdk.resources import Resource

    tracer_provider = trace.get_tracer_provider()
    if is_sdk(tracer_provider):
        built.tracer_provider = tracer_provider
    elif otlp_configured(env, TRACES):
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        # Resource.create() reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
        provider = TracerProvider(resource=Resource.create(attributes))
        provider.add_span_processor(BatchSpanProcessor(_exporter(env, TRACES)))
        trace.set_tracer_provider(provider)
        built.tracer_provider = provider
        built.made_global.append(provider)

    meter_provider = metrics.get_meter_provider()
    if metric_readers:
        if is_sdk(meter_provider):
            raise ValueError(
                "prometheus= needs agentwatch to build the meter provider, and this process "
                "already set one: add agentwatch.instrumentation.prometheus_reader."
                "PrometheusReader() to its metric_readers and serve it with "
                "agentwatch.instrumentation.endpoint.PrometheusEndpoint instead"
            )
        built.meter_provider = _meter_provider(env, metric_readers, attributes)
        built.private.append(built.meter_provider)
    elif is_sdk(meter_provider):
        built.meter_provider = meter_provider
    elif otlp_configured(env, METRICS):
        built.meter_provider = _meter_provider(env, (), attributes)
        metrics.set_meter_provider(built.meter_provider)
        built.made_global.append(built.meter_provider)
    return built


def _meter_provider(
    env: Mapping[str, str], readers: Sequence[Any], attributes: Mapping[str, Any]
) -> Any:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    all_readers = list(readers)
    if otlp_configured(env, METRICS):
        # OTEL_METRIC_EXPORT_INTERVAL (60 s by default) is read by the reader.
        all_readers.append(PeriodicExportingMetricReader(_exporter(env, METRICS)))
    return MeterProvider(metric_readers=all_readers, resource=Resource.create(dict(attributes)))
