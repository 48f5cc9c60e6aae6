"""The demo workload and `agentwatch demo`: the whole stack on loopback, with nothing real to break.

- `llm_server`: a simulated LLM service speaking the OpenAI Chat Completions API (JSON and SSE,
  tool calls, refusals, errors, latency), its misbehaviour rising with a pressure knob;
- `agent`: a support agent instrumented with `agentwatch.instrument()`, using the real `openai`
  SDK, tenacity, pybreaker, `agentwatch.fallback` and `agentwatch.record_quality`, with a
  simulated local model (`local_model`) whose GPU memory per inference is recorded;
- `run` (`agentwatch demo`) and `stack`: those two, the exporter with simulated GPUs, the
  remediation receiver in dry run, and Prometheus and Alertmanager where installed.

Everything simulated says so: `simulated="true"` on the exporter's GPUs, `agentwatch.simulated`
on the agent's resource and spans, the service's `x-agentwatch-simulated` header, and a log
line at each start.
"""
