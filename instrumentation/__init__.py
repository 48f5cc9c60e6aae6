"""Auto-instrumentation of LLM clients: OpenTelemetry GenAI spans and metrics, tokens, cost."""
