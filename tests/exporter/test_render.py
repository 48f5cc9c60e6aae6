"""The fast renderer writes exactly what prometheus_client writes for the same snapshot."""

from __future__ import annotations

import dataclasses
import logging

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from agentwatch.exporter.collector import SnapshotCollector
from agentwatch.exporter.leak import LeakAnalyzer
from agentwatch.exporter.model import Attribution, Snapshot
from agentwatch.exporter.poller import Poller
from agentwatch.exporter.render import Renderer
from agentwatch.exporter.sim.backend import SimAttributor, SimBackend, load_scenario
from agentwatch.exporter.sim.scenarios import SCENARIOS


class Clock:
    def __init__(self) -> None:
        self.now = 2_000_000.0

    def __call__(self) -> float:
        return self.now


def snapshots(name: str, cycles: int) -> list[Snapshot]:
    """Snapshots of a simulated host after `cycles` one-second cycles, at x5 speed."""
    clock = Clock()
    backend = SimBackend(load_scenario(name, 1), 1, 5.0, clock=clock, monotonic=clock)
    published: list[Snapshot] = []
    poller = Poller(
        backend, SimAttributor(backend), published.append, 1.0, LeakAnalyzer(), clock, clock
    )
    for _ in range(cycles):
        clock.now += 1.0
        poller.run_once()
    return published[-3:]


def reference(snapshot: Snapshot, openmetrics: bool) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(lambda: snapshot))
    if openmetrics:
        body: bytes = generate_openmetrics(registry)  # type: ignore[no-untyped-call]
        return body.decode().removesuffix("# EOF\n")
    return generate_latest(registry).decode()


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)


@pytest.mark.parametrize("openmetrics", [False, True], ids=["text", "openmetrics"])
@pytest.mark.parametrize("name", sorted(SCENARIOS), ids=str)
def test_renders_like_prometheus_client(name: str, openmetrics: bool) -> None:
    renderer = Renderer()
    for snapshot in snapshots(name, 100):
        assert renderer.render(snapshot, openmetrics) == reference(snapshot, openmetrics)


@pytest.mark.parametrize("openmetrics", [False, True], ids=["text", "openmetrics"])
def test_label_values_are_escaped_like_prometheus_client(openmetrics: bool) -> None:
    snapshot = snapshots("healthy", 70)[-1]
    weird = 'a "quoted" back\\slash\nnew line, ünïcödé'
    processes = tuple(
        dataclasses.replace(p, name=weird, attribution=Attribution(weird, weird, weird))
        for p in snapshot.processes
    )
    odd = dataclasses.replace(snapshot, processes=processes, stale=True)
    assert Renderer().render(odd, openmetrics) == reference(odd, openmetrics)


def test_an_empty_snapshot_still_declares_every_family() -> None:
    empty = Snapshot(0.0, False, (), (), {}, {}, {}, False, 0.0, None)
    assert Renderer().render(empty, False) == reference(empty, False)
    assert Renderer().render(empty, True) == reference(empty, True)
