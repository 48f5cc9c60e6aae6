"""The instrumentor: what it wraps, that uninstrument restores, and a version out of range."""

from __future__ import annotations

import importlib
import logging
from importlib.metadata import version
from typing import Any

import pytest
import wrapt
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from packaging.requirements import Requirement

from agentwatch.instrumentation.mistralai import MistralInstrumentor
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.conftest import finished
from tests.instrumentation.mistralai import fakeapi as fake


def owners() -> dict[tuple[int, str], tuple[Any, str, Any]]:
    """Every (owner, method) the targets name in this SDK, with the function found there now."""
    found: dict[tuple[int, str], tuple[Any, str, Any]] = {}
    for module_name, path, _ in MistralInstrumentor().targets():
        owner_name, _, method = path.rpartition(".")
        try:
            module = importlib.import_module(module_name)
            owner = getattr(module, owner_name) if owner_name else module
        except (ImportError, AttributeError):  # the 1.x layout, absent from this release
            continue
        found[(id(owner), method)] = (owner, method, owner.__dict__.get(method))
    return found


def test_the_supported_range_includes_the_installed_sdk() -> None:
    (requirement,) = (Requirement(r) for r in MistralInstrumentor().instrumentation_dependencies())
    assert requirement.name == "mistralai" and version("mistralai") in requirement.specifier
    assert "1.0.0" in requirement.specifier and "0.4.2" not in requirement.specifier
    assert "4.0" not in requirement.specifier


def test_every_method_the_brief_names_is_found_in_this_sdk() -> None:
    from mistralai.client._hooks import tracing
    from mistralai.client.chat import Chat

    named = {(owner, method) for owner, method, original in owners().values() if original}
    for method in ("complete", "complete_async", "stream", "stream_async"):
        assert (Chat, method) in named, f"Chat.{method}"
    assert (tracing, "get_traced_request_and_span") in named


def test_uninstrument_restores_the_very_same_functions(telemetry: Telemetry) -> None:
    before = owners()
    instrumentor = MistralInstrumentor()
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
    answer = fake.fixed(lambda: fake.json_response(fake.completion()))
    instrumentor = MistralInstrumentor()
    instrumentor.instrument(telemetry=telemetry)
    instrumentor.instrument(telemetry=telemetry)
    try:
        fake.client(answer).chat.complete(**fake.CALL)
        assert len(finished(span_exporter)) == 1
    finally:
        instrumentor.uninstrument()
    fake.client(answer).chat.complete(**fake.CALL)
    assert len(finished(span_exporter)) == 1  # uninstrumented: no new span


class ForAnotherSdk(MistralInstrumentor):
    _instance = None  # BaseInstrumentor is a singleton per class: not the parent's instance
    _instruments = ("mistralai >= 99",)  # as if the SDK were out of range


def test_a_version_out_of_range_is_logged_once_and_left_unpatched(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    before = owners()
    instrumentor = ForAnotherSdk()
    with caplog.at_level(logging.INFO, "agentwatch.instrumentation"):
        instrumentor.instrument(telemetry=telemetry)
    try:
        for owner, method, original in before.values():
            assert owner.__dict__.get(method) is original
        answer = fake.fixed(lambda: fake.json_response(fake.completion()))
        fake.client(answer).chat.complete(**fake.CALL)
    finally:
        instrumentor.uninstrument()
    assert finished(span_exporter) == []
    (record,) = [r for r in caplog.records if "ForAnotherSdk" in r.getMessage()]
    assert "mistralai" in record.getMessage()


def test_importing_the_instrumentor_does_not_import_the_sdk() -> None:
    import subprocess
    import sys

    code = (
        "import sys, agentwatch.instrumentation.mistralai as g; g.MistralInstrumentor(); "
        "sys.exit(any(m.startswith('mistralai') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
