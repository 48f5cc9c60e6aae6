"""Agent reliability: hallucinations, quality scores, truncations, retries, breakers, fallbacks.

What the response says (hallucinated tool calls and API references, truncations, refusals),
what evaluators say (scores), and what the agent's resilience did about it (retries, circuit
breakers, fallbacks, human escalations), with the thresholds of the agent alerts.
"""

from __future__ import annotations

from typing import Any

from agentwatch import names
from agentwatch.alerts import rules
from agentwatch.dashboards.common import (
    RATE,
    banner_layout,
    dashboard,
    metric,
    select,
    stat,
    state_timeline,
    steps,
    target,
    timeseries,
)
from agentwatch.dashboards.llm_service import filters, variables

KEY = "agent_reliability"
BREAKER_STATES = {0: ("closed", "green"), 1: ("half-open", "orange"), 2: ("open", "red")}
"""agentwatch.agent.circuit_breaker.state's values."""
BREAKER = "job, agentwatch_circuit_breaker_name"


def build(config: rules.Config | None = None) -> Any:
    """The agent reliability dashboard."""
    c = config or rules.Config()
    on = filters(c)
    job = (c.llm_selector, 'job=~"$job"')

    def m(spec: names.MetricSpec, *extra: str, part: str = "") -> str:
        return select(metric(spec, part), *on, *extra)

    def a(spec: names.MetricSpec, *extra: str) -> str:
        # The resilience series carry no model: only the service selects them.
        return select(metric(spec), *job, *extra)

    def r(name: str) -> str:
        return select(name, *job)

    by = "job, gen_ai_request_model"
    legend = "{{job}} {{gen_ai_request_model}}"
    layout = banner_layout()

    layout.row("Hallucinations")
    layout.add(
        timeseries(
            "Hallucinated tool calls",
            "Share of tool calls naming a tool the request did not offer, with arguments that"
            " are no JSON object or break the tool's schema, by service and model; and over 15"
            f" minutes ({rules.HALLUCINATED_RATIO}). Red from {c.hallucination_ratio:.0%}:"
            " AgentwatchLlmHallucinatedToolCalls.",
            [
                target(
                    f"sum by ({by}) (rate({m(names.LLM_HALLUCINATED_TOOL_CALLS)}[{RATE}]))"
                    f" / sum by ({by}) (rate({m(names.LLM_TOOL_CALLS)}[{RATE}]))",
                    legend,
                ),
                target(r(rules.HALLUCINATED_RATIO), "15m {{job}}"),
            ],
            "percentunit",
            thresholds=steps("green", (c.hallucination_ratio, "red")),
            minimum=0,
        ),
        w=8,
    )
    layout.add(
        timeseries(
            "Hallucinated tool calls by reason",
            "Hallucinated tool calls per second by reason: unknown_tool, invalid_json,"
            " schema_violation.",
            [
                target(
                    f"sum by (job, agentwatch_tool_call_reason)"
                    f" (rate({m(names.LLM_HALLUCINATED_TOOL_CALLS)}[{RATE}]))",
                    "{{agentwatch_tool_call_reason}} {{job}}",
                )
            ],
            "cps",
            minimum=0,
            stack=True,
        ),
        w=8,
    )
    layout.add(
        timeseries(
            "Hallucinated API references per code block",
            "References to modules, attributes, keywords or names that do not exist, per"
            f" Python code block check-code read, over 1 hour ({rules.API_REF_RATIO}). Red from"
            f" {c.api_ref_ratio:g}: AgentwatchLlmHallucinatedApiReferences.",
            [target(r(rules.API_REF_RATIO), "{{job}}")],
            "none",
            thresholds=steps("green", (c.api_ref_ratio, "red")),
            minimum=0,
        ),
        w=8,
    )
    layout.add(
        timeseries(
            "Hallucinated API references by kind",
            "Hallucinated references per second by kind (module, attribute, keyword, name), in"
            " the sampled code blocks.",
            [
                target(
                    f"sum by (job, agentwatch_code_ref_kind)"
                    f" (rate({m(names.LLM_HALLUCINATED_API_REFS)}[{RATE}]))",
                    "{{agentwatch_code_ref_kind}} {{job}}",
                )
            ],
            "cps",
            minimum=0,
            stack=True,
        ),
        w=24,
        h=7,
    )

    layout.row("Quality")
    score = "job, gen_ai_evaluation_name"
    layout.add(
        timeseries(
            "Quality score by evaluator",
            "Mean evaluation score (0 to 1) by evaluator, and over 1 hour"
            f" ({rules.QUALITY_MEAN}). AgentwatchLlmQualityScoreDrop fires when the hourly"
            f" mean falls under {c.quality_drop_factor:.0%} of the same hour yesterday's.",
            [
                target(
                    f"sum by ({score}) (rate({m(names.LLM_QUALITY_SCORE, part='sum')}[{RATE}]))"
                    f" / sum by ({score}) (rate({m(names.LLM_QUALITY_SCORE, part='count')}"
                    f"[{RATE}]))",
                    "{{gen_ai_evaluation_name}} {{job}}",
                ),
                target(r(rules.QUALITY_MEAN), "1h {{gen_ai_evaluation_name}} {{job}}"),
            ],
            "percentunit",
            minimum=0,
            maximum=1,
        )
    )
    layout.add(
        timeseries(
            "Evaluations by label",
            "Evaluations per second by evaluator and label (labelled evaluations only).",
            [
                target(
                    f"sum by ({score}, gen_ai_evaluation_score_label)"
                    f" (rate({m(names.LLM_EVALUATIONS)}[{RATE}]))",
                    "{{gen_ai_evaluation_name}}={{gen_ai_evaluation_score_label}} {{job}}",
                )
            ],
            "cps",
            minimum=0,
            stack=True,
        )
    )
    chat = m(names.GEN_AI_OPERATION_DURATION, f'{names.LABEL_OPERATION}="chat"', part="count")
    layout.add(
        timeseries(
            "Truncations and refusals",
            "Share of chat responses flagged truncated (cut off by the token limit),"
            " content_filter, refusal, empty or invalid_json; and the truncated share over 15"
            f" minutes ({rules.TRUNCATED_RATIO}). Red from {c.truncation_ratio:.0%}:"
            " AgentwatchLlmTruncationRatioHigh.",
            [
                target(
                    f"sum by (job, agentwatch_response_flag)"
                    f" (rate({m(names.LLM_RESPONSE_FLAGS)}[{RATE}]))"
                    f" / ignoring (agentwatch_response_flag) group_left"
                    f" sum by (job) (rate({chat}[{RATE}]))",
                    "{{agentwatch_response_flag}} {{job}}",
                ),
                target(r(rules.TRUNCATED_RATIO), "truncated 15m {{job}}"),
            ],
            "percentunit",
            thresholds=steps("green", (c.truncation_ratio, "red")),
            minimum=0,
        ),
        w=24,
    )

    layout.row("Resilience: retries, circuit breakers, fallbacks, escalations")
    layout.add(
        timeseries(
            "Retries",
            "Attempts after the first of tenacity-retried calls per second, by function and"
            " how the attempt ended. Red from"
            f" {c.retry_storm_per_second:g}/s retried or exhausted: AgentwatchAgentRetryStorm.",
            [
                target(
                    "sum by (job, agentwatch_retry_function, agentwatch_retry_outcome)"
                    f" (rate({a(names.AGENT_RETRIES)}[{RATE}]))",
                    "{{agentwatch_retry_function}} {{agentwatch_retry_outcome}} {{job}}",
                )
            ],
            "cps",
            thresholds=steps("green", (c.retry_storm_per_second, "red")),
            minimum=0,
        ),
        w=12,
    )
    layout.add(
        timeseries(
            "Time waiting between retries",
            "Seconds a second tenacity spent waiting between attempts, by function.",
            [
                target(
                    f"sum by (job, agentwatch_retry_function)"
                    f" (rate({a(names.AGENT_RETRY_WAIT)}[{RATE}]))",
                    "{{agentwatch_retry_function}} {{job}}",
                )
            ],
            "s",
            minimum=0,
        ),
        w=12,
    )
    layout.add(
        state_timeline(
            "Circuit breaker state",
            "Each watched circuit breaker: closed, half-open or open. Open for"
            f" {c.breaker_open_for} is AgentwatchAgentCircuitBreakerOpen.",
            [
                target(
                    f"max by (job, agentwatch_circuit_breaker_name)"
                    f" ({a(names.AGENT_BREAKER_STATE)})",
                    "{{agentwatch_circuit_breaker_name}} {{job}}",
                )
            ],
            "none",
            thresholds=steps("green", (1, "orange"), (2, "red")),
            mappings=[
                {
                    "type": "value",
                    "options": {
                        str(value): {"color": color, "index": value, "text": text}
                        for value, (text, color) in BREAKER_STATES.items()
                    },
                }
            ],
        ),
        w=12,
    )
    layout.add(
        timeseries(
            "Circuit breaker calls and transitions",
            "Calls each breaker let through per second by outcome, and its state changes"
            " (bars) by the state entered.",
            [
                target(
                    f"sum by ({BREAKER}, agentwatch_circuit_breaker_outcome)"
                    f" (rate({a(names.AGENT_BREAKER_CALLS)}[{RATE}]))",
                    "{{agentwatch_circuit_breaker_name}} {{agentwatch_circuit_breaker_outcome}}",
                ),
                target(
                    f"sum by ({BREAKER}, agentwatch_circuit_breaker_state)"
                    f" (rate({a(names.AGENT_BREAKER_TRANSITIONS)}[{RATE}])) > 0",
                    "to {{agentwatch_circuit_breaker_state}} {{agentwatch_circuit_breaker_name}}",
                ),
            ],
            "cps",
            minimum=0,
        ),
        w=12,
    )
    chain = "job, agentwatch_fallback_name"
    layout.add(
        timeseries(
            "Fallbacks",
            "Paths each fallback chain tried per second, by path and outcome (served, failed,"
            f" rejected); and the share its first path did not serve ({rules.FALLBACK_RATIO})."
            f" Red from {c.fallback_ratio:.0%}: AgentwatchAgentFallbackRatioHigh.",
            [
                target(
                    f"sum by ({chain}, agentwatch_fallback_path, agentwatch_fallback_outcome)"
                    f" (rate({a(names.AGENT_FALLBACKS)}[{RATE}]))",
                    "{{agentwatch_fallback_name}} {{agentwatch_fallback_path}}"
                    " {{agentwatch_fallback_outcome}}",
                ),
            ],
            "cps",
            minimum=0,
            stack=True,
        ),
        w=8,
    )
    layout.add(
        timeseries(
            "Fallback and escalation ratios",
            f"Share of a chain's requests its first path did not serve ({rules.FALLBACK_RATIO};"
            f" AgentwatchAgentFallbackRatioHigh from {c.fallback_ratio:.0%}) and the share"
            f" handed to a human ({rules.ESCALATION_RATIO}; AgentwatchAgentEscalationRatioHigh"
            f" from {c.escalation_ratio:.0%}), over 15 minutes.",
            [
                target(r(rules.FALLBACK_RATIO), "fallback {{agentwatch_fallback_name}} {{job}}"),
                target(r(rules.ESCALATION_RATIO), "escalated {{agentwatch_fallback_name}} {{job}}"),
            ],
            "percentunit",
            thresholds=steps("green", (c.escalation_ratio, "orange"), (c.fallback_ratio, "red")),
            minimum=0,
            maximum=1,
        ),
        w=8,
    )
    layout.add(
        stat(
            "Human escalations over the time range",
            "Requests no automatic path served, handed to a human, over the dashboard's time"
            " range, by fallback chain.",
            [
                target(
                    f"sum by ({chain}) (increase({a(names.AGENT_ESCALATIONS)}[$__range]))",
                    "{{agentwatch_fallback_name}} {{job}}",
                    instant=True,
                )
            ],
            "short",
            thresholds=steps("green", (1, "orange")),
        ),
        w=8,
    )
    return dashboard(
        KEY,
        "Hallucinated tool calls and API references, quality scores by evaluator, truncations"
        " and refusals, retries, circuit breakers, fallbacks and human escalations.",
        layout,
        variables(c),
    )
