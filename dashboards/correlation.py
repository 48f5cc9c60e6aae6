"""Correlation: GPU memory pressure, latency, tokens and quality of one service on one time axis.

The reason agentwatch exists: a leak or an offloading server shows up as latency and quality
first. The panels stack full width, so their time axes line up and the crosshair is shared;
the coefficients are the correlation recording rules' (Pearson over `correlation_window`);
annotations mark component version changes and firing alerts.
"""

from __future__ import annotations

from typing import Any

from agentwatch import names
from agentwatch.alerts import rules
from agentwatch.dashboards.common import (
    RATE,
    annotation,
    banner_layout,
    dashboard,
    metric,
    query_variable,
    select,
    stat,
    steps,
    table,
    target,
    timeseries,
)

KEY = "correlation"
VERSION_WINDOW = "10m"
"""A component version is marked as changed while its series is younger than this."""


def pearson(c: rules.Config, what: str) -> str:
    """The recorded coefficient of pressure with `what` (latency or quality)."""
    level = "job" if what == "latency" else "job_gen_ai_evaluation_name"
    return f"{level}:gpu_memory_pressure_llm_{what}:pearson{c.correlation_window}"


def build(config: rules.Config | None = None) -> Any:
    """The correlation dashboard."""
    c = config or rules.Config()
    job = (c.llm_selector, 'job=~"$job"')

    def r(name: str, *extra: str) -> str:
        return select(name, 'job=~"$job"', *extra)

    layout = banner_layout()
    layout.row("One service, one time axis")
    layout.add(
        timeseries(
            "GPU memory pressure",
            "How full the fullest GPU this service's processes hold memory on is (recording"
            f" rule {rules.PRESSURE}: the exporter's per-process series joined on namespace"
            " and pod, or the GPU series the service serves itself). Orange from"
            f" {c.memory_pressure_ratio:.0%}, red from {c.memory_full_ratio:.0%}.",
            [target(r(rules.PRESSURE), "{{job}}")],
            "percentunit",
            thresholds=steps(
                "green", (c.memory_pressure_ratio, "orange"), (c.memory_full_ratio, "red")
            ),
            minimum=0,
            maximum=1,
        ),
        w=24,
        h=6,
    )
    bucket = select(metric(names.GEN_AI_OPERATION_DURATION, "bucket"), *job)
    layout.add(
        timeseries(
            "Latency",
            f"Mean operation duration over 5 minutes ({rules.LATENCY_MEAN}) and the p90 from"
            f" the histogram; red from the SLO's {c.latency_slo_le:g} s.",
            [
                target(r(rules.LATENCY_MEAN), "mean {{job}}"),
                target(
                    f"histogram_quantile(0.9, sum by (job, le) (rate({bucket}[{RATE}])))",
                    "p90 {{job}}",
                    exemplar=True,
                ),
            ],
            "s",
            thresholds=steps("green", (c.latency_slo_le, "red")),
            minimum=0,
        ),
        w=24,
        h=6,
    )
    tokens = select(metric(names.GEN_AI_TOKEN_USAGE, "sum"), *job)
    layout.add(
        timeseries(
            "Tokens per second",
            "Input and output tokens per second of the service.",
            [
                target(
                    f"sum by (job, gen_ai_token_type) (rate({tokens}[{RATE}]))",
                    "{{gen_ai_token_type}} {{job}}",
                )
            ],
            "suffix: tok/s",
            minimum=0,
            stack=True,
        ),
        w=24,
        h=6,
    )
    layout.add(
        timeseries(
            "Quality score",
            f"Mean evaluation score over 5 minutes by evaluator ({rules.QUALITY_MEAN_5M});"
            " scores run from 0 to 1. AgentwatchLlmQualityDropUnderGpuMemoryPressure fires"
            f" when it falls under {c.quality_drop_factor:.0%} of the 6 hours before while the"
            f" service's GPU is over {c.memory_pressure_ratio:.0%} full.",
            [target(r(rules.QUALITY_MEAN_5M), "{{gen_ai_evaluation_name}} {{job}}")],
            "percentunit",
            minimum=0,
            maximum=1,
        ),
        w=24,
        h=6,
    )
    layout.add(
        timeseries(
            "VRAM per inference",
            "Median GPU memory a local inference left behind, by model and source (nvml, the"
            " driver's figure; torch_allocated, live tensors) over 5 minutes"
            f" ({rules.INFERENCE_P50})."
            f" Red from {c.memory_per_inference_bytes / 2**20:g} MiB:"
            " AgentwatchGpuMemoryPerInferenceGrowing.",
            [
                target(
                    r(rules.INFERENCE_P50),
                    "{{gen_ai_request_model}} {{agentwatch_gpu_memory_source}} {{job}}",
                )
            ],
            "bytes",
            thresholds=steps("green", (float(c.memory_per_inference_bytes), "red")),
            minimum=0,
        ),
        w=12,
        h=7,
    )
    layout.add(
        timeseries(
            "VRAM growth from inferences",
            "Bytes a second that local inferences leave behind in GPU memory, by model and"
            f" source ({rules.INFERENCE_GROWTH}). Red from"
            f" {c.memory_leak_fast_bytes_per_second / 2**20:g} MiB/s:"
            " AgentwatchGpuMemoryPerInferenceLeakFast.",
            [
                target(
                    r(rules.INFERENCE_GROWTH),
                    "{{gen_ai_request_model}} {{agentwatch_gpu_memory_source}} {{job}}",
                )
            ],
            "Bps",
            thresholds=steps("green", (float(c.memory_leak_fast_bytes_per_second), "red")),
            minimum=0,
        ),
        w=12,
        h=7,
    )

    layout.row("Correlation coefficients")
    coefficient = steps("blue", (-0.5, "text"), (0.5, "orange"), (0.8, "red"))
    window = c.correlation_window
    layout.add(
        timeseries(
            "Memory pressure vs latency (Pearson)",
            f"Pearson coefficient of GPU memory pressure and mean latency over {window}, per"
            " service: near 1, latency rises with memory pressure (offloading, smaller"
            f" batches, swapping). Absent with fewer than {c.correlation_min_samples} samples"
            " or a flat series.",
            [target(r(pearson(c, "latency")), "{{job}}")],
            "none",
            thresholds=coefficient,
            minimum=-1,
            maximum=1,
        ),
        w=12,
    )
    layout.add(
        timeseries(
            "Memory pressure vs quality (Pearson)",
            f"Pearson coefficient of GPU memory pressure and the mean evaluation score over"
            f" {window}, per service and evaluator: near -1, quality falls as memory fills (a"
            " degraded fallback model, truncated context).",
            [target(r(pearson(c, "quality")), "{{gen_ai_evaluation_name}} {{job}}")],
            "none",
            thresholds=steps("red", (-0.8, "orange"), (-0.5, "text"), (0.5, "blue")),
            minimum=-1,
            maximum=1,
        ),
        w=12,
    )
    layout.add(
        stat(
            "Current coefficients",
            f"The latest coefficients of the two recording rules over {window}.",
            [
                target(r(pearson(c, "latency")), "latency {{job}}", instant=True),
                target(
                    r(pearson(c, "quality")),
                    "quality ({{gen_ai_evaluation_name}}) {{job}}",
                    instant=True,
                ),
            ],
            "none",
            thresholds=coefficient,
        ),
        w=8,
        h=6,
    )
    info = select(metric(names.COMPONENT_INFO), *job)
    layout.add(
        table(
            "Component versions",
            "The versions of model, prompt template, vector database, agent, ... each service"
            " declares (agentwatch.component.info); more than one version of a component at"
            f" once for {c.version_skew_for} is AgentwatchComponentVersionSkew.",
            [
                target(
                    "count by (job, agentwatch_component_name, agentwatch_component_version)"
                    f" ({info})",
                    instant=True,
                    table=True,
                )
            ],
            "none",
            columns={
                "job": "Service",
                names.LABEL_COMPONENT_NAME: "Component",
                names.LABEL_COMPONENT_VERSION: "Version",
                "Value": "Replicas",
            },
        ),
        w=16,
        h=6,
    )
    by_version = "job, agentwatch_component_name, agentwatch_component_version"
    annotations = [
        annotation(
            "Component version changes",
            f"count by ({by_version}) ({info})"
            f" unless count by ({by_version}) ({info} offset {VERSION_WINDOW})",
            "{{agentwatch_component_name}} {{agentwatch_component_version}}",
            "{{job}} now runs {{agentwatch_component_name}} {{agentwatch_component_version}}",
            "blue",
        ),
        annotation(
            "Alerts firing",
            'ALERTS{alertstate="firing"}',
            "{{alertname}}",
            "{{severity}}: {{alertname}} {{job}} {{instance}}",
            "red",
        ),
    ]
    count = metric(names.GEN_AI_OPERATION_DURATION, "count")
    variables = [query_variable("job", "Service", select(count, c.llm_selector), "job")]
    return dashboard(
        KEY,
        "GPU memory pressure, latency, tokens per second and quality of the same service on"
        " one time axis, VRAM per inference, and their rolling correlation coefficients;"
        " annotations mark component version changes and firing alerts.",
        layout,
        variables,
        annotations,
    )
