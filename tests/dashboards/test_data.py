"""Every query of every dashboard is valid PromQL and returns data from a real Prometheus.

A real Prometheus scrapes, every second, three simulated exporters that together produce every
GPU event a panel shows (`mixed`: a leaking process, throttling under batch load, pods;
`xid`: XID errors of every class and the uncorrectable ECC errors they bring; `gpu-lost`: a
GPU falling off the bus, NVML errors, failing collections), all as the job the alert rules
select, and the instrumented agent of workload.py as `demo-agent`, in the pod of the leaking
process (namespace and pod target labels, as a Kubernetes scrape would add them), so the
correlation rules join its latency and quality with that GPU's memory pressure. It evaluates
the committed rule files with every group's interval set to 1 s.

Each query, with the variables at All and `$__rate_interval` at 15 s, runs through the HTTP
API as Grafana would send it (a range query over the test's data, or an instant query for
instant targets) and must parse and return at least one series. No window is shortened: the
recording rules over 1 hour (the Pearson coefficients, the SLO ratios) start answering as soon
as their minimum sample counts are met, which at 1 s evaluations takes about 30 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.dashboards.queries import REPO, Query, all_queries, substitute
from tests.prometheus import LOOPBACK, PrometheusError, PrometheusServer, ScrapeJob, free_port

SCENARIOS = ("mixed", "xid", "gpu-lost")
EXPORTER_FLAGS = ["--sim-speed", "30", "--interval", "500ms", "--leak-grace", "2s"]
EXPORTER_FLAGS += ["--leak-window", "30s"]
APP_JOB = "demo-agent"
APP_LABELS = {"namespace": "inference", "pod": "agent-7"}
"""The pod of the `mixed` scenario's leaking process (exporter/sim/scenarios.py)."""
DEADLINE = 150.0
"""Seconds to wait for every query to have data (about 45 are needed)."""
# The module's Prometheus starts with the first test: its wait counts against that test's time.
pytestmark = [pytest.mark.prometheus, pytest.mark.slow, pytest.mark.timeout(DEADLINE + 90)]
STEP = 2.0


@dataclass
class Stack:
    """The running Prometheus, and when its data begins."""

    prometheus: PrometheusServer
    start: float
    ready_after: float = 0.0
    errors: dict[str, str] = field(default_factory=dict)

    def run(self, query: Query) -> int:
        """Run `query` as Grafana would; the number of series it returns."""
        now = time.time()
        expr = substitute(query.expr, max(int(now - self.start), 1))
        if query.instant:
            return len(self.prometheus.query(expr, at=now))
        return len(self.prometheus.query_range(expr, self.start, now, STEP))


def fast_rules(directory: Path) -> list[Path]:
    """Copies of the committed rule files whose groups evaluate every second."""
    out = []
    for path in sorted((REPO / "alerts").glob("*.rules.yml")):
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in content["groups"]:
            group["interval"] = "1s"
        copy = directory / path.name
        copy.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
        out.append(copy)
    return out


def spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}  # no network, ever
    with log.open("wb") as out:
        return subprocess.Popen(
            args, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )


QUERIES = all_queries()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("dashboards-data")
    processes: list[subprocess.Popen[bytes]] = []
    try:
        exporters = []
        for scenario in SCENARIOS:
            port = free_port()
            exporters.append(f"{LOOPBACK}:{port}")
            processes.append(
                spawn(
                    [sys.executable, "-m", "agentwatch", "exporter", "--gpu-backend", "sim"]
                    + ["--sim-scenario", scenario, *EXPORTER_FLAGS]
                    + ["--listen", f"{LOOPBACK}:{port}"],
                    directory / f"exporter-{scenario}.log",
                )
            )
        app_port = free_port()
        processes.append(
            spawn(
                [sys.executable, "-m", "tests.dashboards.workload", str(app_port)],
                directory / "workload.log",
            )
        )
        jobs = [
            ScrapeJob("agentwatch-exporter", exporters),
            ScrapeJob(APP_JOB, [f"{LOOPBACK}:{app_port}"], labels=APP_LABELS),
        ]
        with PrometheusServer(jobs, rule_files=fast_rules(directory)) as prometheus:
            stack = Stack(prometheus, time.time())
            prometheus.wait_for("sum(up)", lambda r: bool(r) and float(r[0]["value"][1]) == 4)
            wait_for_data(stack, directory)
            yield stack
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)


def wait_for_data(stack: Stack, directory: Path) -> None:
    """Until every query returns data (or the deadline): the tests then read each one's state."""
    pending = list(QUERIES)
    deadline = time.monotonic() + DEADLINE
    while pending and time.monotonic() < deadline:
        still = []
        for query in pending:
            try:
                if stack.run(query) == 0:
                    still.append(query)
            except PrometheusError as exc:  # a parse error does not get better by waiting
                stack.errors[query.id] = str(exc)
        pending = still
        if pending:
            time.sleep(2)
    stack.ready_after = time.time() - stack.start
    logs = "\n".join(
        f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}" for p in directory.glob("*.log")
    )
    stack.errors.update({q.id: f"no data after {DEADLINE:g}s" for q in pending})
    if pending:
        print(logs, file=sys.stderr)


def test_every_query_has_data_within_the_deadline(stack: Stack) -> None:
    print(f"every dashboard query had data {stack.ready_after:.0f}s after Prometheus started")
    assert not stack.errors, "\n".join(f"{k}: {v}" for k, v in sorted(stack.errors.items()))


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.id)
def test_the_query_parses_and_returns_data(stack: Stack, query: Query) -> None:
    assert query.id not in stack.errors, stack.errors.get(query.id)
    assert stack.run(query) > 0, f"{query.expr}: no data"
