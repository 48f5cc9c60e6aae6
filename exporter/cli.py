"""`agentwatch exporter`: flags, wiring, and the run loop of the GPU exporter."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from dataclasses import dataclass
from types import FrameType

from agentwatch.errors import UsageError
from agentwatch.settings import add_flag, parse_duration, positive_float, resolve

log = logging.getLogger(__name__)

DEFAULT_LISTEN = "127.0.0.1:9401"
BACKENDS = ("nvml", "sim", "auto")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the exporter's flags (each also settable as AGENTWATCH_<FLAG>)."""
    from agentwatch.exporter.sim.scenarios import SCENARIOS

    add_flag(
        parser,
        "--listen",
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help="address of /metrics; use 0.0.0.0:PORT to listen on every interface",
    )
    add_flag(
        parser,
        "--gpu-backend",
        default="nvml",
        choices=BACKENDS,
        metavar="NAME",
        help="where GPU data comes from: NVML, the simulator, or NVML if a driver answers "
        "else the simulator",
    )
    add_flag(
        parser,
        "--sim-scenario",
        default="mixed",
        choices=tuple(SCENARIOS),
        metavar="NAME",
        help="simulated host",
    )
    add_flag(parser, "--sim-seed", default=0, parse=int, help="seed of the simulated host")
    add_flag(
        parser,
        "--sim-speed",
        default=1.0,
        parse=positive_float,
        metavar="FACTOR",
        help="simulated seconds per real second (30 shows a 20-minute leak in 40 s)",
    )
    add_flag(
        parser,
        "--interval",
        default=1.0,
        parse=parse_duration,
        metavar="DURATION",
        help="collection interval (1, 500ms, 5s)",
    )
    add_flag(
        parser,
        "--web-config-file",
        metavar="FILE",
        help="TLS and basic auth for /metrics, in the Prometheus exporter-toolkit format",
    )
    add_flag(
        parser,
        "--otlp-endpoint",
        metavar="URL",
        help="also push the metrics over OTLP to this collector (http://host:4318)",
    )
    add_flag(
        parser,
        "--otlp-protocol",
        default="http/protobuf",
        choices=("http/protobuf", "grpc"),
        metavar="NAME",
        help="OTLP transport",
    )
    add_flag(
        parser,
        "--otlp-interval",
        default=15.0,
        parse=parse_duration,
        metavar="DURATION",
        help="OTLP push interval",
    )
    add_flag(parser, "--proc-root", default="/proc", metavar="DIR", help="host /proc")
    add_flag(
        parser,
        "--pods-log-dir",
        default="/var/log/pods",
        metavar="DIR",
        help="kubelet's pod log directory, to resolve pod names and namespaces",
    )
    add_flag(
        parser,
        "--containers-log-dir",
        default="/var/log/containers",
        metavar="DIR",
        help="kubelet's container log links, to resolve pods from container ids",
    )
    add_flag(
        parser,
        "--leak-window",
        default=240.0,
        parse=parse_duration,
        metavar="DURATION",
        help="longest window of the leak analysis",
    )
    add_flag(
        parser,
        "--leak-grace",
        default=60.0,
        parse=parse_duration,
        metavar="DURATION",
        help="no leak verdict in a process's first DURATION (model load, pre-allocation)",
    )


@dataclass(frozen=True)
class _Stopper:
    event: threading.Event

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        log.info("received signal %d, stopping", signum)
        self.event.set()


def run(args: argparse.Namespace) -> int:
    """Start the exporter and serve until SIGINT or SIGTERM."""
    resolve(args)
    from agentwatch.exporter.app import ExporterApp, ExporterOptions

    options = ExporterOptions(
        listen=args.listen,
        backend=args.gpu_backend,
        sim_scenario=args.sim_scenario,
        sim_seed=args.sim_seed,
        sim_speed=args.sim_speed,
        interval=args.interval,
        web_config_file=args.web_config_file,
        otlp_endpoint=args.otlp_endpoint,
        otlp_protocol=args.otlp_protocol,
        otlp_interval=args.otlp_interval,
        proc_root=args.proc_root,
        pods_log_dir=args.pods_log_dir,
        containers_log_dir=args.containers_log_dir,
        leak_window=args.leak_window,
        leak_grace=args.leak_grace,
    )
    if options.leak_window < 3 * 10.0:
        raise UsageError("--leak-window: must be at least 30s")
    app = ExporterApp(options)
    stop = threading.Event()
    handler = _Stopper(stop)
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    app.start()
    try:
        stop.wait()
    finally:
        app.stop()
    return 0
