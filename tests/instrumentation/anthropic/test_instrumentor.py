"""The instrumentor: what it wraps, that twice is once, and that uninstrument restores the SDK."""

from __future__ import annotations

import importlib
from importlib.metadata import version
from typing import Any

import anthropic._base_client
import wrapt
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from packaging.requirements import Requirement

from agentwatch.instrumentation.anthropic import AnthropicInstrumentor
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.anthropic import fakeapi as fake
from tests.instrumentation.conftest import finished


def owners() -> dict[tuple[int, str], tuple[Any, str, Any]]:
    """Every (owner, method) the targets name in this SDK, with the function found there now."""
    found: dict[tuple[int, str], tuple[Any, str, Any]] = {}
    for module_name, path, _ in AnthropicInstrumentor().targets():
        owner_name, _, method = path.rpartition(".")
        try:
            module = importlib.import_module(module_name)
            owner = getattr(module, owner_name) if owner_name else module
        except (ImportError, AttributeError):
            continue
        found[(id(owner), method)] = (owner, method, owner.__dict__.get(method))
    return found


def test_the_supported_range_includes_the_installed_sdk() -> None:
    (requirement,) = (
        Requirement(r) for r in AnthropicInstrumentor().instrumentation_dependencies()
    )
    assert requirement.name == "anthropic" and version("anthropic") in requirement.specifier
    assert "0.18" in requirement.specifier and "3.0" not in requirement.specifier


def test_every_method_the_brief_names_is_found_in_this_sdk() -> None:
    from anthropic.resources.beta.messages import messages as beta
    from anthropic.resources.messages import messages as stable

    named = {(owner, method) for owner, method, _ in owners().values()}
    for module in (stable, beta):
        for cls in (module.Messages, module.AsyncMessages):
            for method in ("create", "parse", "stream", "count_tokens"):
                assert (cls, method) in named, f"{cls.__module__}.{cls.__name__}.{method}"
    assert (anthropic._base_client, "start_api_call_span") in named


def test_uninstrument_restores_the_very_same_functions(telemetry: Telemetry) -> None:
    before = owners()
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(telemetry=telemetry)
    try:
        for owner, method, _ in before.values():
            assert isinstance(owner.__dict__[method], wrapt.FunctionWrapper), method
    finally:
        instrumentor.uninstrument()
    for owner, method, original in before.values():
        assert owner.__dict__.get(method) is original, f"{owner.__name__}.{method}"


def test_instrumenting_twice_still_gives_one_span_per_call(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(telemetry=telemetry)
    instrumentor.instrument(telemetry=telemetry)
    try:
        with fake.client(fake.fixed(lambda: fake.json_response(fake.message()))) as c:
            c.messages.create(**fake.CALL)
        assert len(finished(span_exporter)) == 1
    finally:
        instrumentor.uninstrument()
    with fake.client(fake.fixed(lambda: fake.json_response(fake.message()))) as c:
        c.messages.create(**fake.CALL)
    assert len(finished(span_exporter)) == 1  # uninstrumented: no new span


class ForAnotherSdk(AnthropicInstrumentor):
    _instance = None  # BaseInstrumentor is a singleton per class: not the parent's instance
    _instruments = ("anthropic >= 99",)  # as if the SDK were missing or out of range


def test_nothing_is_wrapped_when_the_sdk_is_missing_or_out_of_range(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    before = owners()
    instrumentor = ForAnotherSdk()
    instrumentor.instrument(telemetry=telemetry)
    try:
        for owner, method, original in before.values():
            assert owner.__dict__.get(method) is original
        with fake.client(fake.fixed(lambda: fake.json_response(fake.message()))) as c:
            c.messages.create(**fake.CALL)
    finally:
        instrumentor.uninstrument()
    assert finished(span_exporter) == []


def test_importing_the_instrumentor_does_not_import_the_sdk() -> None:
    import subprocess
    import sys

    code = (
        "import sys, agentwatch.instrumentation.anthropic as a; a.AnthropicInstrumentor(); "
        "sys.exit('anthropic' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
