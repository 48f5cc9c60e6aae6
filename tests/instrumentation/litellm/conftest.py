"""Fixtures of the LiteLLM tests: no cost-map download, the instrumentors on in-memory telemetry.

LiteLLM is mocked at its HTTP layer: its OpenAI route takes an `openai.OpenAI` client
(`client=`), built here on the OpenAI tests' `httpx2.MockTransport` fake with the real Chat
Completions JSON and SSE.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Before litellm is first imported: its model cost map must come from the package, not the net.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

from agentwatch.instrumentation.litellm import LiteLLMInstrumentor  # noqa: E402
from agentwatch.instrumentation.openai import OpenAIInstrumentor  # noqa: E402
from agentwatch.instrumentation.telemetry import Telemetry  # noqa: E402


@pytest.fixture
def instrumented(telemetry: Telemetry) -> Iterator[Telemetry]:
    """LiteLLM and the openai SDK both instrumented, as `agentwatch.instrument()` does."""
    gateway, sdk = LiteLLMInstrumentor(), OpenAIInstrumentor()
    gateway.instrument(telemetry=telemetry)
    sdk.instrument(telemetry=telemetry)
    yield telemetry
    sdk.uninstrument()
    gateway.uninstrument()
