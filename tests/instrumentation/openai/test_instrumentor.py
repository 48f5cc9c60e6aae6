"""The instrumentor: what it wraps, that twice is once, and that uninstrument restores the SDK."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from importlib.metadata import version
from typing import Any

import wrapt
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from packaging.requirements import Requirement

from agentwatch.instrumentation.base import Target
from agentwatch.instrumentation.openai import OpenAIInstrumentor
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.conftest import finished
from tests.instrumentation.openai import fakeapi as fake


def owners() -> dict[tuple[int, str], tuple[Any, str, Any]]:
    """Every (class, method) the targets name in this SDK, with the function found there now."""
    found: dict[tuple[int, str], tuple[Any, str, Any]] = {}
    for module_name, path, _ in OpenAIInstrumentor().targets():
        owner_name, _, method = path.rpartition(".")
        try:
            owner = getattr(importlib.import_module(module_name), owner_name)
        except (ImportError, AttributeError):
            continue
        found[(id(owner), method)] = (owner, method, owner.__dict__.get(method))
    return found


def test_the_supported_range_includes_the_installed_sdk() -> None:
    (requirement,) = (Requirement(r) for r in OpenAIInstrumentor().instrumentation_dependencies())
    assert requirement.name == "openai" and version("openai") in requirement.specifier


def test_every_method_the_brief_names_is_found_in_this_sdk() -> None:
    named = {(owner.__name__, method) for owner, method, _ in owners().values()}
    for cls in ("Completions", "AsyncCompletions"):
        assert {(cls, "create"), (cls, "parse"), (cls, "stream")} <= named
    for cls in ("Responses", "AsyncResponses"):
        assert {(cls, "create"), (cls, "parse"), (cls, "stream")} <= named
    assert {("Embeddings", "create"), ("AsyncEmbeddings", "create")} <= named


def test_uninstrument_restores_the_very_same_functions(telemetry: Telemetry) -> None:
    before = owners()
    instrumentor = OpenAIInstrumentor()
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
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(telemetry=telemetry)
    instrumentor.instrument(telemetry=telemetry)
    try:
        with fake.client(fake.fixed(lambda: fake.json_response(fake.completion()))) as c:
            c.chat.completions.create(model=fake.MODEL, messages=fake.MESSAGES)
        assert len(finished(span_exporter)) == 1
        # The chat resources are one class under two module paths: wrapped once.
        from openai.resources.chat.completions import Completions

        wrapper = Completions.__dict__["create"]
        assert not isinstance(wrapper.__wrapped__, wrapt.FunctionWrapper)
    finally:
        instrumentor.uninstrument()
    with fake.client(fake.fixed(lambda: fake.json_response(fake.completion()))) as c:
        c.chat.completions.create(model=fake.MODEL, messages=fake.MESSAGES)
    assert len(finished(span_exporter)) == 1  # uninstrumented: no new span


class WithMissingTargets(OpenAIInstrumentor):
    _instance = None  # BaseInstrumentor is a singleton per class: not the parent's instance

    def targets(self) -> Iterator[Target]:
        yield "openai.resources.no_such_module", "Thing.create", lambda t: None  # type: ignore
        yield "openai.resources.embeddings", "NoSuchClass.create", lambda t: None  # type: ignore
        yield from super().targets()


def test_targets_missing_from_the_sdk_are_skipped(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    instrumentor = WithMissingTargets()
    assert type(instrumentor) is WithMissingTargets
    instrumentor.instrument(telemetry=telemetry)
    try:
        with fake.client(fake.fixed(lambda: fake.json_response(fake.embeddings()))) as c:
            c.embeddings.create(model="text-embedding-3-small", input="x")
    finally:
        instrumentor.uninstrument()
    assert [s.name for s in finished(span_exporter)] == ["embeddings text-embedding-3-small"]
