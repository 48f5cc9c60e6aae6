"""Component versions: the model, prompt template, vector database and agent a process runs.

Declared once, as `agentwatch.instrument(components={"model": "gpt-4o-2024-08-06",
"prompt_template": "v12", "vector_db": "qdrant-1.9.2", "agent": "2.3.1"})` or in
`OTEL_RESOURCE_ATTRIBUTES` as `agentwatch.component.<name>.version=<version>` (arguments win).
They are exported twice:

- as resource attributes `agentwatch.component.<name>.version` on every span and metric, when
  agentwatch builds the providers (the SDK reads `OTEL_RESOURCE_ATTRIBUTES` itself in any case);
- as the gauge `agentwatch.component.info` = 1 with `agentwatch.component.name` and
  `agentwatch.component.version`, so a dashboard can mark a version change and an alert can
  count the distinct versions of one component within a job (replicas running different
  versions: `count by (job, agentwatch_component_name) (count by (job, agentwatch_component_name,
  agentwatch_component_version) (agentwatch_component_info)) > 1`).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import unquote

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from agentwatch import names
from agentwatch.instrumentation import semconv as sc

log = logging.getLogger("agentwatch.instrumentation")

KNOWN = ("model", "prompt_template", "vector_db", "agent")
"""The components the dashboards know; any other name matching `NAME` may be declared too."""
NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_COMPONENTS = 32
MAX_VERSION = 128
"""Characters of a version kept (a version is a label value: long ones are a mistake)."""
PREFIX = "agentwatch.component."
SUFFIX = ".version"
RESOURCE_ENV = "OTEL_RESOURCE_ATTRIBUTES"


def resource_key(component: str) -> str:
    """The resource attribute of a component's version: `agentwatch.component.<name>.version`."""
    return f"{PREFIX}{component}{SUFFIX}"


def validate(components: Mapping[str, str]) -> dict[str, str]:
    """The components as given, checked; `ValueError` for a bad name or version."""
    out: dict[str, str] = {}
    for name, version in components.items():
        if not isinstance(name, str) or not NAME.match(name):
            raise ValueError(
                f"component name {name!r}: use lower-case letters, digits and '_' "
                f"(known: {', '.join(KNOWN)})"
            )
        if not isinstance(version, str) or not version.strip():
            raise ValueError(f"component {name!r}: the version must be a non-empty string")
        if len(version) > MAX_VERSION:
            raise ValueError(f"component {name!r}: a version has at most {MAX_VERSION} characters")
        out[name] = version.strip()
    if len(out) > MAX_COMPONENTS:
        raise ValueError(f"at most {MAX_COMPONENTS} components can be declared")
    return out


def from_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The versions `OTEL_RESOURCE_ATTRIBUTES` declares; malformed entries are logged, skipped."""
    env = os.environ if environ is None else environ
    out: dict[str, str] = {}
    for item in env.get(RESOURCE_ENV, "").split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.startswith(PREFIX) or not key.endswith(SUFFIX):
            continue
        name = key[len(PREFIX) : -len(SUFFIX)]
        try:
            out.update(validate({name: unquote(value.strip())}))
        except ValueError as exc:
            log.warning("%s: %s ignored: %s", RESOURCE_ENV, key, exc)
    return out


def declared(
    components: Mapping[str, str] | None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The versions of the environment, overridden by `components`; `ValueError` if bad."""
    versions = from_environment(environ)
    versions.update(validate(components or {}))
    if len(versions) > MAX_COMPONENTS:
        raise ValueError(f"at most {MAX_COMPONENTS} components can be declared")
    return versions


def resource_attributes(versions: Mapping[str, str]) -> dict[str, str]:
    """The resource attributes of `versions`."""
    return {resource_key(name): version for name, version in versions.items()}


class _Gauge:
    """One observable gauge of one meter, observing the source bound to it last."""

    def __init__(self) -> None:
        self.source: Callable[[], Iterable[Observation]] = list

    def observe(self, options: CallbackOptions) -> Iterable[Observation]:
        return self.source()


_gauges: weakref.WeakKeyDictionary[Meter, dict[str, _Gauge]] = weakref.WeakKeyDictionary()
_gauges_lock = threading.Lock()


def observe_gauge(
    meter: Meter, spec: names.MetricSpec, source: Callable[[], Iterable[Observation]]
) -> None:
    """Observe `source()` as the gauge `spec` of `meter` (replacing an earlier source).

    The SDK keeps the callbacks of the first registration of an instrument name, so a second
    `instrument()` on the same providers would leave its gauges observing the first one's
    state: the gauge is registered once per meter and observes whatever was bound last.
    """
    with _gauges_lock:
        try:
            per_meter = _gauges.setdefault(meter, {})
        except TypeError:  # a meter that cannot be weakly referenced: register every time
            per_meter = {}
        gauge = per_meter.get(spec.otel)
        if gauge is None:
            gauge = per_meter[spec.otel] = _Gauge()
            meter.create_observable_gauge(
                spec.otel, callbacks=[gauge.observe], unit=spec.unit, description=spec.help
            )
        gauge.source = source


class Components:
    """The declared versions, observed as `agentwatch.component.info` at each collection."""

    def __init__(self, meter: Meter) -> None:
        self._versions: dict[str, str] = {}
        self._lock = threading.Lock()
        observe_gauge(meter, names.COMPONENT_INFO, self._observe)

    def declare(self, versions: Mapping[str, str]) -> None:
        """Replace the declared versions (checked as `validate` does)."""
        checked = validate(versions)
        with self._lock:
            self._versions = checked

    @property
    def versions(self) -> dict[str, str]:
        """The declared versions."""
        with self._lock:
            return dict(self._versions)

    def _observe(self) -> Iterable[Observation]:
        return [
            Observation(1, {sc.COMPONENT_NAME: name, sc.COMPONENT_VERSION: version})
            for name, version in self.versions.items()
        ]
