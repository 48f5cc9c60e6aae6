"""Per-client benchmark: the CPU agentwatch adds to one call of every instrumented client.

For each module of `benchmarks/clients/` whose SDK is installed: the real client on an
in-memory transport (the fakes the tests use, real wire formats), one plain call, under three
variants interleaved round by round: uninstrumented; a hand-written span carrying exactly the
attributes, and recording exactly the metric points, that agentwatch records for that call
(captured from one instrumented call and replayed: the floor the OpenTelemetry SDK sets); and
agentwatch. Each client gets a row of CPU added per call and the ratio agentwatch / hand-written
span, with the target of the OpenAI and Anthropic instrumentation (1.25). Exits 0 unless
`--check` is given and a target is missed.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import importlib
import importlib.util
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Tracer, use_span

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_report import Row, exit_code, table, write_json  # noqa: E402

from agentwatch.instrumentation.content import ContentPolicy  # noqa: E402
from agentwatch.instrumentation.telemetry import Telemetry  # noqa: E402

CLIENTS = Path(__file__).resolve().parent / "clients"
VARIANTS = ("none", "span", "agentwatch")
TARGET = 1.25
"""agentwatch over the hand-written span, per plain call (as for OpenAI and Anthropic)."""


@dataclasses.dataclass(frozen=True)
class Counts:
    """`rounds` of every variant after `warmup`; a batch lasts about `batch_seconds` of CPU."""

    rounds: int
    warmup: int
    batch_seconds: float
    min_calls: int


FULL = Counts(rounds=15, warmup=1, batch_seconds=0.2, min_calls=5)
QUICK = Counts(rounds=1, warmup=0, batch_seconds=0.0, min_calls=2)


class Discard(SpanExporter):
    """Drops every span: exporting costs nothing, for every variant alike."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class Keep(SpanExporter):
    """Keeps the spans of the capture run."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


@dataclasses.dataclass
class Recorded:
    """What agentwatch recorded for one call: its span and its metric points."""

    name: str
    kind: SpanKind
    start_attributes: dict[str, Any]
    attributes: dict[str, Any]
    points: list[tuple[str, float, dict[str, Any]]]


class HandWritten:
    """A careful user's span around the call: the same data, known in advance, no parsing."""

    def __init__(self, tracer: Tracer, telemetry: Telemetry, recorded: Recorded) -> None:
        self.tracer, self.recorded = tracer, recorded
        instruments = {
            getattr(value, "name", None): value
            for value in vars(telemetry).values()
            if hasattr(value, "record") or hasattr(value, "add")
        }
        self.points: list[tuple[Callable[..., Any], float, dict[str, Any]]] = []
        for name, value, attributes in recorded.points:
            instrument = instruments[name]
            write = getattr(instrument, "record", None) or instrument.add
            self.points.append((write, value, attributes))

    def call(self, call: Callable[[], Any]) -> Any:
        r = self.recorded
        span = self.tracer.start_span(r.name, kind=r.kind, attributes=r.start_attributes)
        with use_span(span, end_on_exit=False, record_exception=False):
            result = call()
        span.set_attributes(r.attributes)
        for write, value, attributes in self.points:
            write(value, attributes)
        span.end()
        return result


@dataclasses.dataclass
class Client:
    """One client's call, instrumentor and hand-written twin."""

    name: str
    call: Callable[[], Any]
    instrumentor: Any
    hand: HandWritten | None = None
    calls: int = 1


def load(path: Path) -> ModuleType:
    """A module of benchmarks/clients/ by file path (the folder is no package on sys.path)."""
    spec = importlib.util.spec_from_file_location(f"bench_client_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def instrumentor_of(reference: str) -> Any:
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)()


class Bench:
    """The shared providers and every installed client."""

    def __init__(self, only: Sequence[str] = ()) -> None:
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(Discard()))
        self.meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
        self.telemetry = Telemetry(
            self.tracer_provider, self.meter_provider, content=ContentPolicy(enabled=False)
        )
        self.tracer = self.tracer_provider.get_tracer("bench.handwritten")
        self.clients: list[Client] = []
        self.missing: list[str] = []
        for path in sorted(CLIENTS.glob("*.py")):
            if path.stem == "__init__" or (only and path.stem not in only):
                continue
            try:
                module = load(path)
                client = Client(
                    path.stem, module.plain_call(), instrumentor_of(module.INSTRUMENTOR)
                )
            except ImportError as exc:
                self.missing.append(f"{path.stem} ({exc})")
                continue
            client.hand = HandWritten(self.tracer, self.telemetry, capture(client))
            self.clients.append(client)

    def batch(self, client: Client, variant: str, n: int) -> float:
        """Thread CPU seconds per call of `n` calls under `variant` (only it is active)."""
        if variant == "agentwatch":
            client.instrumentor.instrument(telemetry=self.telemetry)
        try:
            gc.collect()
            call, hand = client.call, client.hand
            started = time.thread_time()
            if variant == "span" and hand is not None:
                for _ in range(n):
                    hand.call(call)
            else:
                for _ in range(n):
                    call()
            spent = time.thread_time() - started
        finally:
            if variant == "agentwatch":
                client.instrumentor.uninstrument()
        return spent / n


_REQUEST = ("gen_ai.request.", "gen_ai.operation.", "gen_ai.provider.", "server.")


def capture(client: Client) -> Recorded:
    """One instrumented call on private providers: the span and points agentwatch records."""
    spans = Keep()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    telemetry = Telemetry(
        tracer_provider, MeterProvider(metric_readers=[reader]), content=ContentPolicy()
    )
    client.instrumentor.instrument(telemetry=telemetry)
    try:
        client.call()
    finally:
        client.instrumentor.uninstrument()
    if len(spans.spans) != 1:
        raise RuntimeError(f"{client.name}: {len(spans.spans)} spans for one call")
    span = spans.spans[0]
    points: list[tuple[str, float, dict[str, Any]]] = []
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    value = point.sum if isinstance(point, HistogramDataPoint) else point.value
                    points.append((metric.name, float(value), dict(point.attributes or {})))
    attributes = dict(span.attributes or {})
    # What a request says is known when the span starts; the rest is set after the response.
    start = {k: v for k, v in attributes.items() if k.startswith(_REQUEST)}
    rest = {k: v for k, v in attributes.items() if k not in start}
    return Recorded(span.name, span.kind, start, rest, points)


def calibrate(bench: Bench, counts: Counts) -> None:
    """Calls per batch, so that one uninstrumented batch lasts about `batch_seconds`."""
    for client in bench.clients:
        once = bench.batch(client, "none", 3)
        client.calls = max(counts.min_calls, int(counts.batch_seconds / max(once, 1e-6)))


def measure(bench: Bench, counts: Counts) -> dict[str, dict[str, list[float]]]:
    """Per client and variant, the per-call CPU of every round; variants rotate each round."""
    samples = {c.name: {v: [] for v in VARIANTS} for c in bench.clients}
    for round_ in range(counts.warmup + counts.rounds):
        shift = round_ % len(VARIANTS)
        for client in bench.clients:
            for variant in VARIANTS[shift:] + VARIANTS[:shift]:
                spent = bench.batch(client, variant, client.calls)
                if round_ >= counts.warmup:
                    samples[client.name][variant].append(spent)
    return samples


def added(samples: dict[str, list[float]], variant: str) -> float:
    """The variant's best round minus the uninstrumented call's best round.

    Best of rounds, not the median of paired differences: a LiteLLM or mistralai call costs
    2-3 ms of SDK work whose noise on a shared machine (100 us and more a round) dwarfs the
    50-150 us measured, and noise only ever adds CPU, so each variant's least-disturbed round
    is the closest to its own cost.
    """
    return min(samples[variant]) - min(samples["none"])


def rows_of(samples: dict[str, dict[str, list[float]]]) -> list[Row]:
    """Per client: the uninstrumented call, CPU added by each variant, and the target ratio."""
    us = 1e6
    rows: list[Row] = []
    for name, per_variant in samples.items():
        floor = min(per_variant["none"]) * us
        span, ours = added(per_variant, "span") * us, added(per_variant, "agentwatch") * us
        rows += [
            Row(f"{name}.call.cpu.none", floor, "us"),
            Row(f"{name}.call.added.span", span, "us", floor),
            Row(f"{name}.call.added.agentwatch", ours, "us", floor),
            # A floor under a microsecond is noise, not a ratio: charge it at 1 µs.
            Row(f"{name}.call.agentwatch_over_span", ours / max(span, 1.0), "x", target=TARGET),
        ]
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts, for the smoke test")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("clients", nargs="*", help="only these (module names of clients/)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    counts = QUICK if args.quick else FULL
    bench = Bench(args.clients)
    calibrate(bench, counts)
    rows = rows_of(measure(bench, counts))
    print(f"agentwatch per-client benchmark: {counts}")
    for missing in bench.missing:
        print(f"not installed, no row: {missing}")
    print(table(rows))
    if args.json:
        write_json(args.json, rows, counts=dataclasses.asdict(counts), missing=bench.missing)
    return exit_code(rows, args.check)


if __name__ == "__main__":
    sys.exit(main())
