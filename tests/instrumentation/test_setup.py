"""`agentwatch.instrument()` and the entry points: providers, idempotence, undo, no code change.

What sets global providers or reads `OTEL_*` runs in a subprocess (the OpenTelemetry globals are
set-once per process); it exports over real OTLP/HTTP to the test receiver.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import wrapt
from openai.resources.chat.completions import Completions
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import agentwatch
from agentwatch import names
from agentwatch.errors import AgentwatchError
from agentwatch.instrumentation import providers, setup
from agentwatch.instrumentation.openai import OpenAIInstrumentor
from agentwatch.instrumentation.telemetry import SCOPE
from tests.instrumentation.conftest import finished
from tests.instrumentation.openai import fakeapi as fake
from tests.otlp_receiver import OtlpReceiver, attributes, metric_info, resource_attributes, spans

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.instrumentation.apps.chat_app"
APP_OUTPUT = {"reply": "Hello!", "streamed": ["", "Hel", "lo", None]}
"""What the app's caller receives: the role chunk's "", the deltas, the final chunk's None."""


@pytest.fixture
def undo() -> Iterator[None]:
    """Whatever a test instruments is undone after it."""
    yield
    agentwatch.uninstrument()


def chat() -> str | None:
    with fake.client(fake.fixed(lambda: fake.json_response(fake.completion("Hi")))) as c:
        return (
            c.chat.completions.create(model=fake.MODEL, messages=fake.MESSAGES)
            .choices[0]
            .message.content
        )


def run_app(
    env: dict[str, str], *command: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `command` from the repository root with a clean OTEL_* environment plus `env`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    base["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        command,
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# --- in process: explicit providers ------------------------------------------------------------


def test_instrument_twice_is_once_and_uninstrument_restores_the_sdk(undo: None) -> None:
    exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[reader])
    original = Completions.__dict__["create"]

    agentwatch.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    agentwatch.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    assert isinstance(Completions.__dict__["create"], wrapt.FunctionWrapper)
    assert chat() == "Hi"
    assert [s.name for s in finished(exporter)] == ["chat gpt-4o-mini"]
    assert finished(exporter)[0].instrumentation_scope.name == SCOPE

    agentwatch.uninstrument()
    agentwatch.uninstrument()  # a second undo does nothing
    assert Completions.__dict__["create"] is original
    assert chat() == "Hi"
    assert len(finished(exporter)) == 1

    agentwatch.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    assert chat() == "Hi"
    assert len(finished(exporter)) == 2  # instrumenting again after an undo works


def test_clients_limits_what_is_instrumented(undo: None) -> None:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    agentwatch.instrument(
        tracer_provider=tracer_provider, meter_provider=MeterProvider(), clients=("anthropic",)
    )
    assert chat() == "Hi"
    assert finished(exporter) == []
    assert not OpenAIInstrumentor().is_instrumented_by_opentelemetry


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"clients": ("openai", "palm")}, "unknown clients ['palm']"),
        ({"prometheus": "127.0.0.1:0", "meter_provider": MeterProvider()}, "pass no meter"),
    ],
    ids=["unknown-client", "prometheus-with-meter-provider"],
)
def test_arguments_that_cannot_work_are_refused_and_nothing_is_instrumented(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        agentwatch.instrument(**kwargs)  # type: ignore[arg-type]
    assert not OpenAIInstrumentor().is_instrumented_by_opentelemetry
    assert setup.prometheus_address() is None


def test_prometheus_serves_the_call_on_an_in_process_metrics(
    undo: None, no_global_providers: None
) -> None:
    agentwatch.instrument(tracer_provider=TracerProvider(), prometheus="127.0.0.1:0")
    address = setup.prometheus_address()
    assert address is not None and address[0] == "127.0.0.1"
    assert chat() == "Hi"
    conn = http.client.HTTPConnection(*address, timeout=10)
    try:
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        status, body = response.status, response.read().decode()
    finally:
        conn.close()
    assert status == 200
    usage = f"{names.GEN_AI_TOKEN_USAGE.prom}_count"
    lines = [line for line in body.splitlines() if line.startswith(usage)]
    assert len(lines) == 2 and all(line.endswith(" 1") for line in lines)
    assert 'gen_ai_token_type="input"' in "".join(lines)
    # The GPU part is there too: at least the exporter's own health, NVML or not.
    assert "agentwatch_exporter_collect_success" in body
    agentwatch.uninstrument()
    assert setup.prometheus_address() is None
    with pytest.raises(OSError):
        http.client.HTTPConnection(*address, timeout=2).request("GET", "/metrics")


def test_a_taken_prometheus_port_fails_and_leaves_nothing_instrumented(
    no_global_providers: None,
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(AgentwatchError):
            agentwatch.instrument(prometheus=f"127.0.0.1:{port}")
    assert not OpenAIInstrumentor().is_instrumented_by_opentelemetry
    assert setup.prometheus_address() is None


# --- OTEL_* parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "traces", "metrics"),
    [
        ({}, False, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, True, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, True, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_METRICS_EXPORTER": "none"}, True, False),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_TRACES_EXPORTER": "console"},
            False,
            True,
        ),
    ],
    ids=["nothing", "endpoint", "traces-only", "metrics-off", "traces-elsewhere"],
)
def test_a_signal_is_exported_only_when_the_variables_name_an_otlp_endpoint(
    env: dict[str, str], traces: bool, metrics: bool
) -> None:
    assert providers.otlp_configured(env, providers.TRACES) is traces
    assert providers.otlp_configured(env, providers.METRICS) is metrics


def test_the_protocol_is_per_signal_then_general_and_checked() -> None:
    env = {
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf",
    }
    assert providers.protocol(env, providers.TRACES) == "grpc"
    assert providers.protocol(env, providers.METRICS) == "http/protobuf"
    assert providers.protocol({}, providers.TRACES) == "http/protobuf"
    with pytest.raises(ValueError, match="http/json"):
        providers.protocol({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, providers.TRACES)


# --- subprocesses: the globals, the variables and opentelemetry-instrument ---------------------


def otel_env(receiver: OtlpReceiver) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_SERVICE_NAME": "chat-app",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=test",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }


def assert_exported(receiver: OtlpReceiver) -> None:
    """The app's two calls arrived as two agentwatch spans and their metrics, with the resource."""
    assert receiver.wait_for(lambda r: len(spans(r.trace_requests())) >= 2)
    assert receiver.wait_for(lambda r: bool(r.metrics_requests()))
    got = spans(receiver.trace_requests())
    assert [s.name for s in got] == ["chat gpt-4o-mini", "chat gpt-4o-mini"]
    assert [attributes(s.attributes).get("gen_ai.usage.input_tokens") for s in got] == [12, 9]
    scopes = {
        scope.scope.name
        for request in receiver.trace_requests()
        for resource in request.resource_spans
        for scope in resource.scope_spans
    }
    assert scopes == {SCOPE}  # no second instrumentation's span
    resource = resource_attributes(receiver.trace_requests()[0])
    assert resource["service.name"] == "chat-app"
    assert resource["deployment.environment.name"] == "test"
    info = metric_info(receiver.metrics_requests())
    assert info[names.GEN_AI_TOKEN_USAGE.otel].unit == names.GEN_AI_TOKEN_USAGE.unit
    assert resource_attributes(receiver.metrics_requests()[0])["service.name"] == "chat-app"


def test_instrument_builds_providers_from_the_otel_variables() -> None:
    with OtlpReceiver() as receiver:
        done = run_app(
            {**otel_env(receiver), "OTEL_METRIC_EXPORT_INTERVAL": "3600000"},
            sys.executable,
            "-m",
            APP,
            "--instrument",
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == APP_OUTPUT
        # Exported by uninstrument()'s flush, the periodic interval being an hour.
        assert_exported(receiver)


def test_opentelemetry_instrument_needs_no_code_change() -> None:
    launcher = Path(sys.executable).with_name("opentelemetry-instrument")
    assert launcher.exists(), "opentelemetry-instrument comes with opentelemetry-instrumentation"
    with OtlpReceiver() as receiver:
        done = run_app(
            # The official OpenAI instrumentation (installed for the benchmark) is turned off,
            # as a user running both would: two instrumentations give two spans per call.
            {**otel_env(receiver), "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "openai"},
            str(launcher),
            sys.executable,
            "-m",
            APP,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == APP_OUTPUT
        # Exported at exit, when the SDK shuts its providers down.
        assert_exported(receiver)


def test_a_bad_otel_variable_under_opentelemetry_instrument_leaves_the_app_running() -> None:
    launcher = Path(sys.executable).with_name("opentelemetry-instrument")
    done = run_app(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon",
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "openai",
        },
        str(launcher),
        sys.executable,
        "-m",
        APP,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == APP_OUTPUT
    assert "carrier-pigeon" in done.stderr


HIDDEN = """
import importlib.abc, sys
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("openai", "anthropic"):
            raise ModuleNotFoundError(name)
        return None
sys.meta_path.insert(0, Hide())
import agentwatch
agentwatch.instrument()
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("openai", "anthropic"))
print(loaded)
agentwatch.uninstrument()
"""


def test_without_the_sdks_instrument_imports_nothing_and_succeeds() -> None:
    done = run_app({}, sys.executable, "-c", HIDDEN)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
