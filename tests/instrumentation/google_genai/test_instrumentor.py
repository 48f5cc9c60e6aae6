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

from agentwatch.instrumentation.google_genai import GoogleGenAIInstrumentor
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.conftest import finished
from tests.instrumentation.google_genai import fakeapi as fake


def owners() -> dict[tuple[int, str], tuple[Any, str, Any]]:
    """Every (owner, method) the targets name in this SDK, with the function found there now."""
    found: dict[tuple[int, str], tuple[Any, str, Any]] = {}
    for module_name, path, _ in GoogleGenAIInstrumentor().targets():
        owner_name, _, method = path.rpartition(".")
        owner = getattr(importlib.import_module(module_name), owner_name)
        found[(id(owner), method)] = (owner, method, owner.__dict__.get(method))
    return found


def test_the_supported_range_includes_the_installed_sdk() -> None:
    (requirement,) = (
        Requirement(r) for r in GoogleGenAIInstrumentor().instrumentation_dependencies()
    )
    assert requirement.name == "google-genai" and version("google-genai") in requirement.specifier
    assert "1.0.0" in requirement.specifier and "4.0" not in requirement.specifier


def test_every_method_the_brief_names_is_found_in_this_sdk() -> None:
    from google.genai.models import AsyncModels, Models

    named = {(owner, method) for owner, method, original in owners().values() if original}
    for cls in (Models, AsyncModels):
        for method in ("generate_content", "generate_content_stream", "embed_content"):
            assert (cls, method) in named, f"{cls.__name__}.{method}"


def test_uninstrument_restores_the_very_same_functions(telemetry: Telemetry) -> None:
    before = owners()
    instrumentor = GoogleGenAIInstrumentor()
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
    answer = fake.fixed(lambda: fake.json_response(fake.response()))
    instrumentor = GoogleGenAIInstrumentor()
    instrumentor.instrument(telemetry=telemetry)
    instrumentor.instrument(telemetry=telemetry)
    try:
        fake.client(answer).models.generate_content(**fake.CALL)
        assert len(finished(span_exporter)) == 1
    finally:
        instrumentor.uninstrument()
    fake.client(answer).models.generate_content(**fake.CALL)
    assert len(finished(span_exporter)) == 1  # uninstrumented: no new span


class ForAnotherSdk(GoogleGenAIInstrumentor):
    _instance = None  # BaseInstrumentor is a singleton per class: not the parent's instance
    _instruments = ("google-genai >= 99",)  # as if the SDK were out of range


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
        answer = fake.fixed(lambda: fake.json_response(fake.response()))
        fake.client(answer).models.generate_content(**fake.CALL)
    finally:
        instrumentor.uninstrument()
    assert finished(span_exporter) == []
    (record,) = [r for r in caplog.records if "ForAnotherSdk" in r.getMessage()]
    assert "google-genai" in record.getMessage()


def test_importing_the_instrumentor_does_not_import_the_sdk() -> None:
    import subprocess
    import sys

    code = (
        "import sys, agentwatch.instrumentation.google_genai as g; g.GoogleGenAIInstrumentor(); "
        "sys.exit('google.genai' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
