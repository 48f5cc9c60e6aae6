"""The exporter assembled: backend, poller, exposition cache, HTTP server, optional OTLP push."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from agentwatch.errors import UsageError
from agentwatch.exporter.exposition import ExpositionCache
from agentwatch.exporter.leak import LeakAnalyzer, LeakSettings
from agentwatch.exporter.model import Attributor, BackendUnavailableError, GpuBackend
from agentwatch.exporter.poller import Poller
from agentwatch.exporter.server import MetricsServer, parse_listen

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExporterOptions:
    """Everything `agentwatch exporter` can be told."""

    listen: str = "127.0.0.1:9401"
    backend: str = "nvml"
    sim_scenario: str = "mixed"
    sim_seed: int = 0
    sim_speed: float = 1.0
    interval: float = 1.0
    web_config_file: str | None = None
    otlp_endpoint: str | None = None
    otlp_protocol: str = "http/protobuf"
    otlp_interval: float = 15.0
    proc_root: str = "/proc"
    pods_log_dir: str | None = "/var/log/pods"
    containers_log_dir: str | None = "/var/log/containers"
    leak_window: float = 240.0
    leak_grace: float = 60.0


def _nvml_backend(options: ExporterOptions) -> GpuBackend:
    from agentwatch.exporter.nvml_backend import NvmlBackend

    return NvmlBackend(proc_root=options.proc_root)


def _sim_backend(options: ExporterOptions) -> GpuBackend:
    from agentwatch.exporter.sim.backend import SimBackend, load_scenario

    try:
        scenario = load_scenario(options.sim_scenario, options.sim_seed)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return SimBackend(scenario, seed=options.sim_seed, speed=options.sim_speed)


def build_backend(options: ExporterOptions) -> GpuBackend:
    """The backend `options.backend` names; `auto` probes NVML once and falls back to sim."""
    if options.backend == "sim":
        return _sim_backend(options)
    if options.backend == "nvml":
        return _nvml_backend(options)
    if options.backend != "auto":
        raise UsageError(f"unknown GPU backend {options.backend!r}")
    nvml = _nvml_backend(options)
    try:
        found = len(nvml.sample().gpus)
    except BackendUnavailableError as exc:
        reason = str(exc)
        found = 0
    else:
        reason = "NVML found no GPU"
    if found:
        log.info("NVML answered with %d GPU(s): using the NVML backend", found)
        return nvml
    nvml.close()
    log.warning("no NVIDIA GPU here (%s): falling back to the SIMULATED backend", reason)
    return _sim_backend(options)


def build_attributor(options: ExporterOptions, backend: GpuBackend) -> Attributor:
    """Container and pod attribution: from the scenario when simulated, else from /proc."""
    from agentwatch.exporter.sim.backend import SimAttributor, SimBackend

    if isinstance(backend, SimBackend):
        return SimAttributor(backend)
    from agentwatch.exporter.attribution import ProcAttributor

    return ProcAttributor(options.proc_root, options.pods_log_dir, options.containers_log_dir)


class ExporterApp:
    """Owns the exporter's threads and server; `start()` then `stop()`."""

    def __init__(self, options: ExporterOptions, backend: GpuBackend | None = None) -> None:
        # Everything a user can get wrong is checked here, before anything starts.
        host, port = parse_listen(options.listen)
        web_config = None
        if options.web_config_file:
            from agentwatch.exporter.web_config import load_web_config

            web_config = load_web_config(options.web_config_file)
        try:
            self._settings = LeakSettings(
                window_seconds=options.leak_window, grace_seconds=options.leak_grace
            )
        except ValueError as exc:
            raise UsageError(f"leak analysis: {exc}") from None
        self.options = options
        self._backend = backend
        self.backend: GpuBackend | None = None
        self.poller: Poller | None = None
        # Stale once five cycles (at least 10 s) pass without a new snapshot: NVML is wedged.
        self.cache = ExpositionCache(stale_after_seconds=max(5 * options.interval, 10.0))
        self.server = MetricsServer(self.cache, host, port, web_config)
        self.pusher = None
        if options.otlp_endpoint:
            from agentwatch.exporter.otlp import OtlpPusher

            self.pusher = OtlpPusher(
                self.cache.latest,
                options.otlp_endpoint,
                options.otlp_interval,
                protocol=options.otlp_protocol,
            )

    def start(self) -> None:
        """Bind the server first (a taken port fails fast), then build the backend and collect."""
        self.server.start()
        host, port = self.server.address
        self.backend = self._backend or build_backend(self.options)
        self.poller = Poller(
            self.backend,
            build_attributor(self.options, self.backend),
            self.cache.publish,
            interval_seconds=self.options.interval,
            analyzer=LeakAnalyzer(self._settings),
        )
        log.info("serving /metrics on %s:%d (backend %s)", host, port, self.options.backend)
        self.poller.start()
        if self.pusher is not None:
            self.pusher.start()

    def stop(self) -> None:
        """Stop pushing, collecting and serving; release the driver."""
        if self.pusher is not None:
            self.pusher.shutdown()
        if self.poller is not None:
            self.poller.stop()
        self.server.shutdown()
        if self.backend is not None:
            self.backend.close()
