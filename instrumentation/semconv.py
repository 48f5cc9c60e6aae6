"""OpenTelemetry GenAI semantic-convention attribute names and values, and agentwatch's own.

Spelled once here, never as literals in the instrumentations (STYLE.md). Names follow the GenAI
conventions as of semantic-conventions 1.37+ (`gen_ai.provider.name` replaced `gen_ai.system`).
"""

from __future__ import annotations

# Operation and provider.
OPERATION_NAME = "gen_ai.operation.name"
PROVIDER_NAME = "gen_ai.provider.name"
OUTPUT_TYPE = "gen_ai.output.type"
CONVERSATION_ID = "gen_ai.conversation.id"

# Request.
REQUEST_MODEL = "gen_ai.request.model"
REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
REQUEST_TEMPERATURE = "gen_ai.request.temperature"
REQUEST_TOP_P = "gen_ai.request.top_p"
REQUEST_TOP_K = "gen_ai.request.top_k"
REQUEST_FREQUENCY_PENALTY = "gen_ai.request.frequency_penalty"
REQUEST_PRESENCE_PENALTY = "gen_ai.request.presence_penalty"
REQUEST_STOP_SEQUENCES = "gen_ai.request.stop_sequences"
REQUEST_SEED = "gen_ai.request.seed"
REQUEST_CHOICE_COUNT = "gen_ai.request.choice.count"
REQUEST_ENCODING_FORMATS = "gen_ai.request.encoding_formats"
REQUEST_STREAM = "gen_ai.request.stream"
EMBEDDINGS_DIMENSION_COUNT = "gen_ai.embeddings.dimension.count"

# Response.
RESPONSE_ID = "gen_ai.response.id"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"

# Usage.
USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
USAGE_CACHE_CREATION_INPUT_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.usage.reasoning.output_tokens"
TOKEN_TYPE = "gen_ai.token.type"

# OpenAI's own (the conventions' `openai.*` registry).
OPENAI_REQUEST_SERVICE_TIER = "openai.request.service_tier"
"""Set only when the request names a tier other than `auto`."""
OPENAI_RESPONSE_SERVICE_TIER = "openai.response.service_tier"
OPENAI_RESPONSE_SYSTEM_FINGERPRINT = "openai.response.system_fingerprint"

# Content (opt-in only).
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
TOOL_DEFINITIONS = "gen_ai.tool.definitions"

# Server and errors.
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ERROR_TYPE = "error.type"

# agentwatch's own, for what the conventions lack.
USAGE_ESTIMATED = "agentwatch.usage.estimated"
USAGE_ESTIMATE_METHOD = "agentwatch.usage.estimate_method"
COST_USD = "agentwatch.llm.cost.usd"
TOOL_CALL_NAMES = "agentwatch.response.tool_calls"
RESPONSE_FLAGS = "agentwatch.response.flags"
"""Span: the quality flags of the response (`quality.flags`), when it has any."""
RESPONSE_FLAG = "agentwatch.response.flag"
"""Metric attribute: one flag."""
GPU_MEMORY_SOURCE = "agentwatch.gpu.memory.source"
"""nvml, torch_allocated or torch_reserved: which figure a local inference's memory delta is."""
HALLUCINATED_TOOL_CALLS = "agentwatch.response.hallucinated_tool_calls"
"""Span: how many of the response's tool calls are hallucinated (`quality.toolcalls`)."""
TOOL_CALL_REASON = "agentwatch.tool_call.reason"
TOOL_CALL_DETAIL = "agentwatch.tool_call.detail"
EVENT_HALLUCINATED_TOOL_CALL = "agentwatch.tool_call.hallucinated"
"""Span event, one per hallucinated tool call: its name, id, reason and a value-free detail."""
CODE_REF_KIND = "agentwatch.code_ref.kind"
"""Metric attribute: the kind of a hallucinated API reference (module, attribute, ...)."""
TOOL_NAME = "gen_ai.tool.name"
TOOL_CALL_ID = "gen_ai.tool.call.id"
INSTRUMENTATION = "instrumentation"
ERROR = "error"

# Values.
OP_CHAT = "chat"
OP_EMBEDDINGS = "embeddings"
OP_TEXT_COMPLETION = "text_completion"
PROVIDER_OPENAI = "openai"
PROVIDER_AZURE_OPENAI = "azure.ai.openai"
PROVIDER_ANTHROPIC = "anthropic"
OUTPUT_TYPE_TEXT = "text"
OUTPUT_TYPE_JSON = "json"
TOKEN_INPUT = "input"
TOKEN_OUTPUT = "output"
ERROR_OTHER = "_OTHER"

CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
"""The conventions' opt-in for recording prompts and completions: `true` to enable."""

# Anthropic
OP_COUNT_TOKENS = "count_tokens"
"""`messages.count_tokens`: no operation of the conventions fits, so a system-specific one."""
ANTHROPIC_COUNT_TOKENS_INPUT_TOKENS = "anthropic.message.count_tokens.input_tokens"
"""The count a `count_tokens` call answers (the SDK's own name): not usage, never a metric."""

# Evaluations (the conventions' `gen_ai.evaluation.result` event) and agentwatch's declared and
# resilience signals (quality/scores.py, components.py, agent/).
EVENT_EVALUATION_RESULT = "gen_ai.evaluation.result"
EVALUATION_NAME = "gen_ai.evaluation.name"
EVALUATION_SCORE_VALUE = "gen_ai.evaluation.score.value"
EVALUATION_SCORE_LABEL = "gen_ai.evaluation.score.label"
EVALUATION_EXPLANATION = "gen_ai.evaluation.explanation"
COMPONENT_NAME = "agentwatch.component.name"
COMPONENT_VERSION = "agentwatch.component.version"
RETRY_FUNCTION = "agentwatch.retry.function"
RETRY_OUTCOME = "agentwatch.retry.outcome"
RETRY_ATTEMPT = "agentwatch.retry.attempt"
"""Span event attribute: the attempt's number (the first is 1)."""
RETRY_WAIT = "agentwatch.retry.wait"
"""Span event attribute: seconds tenacity waits before the next attempt."""
EVENT_RETRY_WAIT = "agentwatch.retry.wait"
EVENT_RETRY_ATTEMPT = "agentwatch.retry.attempt"
EVENT_RETRY_GAVE_UP = "agentwatch.retry.gave_up"
BREAKER_NAME = "agentwatch.circuit_breaker.name"
BREAKER_STATE = "agentwatch.circuit_breaker.state"
BREAKER_PREVIOUS_STATE = "agentwatch.circuit_breaker.previous_state"
BREAKER_OUTCOME = "agentwatch.circuit_breaker.outcome"
EVENT_BREAKER_STATE_CHANGE = "agentwatch.circuit_breaker.state_change"
FALLBACK_NAME = "agentwatch.fallback.name"
FALLBACK_PATH = "agentwatch.fallback.path"
FALLBACK_OUTCOME = "agentwatch.fallback.outcome"
EVENT_FALLBACK = "agentwatch.fallback"
"""Span event, one per path a fallback chain tried: its path, outcome and error type."""
EVENT_ESCALATION = "agentwatch.fallback.escalated"
