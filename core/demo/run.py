"""`agentwatch demo`: the whole stack on loopback in one command, no Docker.

It starts, each on a free loopback port unless given:

1. the exporter with simulated GPUs (`leak` by default: a process leaking from its first
   minute, 30 times real time, so the leak alert fires within about two minutes), and the
   exporters of three more simulated hosts (`--fleet`, default `mixed,xid,gpu-lost`: several
   workloads with throttling and a second leak, XID and ECC errors, a GPU falling off the bus),
   so that every panel of the GPU dashboards has something to show;
2. the simulated LLM service (`agentwatch.demo.llm_server`), its pressure a slow triangle wave;
3. the remediation receiver (`agentwatch remediate`) in dry run, with a generated bearer token
   and an allow-list for the simulated pod; its audit log is `STATE/audit.jsonl`;
4. the support agent (`agentwatch.demo.agent`) with its `/metrics`;
5. where the binaries are on PATH, Alertmanager (alerts/alertmanager.yml's routing, the
   webhook pointed at the receiver, e-mail and Slack receivers turned into a local sink whose
   notifications land in `STATE/notifications.jsonl`) and Prometheus (the exporter as job
   `agentwatch-exporter`, the agent as `support-agent`, every `alerts/*.rules.yml`; with
   `--fast`, copies of them whose groups evaluate every second, so that the correlation
   panels, whose Pearson coefficients need 30 evaluations, fill within a minute).

It prints the URLs and every remediation decision and notification as they come, and runs
until Ctrl-C or `--duration`; then it stops every child. Everything simulated says so.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

from agentwatch.demo import stack
from agentwatch.demo.stack import LOOPBACK, Child, Stack
from agentwatch.errors import AgentwatchError, UsageError
from agentwatch.exporter.sim import scenarios as sim_scenarios

log = logging.getLogger("agentwatch.demo")

SCENARIOS = ("leak", "mixed", "fast-leak")
FLEET = "mixed,xid,gpu-lost"
"""The default `--fleet`: with the `leak` host, what every GPU panel needs (see its help)."""
PORTS = ("exporter", "llm", "agent", "receiver", "prometheus", "alertmanager")
RESTART_COMMAND = "kubectl delete pod --namespace {namespace} {pod}"
"""What the receiver would run (dry run: never) for the leaking pod."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the demo's flags."""
    parser.add_argument("--duration", type=float, default=0.0, help="seconds; 0: until Ctrl-C")
    parser.add_argument("--state-dir", metavar="DIR", help="logs, configs, audit (default: temp)")
    parser.add_argument("--scenario", choices=SCENARIOS, default="leak", help="simulated host")
    parser.add_argument("--sim-speed", type=float, default=30.0, help="simulated s per real s")
    parser.add_argument("--rate", type=float, default=2.0, help="agent tickets per second")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--fleet",
        default=FLEET,
        metavar="SCENARIO,...",
        help="more simulated hosts, scraped as the same job ('': none; default: %(default)s)",
    )
    parser.add_argument("--fast", action="store_true", help="evaluate every rule group each second")
    for name in PORTS:
        parser.add_argument(f"--{name}-port", type=int, metavar="PORT", help="default: a free one")


def _fleet(args: argparse.Namespace) -> list[str]:
    return [name.strip() for name in args.fleet.split(",") if name.strip()]


def _python(*args: str) -> list[str]:
    return [sys.executable, *args]


class Sink(ThreadingHTTPServer):
    """Alertmanager's e-mail and Slack receivers, made local: one JSON line per notification."""

    daemon_threads = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        super().__init__((LOOPBACK, 0), _SinkHandler)


class _SinkHandler(BaseHTTPRequestHandler):
    server: Sink

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        receiver = self.path.rsplit("/", 1)[-1]
        try:
            notification = json.loads(body)
            alerts = [a["labels"].get("alertname", "?") for a in notification.get("alerts", [])]
            status = notification.get("status", "?")
        except (ValueError, AttributeError, KeyError, TypeError):
            alerts, status = [], "unparsable"
        with self.server.lock, self.server.path.open("a") as out:
            out.write(json.dumps({"receiver": receiver, "status": status, "alerts": alerts}) + "\n")
        _say(f"notification to {receiver}: {status} {', '.join(sorted(set(alerts)))}")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


_SAY = threading.Lock()
"""The sink's request threads and the audit follower print: one line at a time."""


def _say(line: str) -> None:
    with _SAY:
        sys.stdout.write(f"[demo] {line}\n")
        sys.stdout.flush()


def _write_secret(path: Path, value: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")


def _binaries() -> tuple[str | None, str | None]:
    prometheus = shutil.which("prometheus")
    alertmanager = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    return prometheus, alertmanager


def run(args: argparse.Namespace) -> int:
    """Start the stack, report, and stop it at the end; the exit code."""
    if args.rate <= 0 or args.sim_speed <= 0 or args.duration < 0:
        raise UsageError("--rate and --sim-speed must be > 0, --duration >= 0")
    unknown = sorted(set(_fleet(args)) - set(sim_scenarios.SCENARIOS))
    if unknown:
        raise UsageError(
            f"--fleet: unknown scenario {', '.join(unknown)} "
            f"(one of {', '.join(sim_scenarios.SCENARIOS)})"
        )
    ports = {
        name: stack.port_for(f"--{name}-port", getattr(args, f"{name}_port")) for name in PORTS
    }
    if len(set(ports.values())) < len(ports):
        raise UsageError("two of the --*-port flags name the same port")
    temporary = args.state_dir is None
    state = Path(args.state_dir or tempfile.mkdtemp(prefix="agentwatch-demo-"))
    (state / "logs").mkdir(parents=True, exist_ok=True)
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    children = Stack()
    sink = Sink(state / "notifications.jsonl")
    threading.Thread(target=sink.serve_forever, name="demo-sink", daemon=True).start()
    try:
        _start(args, state, ports, children, sink.server_address[1])
        code = _watch(args, state, children, stop)
    finally:
        children.stop(lambda c: log.debug("stopped %s", c.name))
        sink.shutdown()
        sink.server_close()
        if temporary:
            shutil.rmtree(state, ignore_errors=True)
        else:
            _say(f"stopped; logs, configurations and the audit log are in {state}")
    return code


def _start(
    args: argparse.Namespace, state: Path, ports: dict[str, int], children: Stack, sink: int
) -> None:
    logs = state / "logs"
    p = ports
    log.warning(
        "agentwatch demo: the GPUs, the LLM service, its models and the agent's local model are "
        'SIMULATED (simulated="true" on agentwatch_gpu_info, agentwatch_simulated="true" on '
        "the agent's target_info); the receiver only audits (dry run)"
    )
    children.start(
        Child(
            "exporter",
            _python("-m", "agentwatch", "exporter", "--gpu-backend", "sim")
            + ["--sim-scenario", args.scenario, "--sim-speed", f"{args.sim_speed:g}"]
            + ["--sim-seed", str(args.seed), "--interval", "250ms"]
            # The leak analysis runs in real time: its grace and window scaled to the clock.
            + [
                "--leak-grace",
                "2s",
                "--leak-window",
                "30s",
                "--listen",
                f"{LOOPBACK}:{p['exporter']}",
            ],
            logs / "exporter.log",
            f"http://{LOOPBACK}:{p['exporter']}/-/ready",
        )
    )
    fleet: list[int] = []
    for name in _fleet(args):
        # A free port now, but none of those the other children are about to bind.
        port = stack.port_for("--fleet", None)
        while port in p.values() or port in fleet:
            port = stack.port_for("--fleet", None)
        fleet.append(port)
        children.start(
            Child(
                f"exporter-{name}",
                _python("-m", "agentwatch", "exporter", "--gpu-backend", "sim")
                + ["--sim-scenario", name, "--sim-speed", f"{args.sim_speed:g}"]
                + ["--sim-seed", str(args.seed), "--interval", "500ms"]
                + ["--leak-grace", "2s", "--leak-window", "30s"]
                + ["--listen", f"{LOOPBACK}:{port}"],
                logs / f"exporter-{name}.log",
                f"http://{LOOPBACK}:{port}/-/ready",
            )
        )
    children.start(
        Child(
            "llm-server",
            _python("-m", "agentwatch.demo.llm_server", "--listen", f"{LOOPBACK}:{p['llm']}")
            + ["--seed", str(args.seed), "--pressure", "0.05", "--pressure-max", "0.8"]
            + ["--pressure-period", "300"],
            logs / "llm-server.log",
            f"http://{LOOPBACK}:{p['llm']}/healthz",
        )
    )
    token_file = state / "secrets" / "remediation-token"
    _write_secret(token_file, secrets.token_urlsafe(32))
    children.start(
        Child(
            "receiver",
            _python("-m", "agentwatch", "remediate", "--listen", f"{LOOPBACK}:{p['receiver']}")
            + ["--target", "command", "--restart-command", RESTART_COMMAND]
            + ["--token-file", str(token_file), "--allow-namespace", "inference"]
            + ["--allow-workload", "pod/*", "--cooldown", "5m"]
            + ["--audit-log", str(state / "audit.jsonl")],
            logs / "receiver.log",
            f"http://{LOOPBACK}:{p['receiver']}/-/healthy",
        )
    )
    children.start(
        Child(
            "agent",
            _python(
                "-m", "agentwatch.demo.agent", "--llm-base-url", f"http://{LOOPBACK}:{p['llm']}/v1"
            )
            + ["--prometheus", f"{LOOPBACK}:{p['agent']}", "--rate", f"{args.rate:g}"]
            + ["--seed", str(args.seed), "--local-leak-mib", "96"],
            logs / "agent.log",
            f"http://{LOOPBACK}:{p['agent']}/-/healthy",
        )
    )
    prometheus, alertmanager = _binaries()
    urls = {
        "exporter": f"http://{LOOPBACK}:{p['exporter']}/metrics",
        **{
            f"exporter ({name})": f"http://{LOOPBACK}:{port}/metrics"
            for name, port in zip(_fleet(args), fleet, strict=True)
        },
        "agent": f"http://{LOOPBACK}:{p['agent']}/metrics",
        "LLM service (OpenAI API)": f"http://{LOOPBACK}:{p['llm']}/v1",
        "remediation receiver": f"http://{LOOPBACK}:{p['receiver']}/webhook (dry run)",
    }
    if prometheus is None:
        log.warning(
            "prometheus is not on PATH: no rules, no alerts (install Debian's `prometheus` and "
            "`prometheus-alertmanager`); the exporter, the service and the agent run"
        )
    else:
        am_port: int | None = None
        if alertmanager is None:
            log.warning("prometheus-alertmanager is not on PATH: alerts fire but go nowhere")
        else:
            am_port = p["alertmanager"]
            config = stack.alertmanager_config(p["receiver"], token_file, sink)
            (state / "alertmanager.yml").write_text(yaml.safe_dump(config, sort_keys=False))
            children.start(
                Child(
                    "alertmanager",
                    [alertmanager, f"--config.file={state / 'alertmanager.yml'}"]
                    + [f"--storage.path={state / 'alertmanager'}"]
                    + [f"--web.listen-address={LOOPBACK}:{am_port}", "--cluster.listen-address="],
                    logs / "alertmanager.log",
                    f"http://{LOOPBACK}:{am_port}/-/ready",
                )
            )
            urls["Alertmanager"] = f"http://{LOOPBACK}:{am_port}"
        rules = stack.fast_rule_files(state / "rules") if args.fast else None
        config = stack.prometheus_config(
            p["exporter"], p["agent"], am_port, fleet=fleet, rules=rules
        )
        (state / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        children.start(
            Child(
                "prometheus",
                [prometheus, f"--config.file={state / 'prometheus.yml'}"]
                + [f"--storage.tsdb.path={state / 'prometheus'}"]
                + [f"--web.listen-address={LOOPBACK}:{p['prometheus']}"],
                logs / "prometheus.log",
                f"http://{LOOPBACK}:{p['prometheus']}/-/ready",
            )
        )
        urls["Prometheus"] = f"http://{LOOPBACK}:{p['prometheus']}"
        urls["alerts"] = f"http://{LOOPBACK}:{p['prometheus']}/alerts"
    for name, url in urls.items():
        _say(f"{name + ':':26} {url}")
    _say(f"state (logs, configs, audit.jsonl): {state}")
    _say(
        "running; Ctrl-C stops every process"
        if not args.duration
        else f"running {args.duration:g} s"
    )


def _watch(args: argparse.Namespace, state: Path, children: Stack, stop: threading.Event) -> int:
    """Report each audited decision until stopped; 1 if a child died."""
    started = time.monotonic()
    audit = state / "audit.jsonl"
    offset = 0
    while not stop.wait(0.5):
        if args.duration and time.monotonic() - started >= args.duration:
            break
        dead = children.dead()
        if dead is not None:
            print(
                f"agentwatch demo: error: {dead.name} exited with {dead.exited()}; its log:\n"
                + dead.log_tail(),
                file=sys.stderr,
            )
            return 1
        if audit.exists():
            with audit.open() as lines:
                lines.seek(offset)
                for line in lines:
                    if not line.endswith("\n"):
                        break
                    offset += len(line.encode())
                    _report(line, time.monotonic() - started)
    return 0


def _report(line: str, elapsed: float) -> None:
    try:
        entry = json.loads(line)
        alert = entry["alert"]["labels"].get("alertname", "?")
        _say(f"+{elapsed:.0f}s remediation: {alert} -> {entry['decision']}: {entry['reason']}")
    except (ValueError, KeyError, TypeError, AttributeError):
        log.debug("unreadable audit line: %r", line)


def main(argv: list[str] | None = None) -> int:
    """`python -m agentwatch.demo.run`: the same as `agentwatch demo`."""
    parser = argparse.ArgumentParser(prog="agentwatch demo")
    add_arguments(parser)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return run(parser.parse_args(argv))
    except AgentwatchError as exc:
        print(f"agentwatch demo: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
