"""What every client instrumentation shares: wrapping SDK methods with wrapt, and undoing it.

A provider module subclasses `ClientInstrumentor`, names its `_instruments` requirement (as the
OpenTelemetry instrumentations do, so `opentelemetry-instrument` checks it) and lists its
`targets()`: (module, "Class.method", wrapper factory). Targets missing from the installed SDK
version (an older release without the Responses API, say) are skipped, not errors.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable, Collection, Iterator
from typing import Any

import wrapt
from opentelemetry.instrumentation.dependencies import get_dependency_conflicts
from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)

from agentwatch.instrumentation.telemetry import Telemetry

log = logging.getLogger("agentwatch.instrumentation")

Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]
Target = tuple[str, str, Callable[[Telemetry], Wrapper]]
"""(module, "Class.method", factory taking the telemetry and returning a wrapt wrapper)."""

_shared: Telemetry | None = None


def shared_telemetry(**kwargs: Any) -> Telemetry:
    """The telemetry of `opentelemetry-instrument` runs, built once for every instrumentor.

    The providers are those passed in, else the global SDK ones (a distro's configurator runs
    before the instrumentors), else ones built from `OTEL_*` and made global.
    """
    global _shared
    if _shared is None:
        tracer_provider = kwargs.get("tracer_provider")
        meter_provider = kwargs.get("meter_provider")
        if tracer_provider is None or meter_provider is None:
            from agentwatch.instrumentation.providers import install_from_env

            try:
                built = install_from_env()
            except Exception as exc:  # a bad variable must not stop the program starting
                log.error("OTEL_* settings unusable, spans and metrics are off: %s", exc)
            else:
                tracer_provider = tracer_provider or built.tracer_provider
                meter_provider = meter_provider or built.meter_provider
        _shared = Telemetry(tracer_provider, meter_provider)
    return _shared


class ClientInstrumentor(BaseInstrumentor):  # type: ignore[misc]  # untyped base class
    """Patches one SDK's methods; `instrument()` and `uninstrument()` are idempotent."""

    _instruments: tuple[str, ...] = ()
    module: str = ""
    """The SDK's top-level module, probed before anything is imported."""
    defer_until_imported: bool = True
    """Patch only once the application imports `module`: an SDK that is installed but unused
    costs no import (cohere's or LiteLLM's take a second or more)."""

    def instrumentation_dependencies(self) -> Collection[str]:
        """The SDK versions this instrumentation supports (pip requirement strings)."""
        return self._instruments

    def targets(self) -> Iterator[Target]:
        """The methods to wrap."""
        raise NotImplementedError

    def _instrument(self, **kwargs: Any) -> None:
        # `opentelemetry-instrument` checks the dependencies of the distribution, and agentwatch
        # is one distribution for every SDK: each instrumentor checks its own SDK here.
        conflict = get_dependency_conflicts(self.instrumentation_dependencies())
        if conflict is not None:
            log.info("%s: not instrumenting, %s", type(self).__name__, conflict)
            return
        telemetry = kwargs.get("telemetry") or shared_telemetry(**kwargs)
        self._wrapped: list[tuple[Any, str]] = []
        self._generation = getattr(self, "_generation", 0) + 1
        if self.defer_until_imported and self.module not in sys.modules:
            # Patched when the application imports the SDK, not before: importing it here
            # would cost a process that never uses it the SDK's import (LiteLLM's takes
            # seconds, and may fetch its price map from the internet).
            generation = self._generation

            def patch_on_import(_module: Any) -> None:
                if self._generation == generation:  # not uninstrumented (or redone) since
                    self._patch(telemetry)

            wrapt.register_post_import_hook(patch_on_import, self.module)
            return
        self._patch(telemetry)

    def _patch(self, telemetry: Telemetry) -> None:
        for module_name, path, factory in self.targets():
            owner_name, _, method = path.rpartition(".")
            try:
                module = importlib.import_module(module_name)
                owner = getattr(module, owner_name) if owner_name else module
                getattr(owner, method)
            except (ImportError, AttributeError):
                log.debug("%s.%s is not in this SDK version: not wrapped", module_name, path)
                continue
            # One class re-exported under two module paths (old and new SDK layouts) is
            # wrapped once: twice would give every call two spans.
            if any(o is owner and m == method for o, m in self._wrapped):
                continue
            wrapt.wrap_function_wrapper(owner, method, factory(telemetry))
            self._wrapped.append((owner, method))

    def _uninstrument(self, **kwargs: Any) -> None:
        self._generation = getattr(self, "_generation", 0) + 1  # a pending import hook: off
        for owner, method in getattr(self, "_wrapped", []):
            current = owner.__dict__.get(method)
            # wrapt 2's FunctionWrapper is no ObjectProxy; in wrapt 1 it is one.
            if isinstance(current, wrapt.FunctionWrapper):
                setattr(owner, method, current.__wrapped__)
        self._wrapped = []
