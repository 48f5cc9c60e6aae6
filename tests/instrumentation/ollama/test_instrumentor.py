"""The instrumentor: what it wraps, that twice is once, and that uninstrument restores the SDK."""

from __future__ import annotations

import importlib
import subprocess
import sys
from importlib.metadata import version
from typing import Any

import pytest
import wrapt
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from packaging.requirements import Requirement

from agentwatch.instrumentation.ollama import OllamaInstrumentor
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.conftest import finished
from tests.instrumentation.ollama import fakeapi as fake


def owners() -> dict[tuple[int, str], tuple[Any, str, Any]]:
    """Every (owner, method) the targets name, with the function found there now."""
    found: dict[tuple[int, str], tuple[Any, str, Any]] = {}
    for module_name, path, _ in OllamaInstrumentor().targets():
        owner_name, _, method = path.rpartition(".")
        owner = getattr(importlib.import_module(module_name), owner_name)
        found[(id(owner), method)] = (owner, method, owner.__dict__.get(method))
    return found


def chat_once() -> None:
    with fake.client(fake.fixed(lambda: fake.json_response(fake.chat()))) as c:
        c.chat(fake.MODEL, fake.MESSAGES)


def test_the_supported_range_includes_the_installed_sdk() -> None:
    (requirement,) = (Requirement(r) for r in OllamaInstrumentor().instrumentation_dependencies())
    assert requirement.name == "ollama" and version("ollama") in requirement.specifier
    assert "0.4" in requirement.specifier and "1.0" not in requirement.specifier


def test_every_method_the_brief_names_exists_in_this_sdk() -> None:
    import ollama

    named = {(owner, method) for owner, method, _ in owners().values()}
    for cls in (ollama.Client, ollama.AsyncClient):
        for method in ("chat", "generate", "embed"):
            assert (cls, method) in named and callable(getattr(cls, method))


def test_uninstrument_restores_the_very_same_functions(telemetry: Telemetry) -> None:
    before = owners()
    instrumentor = OllamaInstrumentor()
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
    instrumentor = OllamaInstrumentor()
    instrumentor.instrument(telemetry=telemetry)
    instrumentor.instrument(telemetry=telemetry)
    try:
        chat_once()
        assert len(finished(span_exporter)) == 1
    finally:
        instrumentor.uninstrument()
    chat_once()
    assert len(finished(span_exporter)) == 1  # uninstrumented: no new span


class ForAnotherSdk(OllamaInstrumentor):
    _instance = None  # BaseInstrumentor is a singleton per class: not the parent's instance
    _instruments = ("ollama >= 99",)  # as if the installed SDK were out of range


def test_an_sdk_out_of_range_is_logged_once_and_left_unpatched(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    before = owners()
    instrumentor = ForAnotherSdk()
    with caplog.at_level("INFO"):
        instrumentor.instrument(telemetry=telemetry)
    try:
        for owner, method, original in before.values():
            assert owner.__dict__.get(method) is original
        chat_once()
    finally:
        instrumentor.uninstrument()
    assert finished(span_exporter) == []
    lines = [r.getMessage() for r in caplog.records if "ollama >= 99" in r.getMessage()]
    assert len(lines) == 1 and version("ollama") in lines[0]


def test_importing_the_instrumentor_does_not_import_the_sdk() -> None:
    code = (
        "import sys, agentwatch.instrumentation.ollama as o; o.OllamaInstrumentor(); "
        "sys.exit('ollama' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
