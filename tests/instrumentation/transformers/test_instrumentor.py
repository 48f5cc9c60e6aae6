"""The instrumentor: its range, what it wraps, uninstrument, and nothing imported up front."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from typing import Any

import transformers
import transformers.pipelines.text_generation as text_generation
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from packaging.requirements import Requirement

from agentwatch.instrumentation.telemetry import Telemetry
from agentwatch.instrumentation.transformers import TransformersInstrumentor
from tests.instrumentation.conftest import finished
from tests.instrumentation.transformers.conftest import gpu

PIPELINE = text_generation.TextGenerationPipeline


def originals() -> tuple[Any, Any]:
    return (
        transformers.GenerationMixin.__dict__["generate"],
        PIPELINE.__dict__["__call__"],
    )


def test_the_supported_range_includes_the_installed_transformers() -> None:
    (requirement,) = (Requirement(r) for r in TransformersInstrumentor()._instruments)
    assert requirement.name == "transformers"
    assert version("transformers") in requirement.specifier


def test_both_targets_are_wrapped_and_uninstrument_restores_them(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter, model: Any, tokenizer: Any
) -> None:
    before = originals()
    instrumentor = TransformersInstrumentor()
    instrumentor.instrument(telemetry=telemetry, gpu_memory=gpu())
    try:
        assert all(now is not then for now, then in zip(originals(), before, strict=True))
    finally:
        instrumentor.uninstrument()
    assert all(now is then for now, then in zip(originals(), before, strict=True))
    model.generate(**tokenizer("hello", return_tensors="pt"), max_new_tokens=1, do_sample=False)
    assert finished(span_exporter) == []


class ForAnotherRelease(TransformersInstrumentor):
    _instance = None  # BaseInstrumentor is a singleton per class
    _instruments = ("transformers >= 99",)


def test_nothing_is_wrapped_for_a_release_out_of_range(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter, model: Any, tokenizer: Any
) -> None:
    before = originals()
    instrumentor = ForAnotherRelease()
    instrumentor.instrument(telemetry=telemetry, gpu_memory=gpu())
    try:
        assert originals() == before
        model.generate(**tokenizer("hello", return_tensors="pt"), max_new_tokens=1)
    finally:
        instrumentor.uninstrument()
    assert finished(span_exporter) == []


def test_importing_the_instrumentor_imports_neither_transformers_nor_torch() -> None:
    code = (
        "import sys, agentwatch.instrumentation.transformers as t; t.TransformersInstrumentor(); "
        "sys.exit('transformers' in sys.modules or 'torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
