"""`instrument()` never imports LiteLLM: its functions are wrapped when the application does."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import sys

    import wrapt
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider

    import agentwatch

    agentwatch.instrument(tracer_provider=TracerProvider(), meter_provider=MeterProvider())
    assert "litellm" not in sys.modules, "instrument() imported litellm"
    from litellm import completion

    assert isinstance(completion, wrapt.FunctionWrapper), type(completion)
    agentwatch.uninstrument()
    import litellm

    assert not isinstance(litellm.completion, wrapt.FunctionWrapper)
    print("deferred ok")
    """
)

CANCELLED = textwrap.dedent(
    """
    import sys

    import wrapt
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider

    import agentwatch

    agentwatch.instrument(tracer_provider=TracerProvider(), meter_provider=MeterProvider())
    agentwatch.uninstrument()
    import litellm

    assert not isinstance(litellm.completion, wrapt.FunctionWrapper)
    print("cancelled ok")
    """
)


def run(script: str) -> str:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "OTEL_SDK_DISABLED": "true"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=100, env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_litellm_is_wrapped_when_the_application_imports_it() -> None:
    assert "deferred ok" in run(SCRIPT)


def test_uninstrumenting_before_the_import_leaves_litellm_alone() -> None:
    assert "cancelled ok" in run(CANCELLED)
