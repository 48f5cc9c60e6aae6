"""`agentwatch.instrument()`: one call that instruments every installed LLM client.

Providers: the ones passed in, else the global OpenTelemetry providers, else SDK providers built
from the standard `OTEL_*` variables and made global (see `agentwatch.instrumentation.providers`).
A client that is not installed costs nothing: its module is probed with
`importlib.util.find_spec`, never imported; one that is installed is patched when the
application imports it (a post-import hook, `ClientInstrumentor.defer_until_imported`), so an
SDK the process never uses costs no import either. `opentelemetry-instrument python app.py`
reaches the same instrumentors through their `opentelemetry_instrumentor` entry points; the
instrumentors are singletons, so using both ways in one process still instruments each SDK once.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentwatch.instrumentation.content import ContentPolicy
from agentwatch.instrumentation.providers import Built, install_from_env

log = logging.getLogger("agentwatch.instrumentation")

INSTRUMENTORS: dict[str, tuple[str, str]] = {
    "openai": ("agentwatch.instrumentation.openai", "OpenAIInstrumentor"),
    "anthropic": ("agentwatch.instrumentation.anthropic", "AnthropicInstrumentor"),
    "ollama": ("agentwatch.instrumentation.ollama", "OllamaInstrumentor"),
    "botocore": ("agentwatch.instrumentation.bedrock", "BedrockInstrumentor"),
    "litellm": ("agentwatch.instrumentation.litellm", "LiteLLMInstrumentor"),
    "google.genai": ("agentwatch.instrumentation.google_genai", "GoogleGenAIInstrumentor"),
    "mistralai": ("agentwatch.instrumentation.mistralai", "MistralInstrumentor"),
    "cohere": ("agentwatch.instrumentation.cohere", "CohereInstrumentor"),
    "transformers": ("agentwatch.instrumentation.transformers", "TransformersInstrumentor"),
    "vllm": ("agentwatch.instrumentation.vllm", "VllmInstrumentor"),
    "llama_cpp": ("agentwatch.instrumentation.llama_cpp", "LlamaCppInstrumentor"),
}
"""SDK module -> (our module, instrumentor class)."""


@dataclass
class _State:
    instrumentors: list[Any] = field(default_factory=list)
    endpoint: Any = None
    providers: Built = field(default_factory=Built)
    signals: Any = None
    coderefs: Any = None


_lock = threading.Lock()
_state: _State | None = None


def installed(module: str) -> bool:
    """True when `module` can be imported; it is not imported to find out."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent that fails, or a module set to None
        return False


def instrument(
    *,
    tracer_provider: Any | None = None,
    meter_provider: Any | None = None,
    prometheus: str | None = None,
    capture_content: bool | None = None,
    redact: Callable[[str], str] | None = None,
    include_usage: bool = False,
    clients: tuple[str, ...] = tuple(INSTRUMENTORS),
    components: Mapping[str, str] | None = None,
    logger_provider: Any | None = None,
    check_code: float | None = None,
) -> None:
    """Instrument every installed client among `clients`; a second call does nothing.

    `prometheus="127.0.0.1:9464"` also serves the LLM metrics and this process's GPU metrics on
    an in-process `/metrics` (agentwatch then builds the meter provider: do not pass one).
    `capture_content` overrides the conventions' environment variable; `redact` is applied to
    any content recorded. `include_usage` asks OpenAI streams for their usage
    (`stream_options.include_usage`) when the caller did not. `components` declares the
    versions of the model, prompt template, vector database, agent, ... (`{"agent": "2.3.1"}`;
    `OTEL_RESOURCE_ATTRIBUTES` keys `agentwatch.component.<name>.version` too): resource
    attributes of the providers agentwatch builds, and the `agentwatch.component.info` gauge.
    `logger_provider` receives the `gen_ai.evaluation.result` events of `record_quality`
    (default: the global one). tenacity and pybreaker, where installed, are instrumented too.

    Raises `ValueError` for arguments that cannot work together, and `AgentwatchError` when the
    Prometheus address cannot be bound; nothing is left instrumented then.
    """
    global _state
    with _lock:
        if _state is not None:
            return
        unknown = set(clients) - set(INSTRUMENTORS)
        if unknown:
            raise ValueError(f"unknown clients {sorted(unknown)}: known are {list(INSTRUMENTORS)}")
        if prometheus is not None and meter_provider is not None:
            raise ValueError(
                "prometheus= serves a meter provider agentwatch builds: pass no meter_provider"
            )
        from agentwatch.instrumentation import components as versions_of

        versions = versions_of.declared(components)  # ValueError before anything is built
        state = _State()
        reader = None
        if prometheus is not None:
            from agentwatch.instrumentation.endpoint import PrometheusEndpoint
            from agentwatch.instrumentation.local_gpu import LocalGpu
            from agentwatch.instrumentation.prometheus_reader import PrometheusReader

            reader = PrometheusReader()
            # Parsed (and its errors raised) before any provider is built.
            state.endpoint = PrometheusEndpoint(reader, LocalGpu(), prometheus)
        if tracer_provider is None or meter_provider is None:
            state.providers = install_from_env(
                metric_readers=(reader,) if reader else (),
                resource_attributes=versions_of.resource_attributes(versions),
            )
        try:
            if state.endpoint is not None:
                state.endpoint.start()
        except BaseException:
            state.providers.close()
            raise
        content = ContentPolicy.from_env(redact=redact)
        if capture_content is not None:
            content = ContentPolicy(enabled=capture_content, redact=redact)
        from agentwatch.instrumentation.telemetry import Telemetry

        telemetry = Telemetry(
            tracer_provider or state.providers.tracer_provider,
            meter_provider or state.providers.meter_provider,
            content=content,
        )
        from agentwatch.instrumentation.quality.coderefs import CodeRefs, rate_from_env

        rate = rate_from_env() if check_code is None else check_code
        if rate:
            telemetry.coderefs = state.coderefs = CodeRefs(telemetry, rate)
        for sdk, (module_name, class_name) in INSTRUMENTORS.items():
            if sdk not in clients or not installed(sdk):
                continue
            try:
                instrumentor = getattr(importlib.import_module(module_name), class_name)()
                if instrumentor.is_instrumented_by_opentelemetry:
                    continue  # by `opentelemetry-instrument`: theirs to undo, not ours
                instrumentor.instrument(telemetry=telemetry, include_usage=include_usage)
            except Exception as exc:  # a broken instrumentation must not break the program
                telemetry.error(f"{sdk}.instrument", exc)
                continue
            state.instrumentors.append(instrumentor)
        from agentwatch.instrumentation import agent
        from agentwatch.instrumentation.agent.signals import Signals

        try:
            state.signals = Signals(
                telemetry, meter_provider or state.providers.meter_provider, logger_provider
            )
            state.signals.components.declare(versions)
            agent.install(state.signals)
        except Exception as exc:  # the signals are extras: the clients stay instrumented
            telemetry.error("agent.install", exc)
        _state = state


def prometheus_address() -> tuple[str, int] | None:
    """The host and port the in-process `/metrics` is bound to, or None without one."""
    state = _state
    if state is None or state.endpoint is None:
        return None
    address: tuple[str, int] = state.endpoint.address
    return address


def uninstrument() -> None:
    """Undo `instrument()`: restore the SDKs' methods, stop the endpoint, flush our providers."""
    global _state
    with _lock:
        state, _state = _state, None
    if state is None:
        return
    if state.signals is not None:
        from agentwatch.instrumentation import agent

        agent.uninstall()
    for instrumentor in state.instrumentors:
        try:
            instrumentor.uninstrument()
        except Exception as exc:  # noqa: BLE001 - restore every other SDK regardless
            log.warning("uninstrumenting %s failed: %s", type(instrumentor).__name__, exc)
    if state.endpoint is not None:
        state.endpoint.shutdown()
    if state.coderefs is not None:
        state.coderefs.close()
    state.providers.close()
