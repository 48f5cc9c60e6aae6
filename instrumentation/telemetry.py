"""The tracer, the meter and the instruments every LLM-client instrumentation shares.

One `Telemetry` is built per `agentwatch.instrument()` call from the providers it is given (or the
global ones). Instruments come from the specs of `names.LLM_METRICS`, with the conventions'
explicit bucket boundaries as advice, so names, units and buckets are never spelled twice.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import Counter, Histogram, Meter, MeterProvider
from opentelemetry.trace import Tracer, TracerProvider

from agentwatch import __version__, names
from agentwatch.instrumentation import semconv
from agentwatch.instrumentation.cardinality import BoundedValues
from agentwatch.instrumentation.content import ContentPolicy
from agentwatch.instrumentation.points import Points
from agentwatch.instrumentation.pricing import PriceTable
from agentwatch.instrumentation.quality.coderefs import CodeRefs
from agentwatch.instrumentation.quality.toolcalls import ToolCallChecker
from agentwatch.names import MetricSpec

log = logging.getLogger("agentwatch.instrumentation")

SCOPE = "agentwatch.instrumentation"
SCHEMA_URL = "https://opentelemetry.io/schemas/1.37.0"


def histogram(meter: Meter, spec: MetricSpec) -> Histogram:
    """The histogram of `spec`, with its explicit bucket boundaries as advice."""
    return meter.create_histogram(
        spec.otel,
        unit=spec.unit,
        description=spec.help,
        explicit_bucket_boundaries_advisory=list(spec.buckets),
    )


def counter(meter: Meter, spec: MetricSpec) -> Counter:
    """The counter of `spec`."""
    return meter.create_counter(spec.otel, unit=spec.unit, description=spec.help)


class Telemetry:
    """Everything an instrumented call records into, and how it reports its own failures."""

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        prices: PriceTable | None = None,
        content: ContentPolicy | None = None,
        max_models: int = 200,
    ) -> None:
        self.tracer: Tracer = trace.get_tracer(
            SCOPE, __version__, tracer_provider, schema_url=SCHEMA_URL
        )
        meter = metrics.get_meter(SCOPE, __version__, meter_provider, schema_url=SCHEMA_URL)
        self.duration = histogram(meter, names.GEN_AI_OPERATION_DURATION)
        self.tokens = histogram(meter, names.GEN_AI_TOKEN_USAGE)
        self.time_to_first_chunk = histogram(meter, names.GEN_AI_TIME_TO_FIRST_CHUNK)
        self.time_per_output_chunk = histogram(meter, names.GEN_AI_TIME_PER_OUTPUT_CHUNK)
        self.cost = counter(meter, names.LLM_COST)
        self.errors = counter(meter, names.INSTRUMENTATION_ERRORS)
        self.tool_calls = counter(meter, names.LLM_TOOL_CALLS)
        self.hallucinated_tool_calls = counter(meter, names.LLM_HALLUCINATED_TOOL_CALLS)
        self.response_flags = counter(meter, names.LLM_RESPONSE_FLAGS)
        self.gpu_memory_delta = histogram(meter, names.GPU_MEMORY_DELTA)
        """Bytes of GPU memory one local inference left behind (instrumentation/local)."""
        self.tool_checker = ToolCallChecker()
        self.code_blocks = counter(meter, names.LLM_CODE_BLOCKS)
        self.hallucinated_api_refs = counter(meter, names.LLM_HALLUCINATED_API_REFS)
        self.coderefs: CodeRefs | None = None
        """Set by `instrument(check_code=RATE)`: checks code in a share of the responses."""
        self.points = Points()
        """Records points into the instruments above (bound, so cheaper than the SDK's API)."""
        self.prices = prices if prices is not None else PriceTable.load_or_default()
        self.content = content if content is not None else ContentPolicy.from_env()
        # Model names and server addresses become metric attributes: bound them.
        self.models = BoundedValues(max_models)
        self.servers = BoundedValues(50)
        self._logged: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def error(self, where: str, exc: BaseException) -> None:
        """Count an error inside agentwatch and log it once per place and type; never raises."""
        try:
            kind = type(exc).__name__
            self.errors.add(1, {semconv.INSTRUMENTATION: where, semconv.ERROR: kind})
            with self._lock:
                first = (where, kind) not in self._logged
                self._logged.add((where, kind))
            if first:
                log.warning(
                    "agentwatch instrumentation error in %s (the call went on): %s",
                    where,
                    exc,
                    exc_info=exc,
                )
        except Exception:  # noqa: S110 - reporting must never be the thing that breaks
            pass

    def metric_attributes(self, attributes: dict[str, Any]) -> dict[str, Any]:
        """Bound the open-ended attribute values of a metric point."""
        for key in (semconv.REQUEST_MODEL, semconv.RESPONSE_MODEL):
            value = attributes.get(key)
            if isinstance(value, str):
                attributes[key] = self.models.get(value)
        server = attributes.get(semconv.SERVER_ADDRESS)
        if isinstance(server, str):
            attributes[semconv.SERVER_ADDRESS] = self.servers.get(server)
        return attributes
