"""The demo agent, run for a few seconds against the simulated service, emits every signal."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agentwatch.demo import evaluate, llm_server
from agentwatch.demo.agent import run_tool
from agentwatch.demo.llm_server import Config, DemoHTTPServer
from tests.prometheus import LOOPBACK, free_port

EXPECTED = {
    "gen_ai_client_token_usage": None,
    "gen_ai_client_operation_duration_seconds": None,
    "gen_ai_client_operation_time_to_first_chunk_seconds": None,  # streams
    "agentwatch_llm_tool_calls": None,
    "agentwatch_llm_hallucinated_tool_calls": "agentwatch_tool_call_reason",
    "agentwatch_llm_response_flags": "agentwatch_response_flag",
    "agentwatch_llm_quality_score": "gen_ai_evaluation_name",
    "agentwatch_llm_cost_usd": None,
    "agentwatch_agent_retries": "agentwatch_retry_outcome",
    "agentwatch_agent_circuit_breaker_state": "agentwatch_circuit_breaker_name",
    "agentwatch_agent_circuit_breaker_transitions": "agentwatch_circuit_breaker_state",
    "agentwatch_agent_fallbacks": "agentwatch_fallback_path",
    "agentwatch_agent_escalations": None,
    "agentwatch_gpu_memory_delta_bytes": "agentwatch_gpu_memory_source",
    "agentwatch_component_info": "agentwatch_component_name",
}
"""Metric family -> a label whose values the test reports (None: presence is enough)."""


@pytest.fixture
def server() -> Iterator[DemoHTTPServer]:
    # Under heavy pressure: errors, breaker trips, truncations, hallucinations, escalations.
    config = Config(seed=5, latency_scale=0.2, pressure=0.8, rate_503=0.3, retry_after=0.05)
    srv = llm_server.serve((LOOPBACK, 0), config)
    yield srv
    srv.shutdown()
    srv.server_close()


def families(port: int) -> dict[str, dict[str, set[str]]]:
    """family -> label -> values, of the agent's /metrics; {} while it is not up."""
    try:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return {}
    out: dict[str, dict[str, set[str]]] = {}
    for family in text_string_to_metric_families(text):
        labels = out.setdefault(family.name, {})
        for sample in family.samples:
            for key, value in sample.labels.items():
                labels.setdefault(key, set()).add(value)
    return out


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_the_agent_emits_every_expected_metric(server: DemoHTTPServer) -> None:
    port = free_port()
    agent = subprocess.Popen(
        [sys.executable, "-m", "agentwatch.demo.agent", "--llm-base-url", server.url]
        + ["--prometheus", f"{LOOPBACK}:{port}", "--rate", "8", "--duration", "60"]
        + ["--seed", "2", "--local-leak-mib", "96", "--breaker-fail-max", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    seen: dict[str, dict[str, set[str]]] = {}
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and agent.poll() is None:
            seen = families(port)
            if set(EXPECTED) <= set(seen) and _rich(seen):
                break
            time.sleep(0.5)
    finally:
        agent.terminate()
        _, err = agent.communicate(timeout=20)
    assert agent.returncode == 0, err.decode()[-2000:]
    missing = set(EXPECTED) - set(seen)
    assert not missing, f"missing {sorted(missing)}; seen {sorted(seen)}"
    assert _rich(seen), {k: seen[k].get(v) for k, v in EXPECTED.items() if v}
    assert "simulated" in err.decode().lower()
    assert seen["target_info"]["agentwatch_simulated"] == {"true"}


def _rich(seen: dict[str, dict[str, set[str]]]) -> bool:
    """Both evaluators scored, VRAM per source, and every path of the fallback chain used."""

    def values(family: str, label: str) -> set[str]:
        return seen.get(family, {}).get(label, set())

    return (
        {"answer_relevance", "json_validity"}
        <= values("agentwatch_llm_quality_score", "gen_ai_evaluation_name")
        and {"nvml", "torch_allocated"}
        <= values("agentwatch_gpu_memory_delta_bytes", "agentwatch_gpu_memory_source")
        and {"primary", "cheap", "human"}
        <= values("agentwatch_agent_fallbacks", "agentwatch_fallback_path")
        and {"agent", "prompt", "model"}
        <= values("agentwatch_component_info", "agentwatch_component_name")
    )


def test_relevance_is_high_on_topic_and_low_off_topic() -> None:
    question = "When do I get the refund for my returned order?"
    from agentwatch.demo import content

    assert evaluate.relevance(question, content.TOPICS["refund"][1]) == 1.0
    assert evaluate.relevance(question, content.OFF_TOPIC) == 0.0


def test_json_validity_needs_an_object_with_the_keys() -> None:
    assert evaluate.json_validity('{"category": "refund", "urgency": "low"}')
    assert not evaluate.json_validity('{"category": "refund", "urgency": "low", "note": "')
    assert not evaluate.json_validity('["category", "urgency"]')
    assert not evaluate.json_validity(None)


def test_a_hallucinated_tool_call_gets_an_error_the_model_can_read() -> None:
    assert "unknown tool" in run_tool("lookup_order_v2", "{}")
    assert "not valid JSON" in run_tool("lookup_order", '{"order_id": "ORD-1')
    assert "invalid arguments" in run_tool("lookup_order", '{"order_id": 42}')
    assert '"status": "shipped"' in run_tool("lookup_order", '{"order_id": "ORD-12345"}')
