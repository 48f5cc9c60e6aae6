"""LLM service: requests, errors, latency and time to first token, tokens and cost, by model.

Series are the instrumentation's, after the collector's Prometheus translation (`job` is the
service); latency targets ask for exemplars, which link a slow point to its trace.
"""

from __future__ import annotations

from typing import Any

from agentwatch import names
from agentwatch.alerts import rules
from agentwatch.dashboards.common import (
    RATE,
    Target,
    banner_layout,
    dashboard,
    metric,
    query_variable,
    select,
    stat,
    steps,
    target,
    timeseries,
)

KEY = "llm_service"
BY = "job, gen_ai_request_model"
LEGEND = "{{job}} {{gen_ai_request_model}}"
QUANTILES = (0.5, 0.9, 0.99)


def filters(c: rules.Config) -> tuple[str, ...]:
    """The matchers of every LLM series of these dashboards: service and model."""
    return (c.llm_selector, 'job=~"$job"', f'{names.LABEL_REQUEST_MODEL}=~"$model"')


def variables(c: rules.Config) -> list[Any]:
    """Service (`job`) and model, from the operations the service made."""
    count = metric(names.GEN_AI_OPERATION_DURATION, "count")
    return [
        query_variable("job", "Service", select(count, c.llm_selector), "job"),
        query_variable(
            "model",
            "Model",
            select(count, c.llm_selector, 'job=~"$job"'),
            names.LABEL_REQUEST_MODEL,
        ),
    ]


def quantiles(spec: names.MetricSpec, on: tuple[str, ...]) -> list[Target]:
    """p50, p90 and p99 of a histogram by service and model, with exemplars."""
    bucket = select(metric(spec, "bucket"), *on)
    return [
        target(
            f"histogram_quantile({q}, sum by ({BY}, le) (rate({bucket}[{RATE}])))",
            f"p{q * 100:g} {LEGEND}",
            exemplar=True,
        )
        for q in QUANTILES
    ]


def build(config: rules.Config | None = None) -> Any:
    """The LLM service dashboard."""
    c = config or rules.Config()
    on = filters(c)
    duration = metric(names.GEN_AI_OPERATION_DURATION, "count")
    count = select(duration, *on)
    failed = select(duration, *on, 'error_type!=""')
    layout = banner_layout()

    layout.row("Traffic and errors")
    layout.add(
        timeseries(
            "Request rate",
            "LLM operations per second (gen_ai.client.operation.duration's count), by service"
            " and requested model.",
            [target(f"sum by ({BY}) (rate({count}[{RATE}]))", LEGEND)],
            "reqps",
            minimum=0,
        ),
        w=8,
    )
    layout.add(
        timeseries(
            "Error ratio by type",
            "Share of operations that failed, by error type (the exception's class or the HTTP"
            f" status). Red from {c.error_ratio:.0%}: AgentwatchLlmErrorRatioHigh.",
            [
                target(
                    f"sum by ({BY}, error_type) (rate({failed}[{RATE}]))"
                    f" / ignoring (error_type) group_left sum by ({BY}) (rate({count}[{RATE}]))",
                    "{{error_type}} " + LEGEND,
                )
            ],
            "percentunit",
            thresholds=steps("green", (c.error_ratio, "red")),
            minimum=0,
        ),
        w=8,
    )
    slow = select(f"{rules.SLOW_RATIO}5m", c.llm_selector, 'job=~"$job"')
    slow_1h = select(f"{rules.SLOW_RATIO}1h", c.llm_selector, 'job=~"$job"')
    layout.add(
        timeseries(
            "Latency SLO: slow operations",
            f"Share of operations slower than {c.latency_slo_le:g} s over 5 minutes and 1 hour"
            f" (the SLO: {c.latency_slo_target:.0%} within {c.latency_slo_le:g} s). Orange and"
            f" red at the burn rates of AgentwatchLlmLatencyBudgetBurn: {c.burn(6):g} (6x)"
            f" and {c.burn(14.4):g} (14.4x).",
            [target(slow, "5m {{job}}"), target(slow_1h, "1h {{job}}")],
            "percentunit",
            thresholds=steps("green", (c.burn(6), "orange"), (c.burn(14.4), "red")),
            minimum=0,
        ),
        w=8,
    )

    layout.row("Latency")
    layout.add(
        timeseries(
            "Operation duration percentiles",
            "p50, p90 and p99 of the operation duration from its histogram, by service and"
            f" model. Red from the SLO's {c.latency_slo_le:g} s. Exemplars link to the traces"
            " of slow operations.",
            quantiles(names.GEN_AI_OPERATION_DURATION, on),
            "s",
            thresholds=steps("green", (c.latency_slo_le, "red")),
            minimum=0,
        )
    )
    layout.add(
        timeseries(
            "Time to first token percentiles",
            "p50, p90 and p99 of the time from a streaming request to its first chunk."
            f" Orange from {c.ttft_min_seconds:g} s, below which a regression does not alert"
            f" (AgentwatchLlmTimeToFirstTokenRegression: p90 over {c.ttft_regression_factor:g}"
            " times the same time yesterday's).",
            quantiles(names.GEN_AI_TIME_TO_FIRST_CHUNK, on),
            "s",
            thresholds=steps("green", (c.ttft_min_seconds, "orange")),
            minimum=0,
        )
    )
    layout.add(
        timeseries(
            "Time per output chunk percentiles",
            "p50, p90 and p99 of the time between chunks of a stream after the first: the"
            " service's decoding speed as its clients see it.",
            quantiles(names.GEN_AI_TIME_PER_OUTPUT_CHUNK, on),
            "s",
            minimum=0,
        ),
        w=24,
    )

    layout.row("Tokens and cost")
    tokens = select(metric(names.GEN_AI_TOKEN_USAGE, "sum"), *on)
    layout.add(
        timeseries(
            "Tokens per second, in and out",
            "Input and output tokens per second (gen_ai.client.token.usage), by service and"
            " model; estimated counts (tiktoken, where the API gave none) included.",
            [
                target(
                    f"sum by ({BY}, gen_ai_token_type) (rate({tokens}[{RATE}]))",
                    "{{gen_ai_token_type}} " + LEGEND,
                )
            ],
            "suffix: tok/s",
            minimum=0,
            stack=True,
        )
    )
    cost = select(metric(names.LLM_COST), *on)
    per_hour = c.cost_budget_usd_per_day / 24
    layout.add(
        timeseries(
            "Cost per hour",
            "US dollars an hour at the current rate, from agentwatch's price table (unpriced"
            f" models add nothing). Red from the daily budget's hourly share (${per_hour:g}/h"
            f" of ${c.cost_budget_usd_per_day:g}/day: AgentwatchLlmCostBudgetBurn).",
            [target(f"sum by ({BY}) (rate({cost}[{RATE}])) * 3600", LEGEND)],
            "currencyUSD",
            thresholds=steps("green", (per_hour, "red")),
            minimum=0,
            stack=True,
        )
    )
    job = ('job=~"$job"', c.llm_selector)
    layout.add(
        stat(
            "Cost a day at the last hour's rate",
            "Dollars a day at the rate of the last hour (recording rule"
            f" job:agentwatch_llm_cost_usd:rate1h). Red over the budget of"
            f" ${c.cost_budget_usd_per_day:g}.",
            [target(f"{select('job:agentwatch_llm_cost_usd:rate1h', *job)} * 86400", "{{job}}")],
            "currencyUSD",
            thresholds=steps("green", (c.cost_budget_usd_per_day, "red")),
        ),
        h=5,
    )
    layout.add(
        stat(
            "Tokens a day at the last hour's rate",
            "Tokens a day at the rate of the last hour (recording rule"
            " job:gen_ai_client_token_usage:rate1h). Red over the budget of"
            f" {c.token_budget_per_day:,.0f}.",
            [target(f"{select('job:gen_ai_client_token_usage:rate1h', *job)} * 86400", "{{job}}")],
            "short",
            thresholds=steps("green", (c.token_budget_per_day, "red")),
        ),
        h=5,
    )
    return dashboard(
        KEY,
        "LLM calls of each service as its clients see them: rate, errors, latency and time to"
        " first token, tokens and cost, by model; exemplars link to traces.",
        layout,
        variables(c),
    )
