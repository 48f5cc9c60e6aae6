"""A real Prometheus server for tests: Debian's `prometheus` on a free loopback port.

`PrometheusServer` writes a configuration (scrape jobs, rule files, Alertmanagers), starts the
binary with a throwaway TSDB, waits for `/-/ready`, and answers PromQL through the HTTP API.
Everything it starts it stops, and everything it writes lives in one temporary directory.

    with PrometheusServer([ScrapeJob("agentwatch", [f"127.0.0.1:{port}"])]) as prom:
        prom.wait_for('up{job="agentwatch"}', lambda r: len(r) == 1 and value(r[0]) == 1)

Flags are those of Prometheus 2.42 (Debian bookworm), which later 2.x releases keep.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from tests.helpers import require_binary

LOOPBACK = "127.0.0.1"
Result = list[dict[str, Any]]
"""An instant vector as the API returns it: [{"metric": {...}, "value": [t, "v"]}, ...]."""


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that was free a moment ago (the OS picks it; racy only against others)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def value(sample: Mapping[str, Any]) -> float:
    """The value of one instant-vector sample."""
    return float(sample["value"][1])


def by_label(result: Result, label: str) -> dict[str, float]:
    """`{label value: sample value}` of an instant vector (one sample per label value)."""
    return {sample["metric"].get(label, ""): value(sample) for sample in result}


class PrometheusError(RuntimeError):
    """Prometheus did not start, or an API call failed; the message says why."""


@dataclass(frozen=True)
class ScrapeJob:
    """One `scrape_configs` entry: a job name, static targets and any other scrape options."""

    name: str
    targets: Sequence[str]
    labels: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    """Extra keys of the scrape config as YAML has them: `scheme`, `basic_auth`, `tls_config`..."""

    def config(self) -> dict[str, Any]:
        """The job as a `scrape_configs` item."""
        static: dict[str, Any] = {"targets": list(self.targets)}
        if self.labels:
            static["labels"] = dict(self.labels)
        return {"job_name": self.name, **self.options, "static_configs": [static]}


class PrometheusServer:
    """A Prometheus process for one test (or one module); a context manager."""

    def __init__(
        self,
        jobs: Sequence[ScrapeJob] = (),
        *,
        rule_files: Sequence[Path | str] = (),
        alertmanagers: Sequence[str] = (),
        scrape_interval: str = "1s",
        evaluation_interval: str = "1s",
        extra_args: Sequence[str] = (),
        startup_timeout: float = 30.0,
    ) -> None:
        self.jobs = tuple(jobs)
        self.rule_files = tuple(Path(f).resolve() for f in rule_files)
        self.alertmanagers = tuple(alertmanagers)
        self.scrape_interval = scrape_interval
        self.evaluation_interval = evaluation_interval
        self.extra_args = tuple(extra_args)
        self.startup_timeout = startup_timeout
        self.port = 0
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    # --- life cycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def directory(self) -> Path:
        """The temporary directory holding the config, the TSDB and the log."""
        if self._dir is None:
            raise PrometheusError("PrometheusServer is not started")
        return self._dir

    def config(self) -> dict[str, Any]:
        """The configuration file's content."""
        config: dict[str, Any] = {
            "global": {
                "scrape_interval": self.scrape_interval,
                "scrape_timeout": self.scrape_interval,
                "evaluation_interval": self.evaluation_interval,
            },
            "scrape_configs": [job.config() for job in self.jobs],
        }
        if self.rule_files:
            config["rule_files"] = [str(f) for f in self.rule_files]
        if self.alertmanagers:
            config["alerting"] = {
                "alertmanagers": [{"static_configs": [{"targets": list(self.alertmanagers)}]}]
            }
        return config

    def start(self) -> PrometheusServer:
        """Start Prometheus and wait until it is ready; raises PrometheusError if it is not."""
        binary = require_binary("prometheus")
        self._dir = Path(tempfile.mkdtemp(prefix="agentwatch-prometheus-"))
        config_file = self._dir / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        # A port picked by free_port() can be taken before Prometheus binds it: retry then.
        for _attempt in range(3):
            self.port = free_port()
            log = (self._dir / "prometheus.log").open("wb")
            try:
                self._process = subprocess.Popen(
                    [
                        binary,
                        f"--config.file={config_file}",
                        f"--storage.tsdb.path={self._dir / 'data'}",
                        f"--web.listen-address={LOOPBACK}:{self.port}",
                        "--web.enable-lifecycle",
                        *self.extra_args,
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            finally:
                log.close()
            try:
                self._wait_ready()
                return self
            except PrometheusError:
                if "address already in use" not in self.log():
                    self.stop()
                    raise
                self._kill()
        self.stop()
        raise PrometheusError("no free port for Prometheus after 3 attempts")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            process = self._process
            if process is None or process.poll() is not None:
                code = None if process is None else process.returncode
                raise PrometheusError(f"prometheus exited with {code}:\n{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise PrometheusError(
                    f"prometheus not ready after {self.startup_timeout:g}s:\n{self.log()[-3000:]}"
                )
            time.sleep(0.1)

    def log(self) -> str:
        """What Prometheus has logged so far."""
        if self._dir is None:
            return ""
        path = self._dir / "prometheus.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _kill(self, grace: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=grace)

    def stop(self) -> None:
        """Stop Prometheus (SIGTERM, then SIGKILL) and delete its directory; idempotent."""
        try:
            self._kill()
        finally:
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def reload(self) -> None:
        """Re-read the configuration and rule files (POST /-/reload)."""
        request = urllib.request.Request(f"{self.url}/-/reload", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10):
                pass
        except urllib.error.HTTPError as exc:
            raise PrometheusError(f"reload failed: {exc.read().decode(errors='replace')}") from None

    # --- HTTP API -------------------------------------------------------------------------------

    def api(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """GET /api/v1/`path` and return its `data`; raises PrometheusError with the API's error."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        url = f"{self.url}/api/v1/{path}{query}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            # 400 and 422 carry {"status": "error", "errorType": ..., "error": ...}.
            text = exc.read().decode(errors="replace")
            try:
                body = json.loads(text)
            except ValueError:
                raise PrometheusError(f"{path}: HTTP {exc.code}: {text}") from None
        if body.get("status") != "success":
            raise PrometheusError(
                f"{path} {dict(params or {})}: {body.get('errorType')}: {body.get('error')}"
            )
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> Result:
        """Evaluate `expr` as an instant query; a scalar or string comes back as one sample."""
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self.api("query", params)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        result: Result = data["result"]
        return result

    def query_range(self, expr: str, start: float, end: float, step: float) -> Result:
        """Evaluate `expr` over [start, end]: [{"metric": {...}, "values": [[t, "v"], ...]}]."""
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        result: Result = self.api("query_range", params)["result"]
        return result

    def wait_for(
        self,
        expr: str,
        predicate: Callable[[Result], bool],
        timeout: float = 30.0,
        interval: float = 0.25,
    ) -> Result:
        """Query `expr` until `predicate(result)` holds and return that result.

        Raises AssertionError with the last result after `timeout` seconds; a failing query
        (bad PromQL) raises PrometheusError at once instead of waiting it out.
        """
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if predicate(result):
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"{expr!r} did not match within {timeout:g}s; last: {result}")
            time.sleep(interval)

    def targets(self, state: str = "active") -> list[dict[str, Any]]:
        """Scrape targets in `state` (active, dropped), as /api/v1/targets lists them."""
        data = self.api("targets", {"state": state})
        key = "droppedTargets" if state == "dropped" else "activeTargets"
        targets: list[dict[str, Any]] = data.get(key) or []
        return targets

    def rule_groups(self) -> list[dict[str, Any]]:
        """Loaded rule groups with each rule's health and last error (/api/v1/rules)."""
        groups: list[dict[str, Any]] = self.api("rules")["groups"]
        return groups

    def alerts(self) -> list[dict[str, Any]]:
        """Pending and firing alerts (/api/v1/alerts)."""
        alerts: list[dict[str, Any]] = self.api("alerts")["alerts"]
        return alerts
