"""Every metric name of agentwatch's public contract (DESIGN.md, "The metric contract").

Dashboards, alert rules, the remediation receiver and users' own queries depend on these
names; nothing else in the code base spells a metric name. Each metric is declared once as a
`MetricSpec` holding both its OpenTelemetry name and unit (what the OTLP push emits) and its
Prometheus name (what `/metrics` serves and what the collector's translation produces);
`tests/test_names.py` pins that the two agree under the collector's translation rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(str, Enum):
    """How a metric behaves over time."""

    GAUGE = "gauge"
    COUNTER = "counter"
    HISTOGRAM = "histogram"


@dataclass(frozen=True)
class MetricSpec:
    """One metric of the contract."""

    prom: str
    """Prometheus name, with unit suffix and `_total` for counters."""
    otel: str
    """OpenTelemetry instrument name (dotted, no unit)."""
    kind: Kind
    unit: str
    """UCUM unit as OpenTelemetry writes it (`By`, `s`, `1`, ...); empty for none."""
    labels: tuple[str, ...]
    help: str
    buckets: tuple[float, ...] = ()
    """Explicit histogram bucket boundaries (the conventions' advice); empty for others."""

    @property
    def family(self) -> str:
        """The name of the metric family in the Prometheus client (no `_total`)."""
        return self.prom.removesuffix("_total") if self.kind is Kind.COUNTER else self.prom


# Prometheus label names that queries select or group by, besides the specs' own label tuples.
LABEL_OPERATION = "gen_ai_operation_name"
LABEL_REQUEST_MODEL = "gen_ai_request_model"
LABEL_COMPONENT_NAME = "agentwatch_component_name"
LABEL_COMPONENT_VERSION = "agentwatch_component_version"

GPU = ("gpu", "uuid")
PROCESS = ("gpu", "uuid", "pid", "process", "container", "pod", "namespace")

GPU_INFO = MetricSpec(
    "agentwatch_gpu_info",
    "agentwatch.gpu.info",
    Kind.GAUGE,
    "",
    ("gpu", "uuid", "name", "driver_version", "pci_bus_id", "mig_mode", "simulated"),
    'GPU identity; always 1. simulated="true" marks data from the simulated backend.',
)
GPU_UP = MetricSpec(
    "agentwatch_gpu_up",
    "agentwatch.gpu.up",
    Kind.GAUGE,
    "",
    GPU,
    "1 while the GPU answers, 0 when it is lost or the driver is unavailable.",
)
GPU_MEMORY_USED = MetricSpec(
    "agentwatch_gpu_memory_used_bytes",
    "agentwatch.gpu.memory.used",
    Kind.GAUGE,
    "By",
    GPU,
    "GPU memory in use (NVML memory info).",
)
GPU_MEMORY_FREE = MetricSpec(
    "agentwatch_gpu_memory_free_bytes",
    "agentwatch.gpu.memory.free",
    Kind.GAUGE,
    "By",
    GPU,
    "GPU memory free for allocation.",
)
GPU_MEMORY_TOTAL = MetricSpec(
    "agentwatch_gpu_memory_total_bytes",
    "agentwatch.gpu.memory.total",
    Kind.GAUGE,
    "By",
    GPU,
    "Installed GPU memory.",
)
GPU_MEMORY_RESERVED = MetricSpec(
    "agentwatch_gpu_memory_reserved_bytes",
    "agentwatch.gpu.memory.reserved",
    Kind.GAUGE,
    "By",
    GPU,
    "GPU memory reserved by the driver and firmware.",
)
GPU_UTILIZATION = MetricSpec(
    "agentwatch_gpu_utilization_ratio",
    "agentwatch.gpu.utilization",
    Kind.GAUGE,
    "1",
    GPU,
    "Fraction of the last sample period during which a kernel ran on the GPU.",
)
GPU_MEMORY_BANDWIDTH_UTILIZATION = MetricSpec(
    "agentwatch_gpu_memory_bandwidth_utilization_ratio",
    "agentwatch.gpu.memory_bandwidth.utilization",
    Kind.GAUGE,
    "1",
    GPU,
    "Fraction of the last sample period during which device memory was read or written.",
)
GPU_TEMPERATURE = MetricSpec(
    "agentwatch_gpu_temperature_celsius",
    "agentwatch.gpu.temperature",
    Kind.GAUGE,
    "Cel",
    GPU,
    "GPU core temperature.",
)
GPU_POWER = MetricSpec(
    "agentwatch_gpu_power_watts",
    "agentwatch.gpu.power",
    Kind.GAUGE,
    "W",
    GPU,
    "Power drawn by the GPU.",
)
GPU_POWER_LIMIT = MetricSpec(
    "agentwatch_gpu_power_limit_watts",
    "agentwatch.gpu.power.limit",
    Kind.GAUGE,
    "W",
    GPU,
    "Power limit enforced on the GPU.",
)
GPU_ENERGY = MetricSpec(
    "agentwatch_gpu_energy_joules_total",
    "agentwatch.gpu.energy",
    Kind.COUNTER,
    "J",
    GPU,
    "Energy consumed by the GPU since the driver was loaded.",
)
GPU_THROTTLED = MetricSpec(
    "agentwatch_gpu_throttled",
    "agentwatch.gpu.throttled",
    Kind.GAUGE,
    "",
    (*GPU, "reason"),
    "1 while the GPU's clocks are held down for this reason, else 0.",
)
GPU_XID_ERRORS = MetricSpec(
    "agentwatch_gpu_xid_errors_total",
    "agentwatch.gpu.xid.errors",
    Kind.COUNTER,
    "",
    (*GPU, "xid"),
    "XID error events seen since the exporter started, by XID code.",
)
GPU_XID_LAST = MetricSpec(
    "agentwatch_gpu_xid_last_timestamp_seconds",
    "agentwatch.gpu.xid.last_timestamp",
    Kind.GAUGE,
    "s",
    (*GPU, "xid"),
    "Unix time of the last XID error event, by XID code.",
)
GPU_ECC_ERRORS = MetricSpec(
    "agentwatch_gpu_ecc_errors_total",
    "agentwatch.gpu.ecc.errors",
    Kind.COUNTER,
    "",
    (*GPU, "type"),
    "ECC memory errors since the driver was loaded (volatile counters), by type.",
)
GPU_PROCESS_MEMORY_USED = MetricSpec(
    "agentwatch_gpu_process_memory_used_bytes",
    "agentwatch.gpu.process.memory.used",
    Kind.GAUGE,
    "By",
    PROCESS,
    "GPU memory used by a process; series of exited processes disappear.",
)
GPU_PROCESS_MEMORY_GROWTH = MetricSpec(
    "agentwatch_gpu_process_memory_growth_bytes_per_second",
    "agentwatch.gpu.process.memory.growth",
    Kind.GAUGE,
    "By/s",
    PROCESS,
    "Robust slope of the process's VRAM floor while it grows like a leak; 0 when it does not.",
)
GPU_MEMORY_EXHAUSTION = MetricSpec(
    "agentwatch_gpu_memory_exhaustion_seconds",
    "agentwatch.gpu.memory.exhaustion",
    Kind.GAUGE,
    "s",
    GPU,
    "Predicted seconds until the GPU's memory is full; absent when it is not growing.",
)
EXPORTER_COLLECT_SUCCESS = MetricSpec(
    "agentwatch_exporter_collect_success",
    "agentwatch.exporter.collect.success",
    Kind.GAUGE,
    "",
    (),
    "1 if the last collection read every GPU, 0 if it failed or is stale.",
)
EXPORTER_COLLECT_DURATION = MetricSpec(
    "agentwatch_exporter_collect_duration_seconds",
    "agentwatch.exporter.collect.duration",
    Kind.GAUGE,
    "s",
    (),
    "Wall time of the last collection cycle.",
)
EXPORTER_LAST_SUCCESS = MetricSpec(
    "agentwatch_exporter_last_success_timestamp_seconds",
    "agentwatch.exporter.last_success_timestamp",
    Kind.GAUGE,
    "s",
    (),
    "Unix time of the last fully successful collection.",
)
EXPORTER_NVML_ERRORS = MetricSpec(
    "agentwatch_exporter_nvml_errors_total",
    "agentwatch.exporter.nvml.errors",
    Kind.COUNTER,
    "",
    ("call", "error"),
    "NVML calls that failed, by call and error.",
)

EXPORTER_METRICS: tuple[MetricSpec, ...] = (
    GPU_INFO,
    GPU_UP,
    GPU_MEMORY_USED,
    GPU_MEMORY_FREE,
    GPU_MEMORY_TOTAL,
    GPU_MEMORY_RESERVED,
    GPU_UTILIZATION,
    GPU_MEMORY_BANDWIDTH_UTILIZATION,
    GPU_TEMPERATURE,
    GPU_POWER,
    GPU_POWER_LIMIT,
    GPU_ENERGY,
    GPU_THROTTLED,
    GPU_XID_ERRORS,
    GPU_XID_LAST,
    GPU_ECC_ERRORS,
    GPU_PROCESS_MEMORY_USED,
    GPU_PROCESS_MEMORY_GROWTH,
    GPU_MEMORY_EXHAUSTION,
    EXPORTER_COLLECT_SUCCESS,
    EXPORTER_COLLECT_DURATION,
    EXPORTER_LAST_SUCCESS,
    EXPORTER_NVML_ERRORS,
)
"""Every metric the GPU exporter emits, in exposition order."""

# LLM client metrics (instrumentation). Prometheus labels are the OpenTelemetry attributes with
# dots turned into underscores, as the collector's translation writes them.

GEN_AI = (
    "gen_ai_operation_name",
    "gen_ai_provider_name",
    "gen_ai_request_model",
    "gen_ai_response_model",
    "server_address",
    "server_port",
)
DURATION_BUCKETS: tuple[float, ...] = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28)
DURATION_BUCKETS += (2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = tuple(float(4**i) for i in range(14))  # 1, 4, 16, ... 67108864

GEN_AI_TOKEN_USAGE = MetricSpec(
    "gen_ai_client_token_usage",
    "gen_ai.client.token.usage",
    Kind.HISTOGRAM,
    "{token}",
    (*GEN_AI, "gen_ai_token_type", "agentwatch_usage_estimated"),
    "Number of input and output tokens used.",
    TOKEN_BUCKETS,
)
GEN_AI_OPERATION_DURATION = MetricSpec(
    "gen_ai_client_operation_duration_seconds",
    "gen_ai.client.operation.duration",
    Kind.HISTOGRAM,
    "s",
    (*GEN_AI, "error_type"),
    "GenAI operation duration.",
    DURATION_BUCKETS,
)
GEN_AI_TIME_TO_FIRST_CHUNK = MetricSpec(
    "gen_ai_client_operation_time_to_first_chunk_seconds",
    "gen_ai.client.operation.time_to_first_chunk",
    Kind.HISTOGRAM,
    "s",
    GEN_AI,
    "Time from issuing a streaming request to receiving its first chunk.",
    DURATION_BUCKETS,
)
GEN_AI_TIME_PER_OUTPUT_CHUNK = MetricSpec(
    "gen_ai_client_operation_time_per_output_chunk_seconds",
    "gen_ai.client.operation.time_per_output_chunk",
    Kind.HISTOGRAM,
    "s",
    GEN_AI,
    "Time between the end of the previous chunk and the end of this one, after the first.",
    DURATION_BUCKETS,
)
LLM_COST = MetricSpec(
    "agentwatch_llm_cost_usd_total",
    "agentwatch.llm.cost.usd",
    Kind.COUNTER,
    "{USD}",
    (
        "gen_ai_operation_name",
        "gen_ai_provider_name",
        "gen_ai_request_model",
        "gen_ai_response_model",
    ),
    "Cost of LLM calls in US dollars, from agentwatch's price table; unpriced models add none.",
)
INSTRUMENTATION_ERRORS = MetricSpec(
    "agentwatch_instrumentation_errors_total",
    "agentwatch.instrumentation.errors",
    Kind.COUNTER,
    "{error}",
    ("instrumentation", "error"),
    "Errors inside agentwatch's instrumentation; the instrumented call itself went on.",
)

# Response quality: counted per call from what the response says (instrumentation/quality).
QUALITY = ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model")
LLM_TOOL_CALLS = MetricSpec(
    "agentwatch_llm_tool_calls_total",
    "agentwatch.llm.tool_calls",
    Kind.COUNTER,
    "{call}",
    QUALITY,
    "Tool calls in LLM responses to requests that offered tools, hallucinated or not.",
)
LLM_HALLUCINATED_TOOL_CALLS = MetricSpec(
    "agentwatch_llm_hallucinated_tool_calls_total",
    "agentwatch.llm.hallucinated_tool_calls",
    Kind.COUNTER,
    "{call}",
    (*QUALITY, "agentwatch_tool_call_reason"),
    "Tool calls naming a tool the request did not offer (unknown_tool), with arguments that are "
    "no JSON object (invalid_json) or that break the tool's schema (schema_violation).",
)
LLM_RESPONSE_FLAGS = MetricSpec(
    "agentwatch_llm_response_flags_total",
    "agentwatch.llm.response.flags",
    Kind.COUNTER,
    "{response}",
    (*QUALITY, "agentwatch_response_flag"),
    "LLM responses flagged truncated, content_filter, refusal, empty or invalid_json (JSON "
    "output asked for, and the text does not parse).",
)

# Signals the application declares or that agentwatch reads off its resilience libraries:
# evaluation scores (quality/scores.py), component versions (components.py), retries, circuit
# breakers and fallbacks (instrumentation/agent).
SCORE_BUCKETS: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(1, 11))  # 0.1 ... 1.0
EVALUATION = (*QUALITY, "gen_ai_evaluation_name")
LLM_QUALITY_SCORE = MetricSpec(
    "agentwatch_llm_quality_score",
    "agentwatch.llm.quality.score",
    Kind.HISTOGRAM,
    "1",
    EVALUATION,
    "Evaluation scores of LLM calls (user feedback, evaluators; booleans as 1 and 0), by "
    "evaluator; meant for scores from 0 to 1.",
    SCORE_BUCKETS,
)
LLM_EVALUATIONS = MetricSpec(
    "agentwatch_llm_evaluations_total",
    "agentwatch.llm.evaluations",
    Kind.COUNTER,
    "{evaluation}",
    (*EVALUATION, "gen_ai_evaluation_score_label"),
    "Evaluations recorded for LLM calls, by evaluator and label (absent for unlabelled ones).",
)
COMPONENT_INFO = MetricSpec(
    "agentwatch_component_info",
    "agentwatch.component.info",
    Kind.GAUGE,
    "",
    ("agentwatch_component_name", "agentwatch_component_version"),
    "1 per declared component (model, prompt template, vector database, agent) and its version.",
)
AGENT_RETRIES = MetricSpec(
    "agentwatch_agent_retries_total",
    "agentwatch.agent.retries",
    Kind.COUNTER,
    "{retry}",
    ("agentwatch_retry_function", "agentwatch_retry_outcome"),
    "Attempts after the first of tenacity-retried calls, by function and by how that attempt "
    "ended: success, retried (another attempt followed), exhausted (gave up) or failure (an "
    "error it does not retry).",
)
AGENT_RETRY_WAIT = MetricSpec(
    "agentwatch_agent_retry_wait_seconds_total",
    "agentwatch.agent.retry.wait",
    Kind.COUNTER,
    "s",
    ("agentwatch_retry_function",),
    "Time tenacity waited between attempts, by function.",
)
AGENT_BREAKER_STATE = MetricSpec(
    "agentwatch_agent_circuit_breaker_state",
    "agentwatch.agent.circuit_breaker.state",
    Kind.GAUGE,
    "",
    ("agentwatch_circuit_breaker_name",),
    "State of each watched circuit breaker: 0 closed, 1 half-open, 2 open.",
)
AGENT_BREAKER_TRANSITIONS = MetricSpec(
    "agentwatch_agent_circuit_breaker_transitions_total",
    "agentwatch.agent.circuit_breaker.transitions",
    Kind.COUNTER,
    "{transition}",
    ("agentwatch_circuit_breaker_name", "agentwatch_circuit_breaker_state"),
    "Circuit breaker state changes, by breaker and the state entered.",
)
AGENT_BREAKER_CALLS = MetricSpec(
    "agentwatch_agent_circuit_breaker_calls_total",
    "agentwatch.agent.circuit_breaker.calls",
    Kind.COUNTER,
    "{call}",
    ("agentwatch_circuit_breaker_name", "agentwatch_circuit_breaker_outcome"),
    "Calls a circuit breaker let through, by outcome (success or failure, as the breaker counts).",
)
AGENT_FALLBACKS = MetricSpec(
    "agentwatch_agent_fallbacks_total",
    "agentwatch.agent.fallbacks",
    Kind.COUNTER,
    "{attempt}",
    ("agentwatch_fallback_name", "agentwatch_fallback_path", "agentwatch_fallback_outcome"),
    "Paths a fallback chain tried, by path and outcome: served, failed or rejected.",
)
AGENT_ESCALATIONS = MetricSpec(
    "agentwatch_agent_escalations_total",
    "agentwatch.agent.escalations",
    Kind.COUNTER,
    "{escalation}",
    ("agentwatch_fallback_name",),
    "Requests no automatic path served, handed to a human.",
)

LLM_CODE_BLOCKS = MetricSpec(
    "agentwatch_llm_code_blocks_total",
    "agentwatch.llm.code_blocks",
    Kind.COUNTER,
    "{block}",
    QUALITY,
    "Python code blocks of sampled LLM responses that check-code read (opt-in: check_code).",
)
LLM_HALLUCINATED_API_REFS = MetricSpec(
    "agentwatch_llm_hallucinated_api_refs_total",
    "agentwatch.llm.hallucinated_api_refs",
    Kind.COUNTER,
    "{reference}",
    (*QUALITY, "agentwatch_code_ref_kind"),
    "References to modules, attributes, keywords or names that do not exist, in the Python code "
    "blocks of sampled LLM responses.",
)

# Local inference (transformers, vLLM offline, llama.cpp in the same process): what one call did
# to this process's GPU memory. Memory freed is recorded as 0 (OpenTelemetry histograms take no
# negative values); the span keeps the signed delta.
MIB = 1024.0 * 1024.0
MEMORY_DELTA_BUCKETS = (0.0, *(MIB * 4**i for i in range(8)))  # 0, 1 MiB, 4 MiB, ... 16 GiB
GPU_MEMORY_DELTA = MetricSpec(
    "agentwatch_gpu_memory_delta_bytes",
    "agentwatch.gpu.memory.delta",
    Kind.HISTOGRAM,
    "By",
    (
        "gen_ai_operation_name",
        "gen_ai_provider_name",
        "gen_ai_request_model",
        "agentwatch_gpu_memory_source",
    ),
    "Change of this process's GPU memory over one local inference (after minus before), by "
    "source: nvml (the driver's per-process figure), torch_allocated (live tensors) and "
    "torch_reserved (the caching allocator's pool); memory freed counts as 0. Sampled.",
    MEMORY_DELTA_BUCKETS,
)

AGENT_METRICS: tuple[MetricSpec, ...] = (
    LLM_CODE_BLOCKS,
    LLM_HALLUCINATED_API_REFS,
    LLM_QUALITY_SCORE,
    LLM_EVALUATIONS,
    COMPONENT_INFO,
    AGENT_RETRIES,
    AGENT_RETRY_WAIT,
    AGENT_BREAKER_STATE,
    AGENT_BREAKER_TRANSITIONS,
    AGENT_BREAKER_CALLS,
    AGENT_FALLBACKS,
    AGENT_ESCALATIONS,
)
"""Every metric of the declared and resilience signals (scores, versions, retries, breakers,
fallbacks): emitted where the application uses them, never on their own."""

LLM_METRICS: tuple[MetricSpec, ...] = (
    GEN_AI_TOKEN_USAGE,
    GEN_AI_OPERATION_DURATION,
    GEN_AI_TIME_TO_FIRST_CHUNK,
    GEN_AI_TIME_PER_OUTPUT_CHUNK,
    LLM_COST,
    INSTRUMENTATION_ERRORS,
    LLM_TOOL_CALLS,
    LLM_HALLUCINATED_TOOL_CALLS,
    LLM_RESPONSE_FLAGS,
    GPU_MEMORY_DELTA,
)
"""Every metric the LLM-client instrumentation emits."""

ALL_METRICS: tuple[MetricSpec, ...] = EXPORTER_METRICS + LLM_METRICS + AGENT_METRICS
"""Every metric any part of agentwatch emits."""
