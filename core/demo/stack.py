"""The processes of `agentwatch demo`: ports, configuration files, start, readiness, stop.

Every child listens on loopback, logs to `STATE/logs/NAME.log`, runs in its own session (a
Ctrl-C reaches the demo only, which then stops the children in reverse order: SIGTERM, and
SIGKILL after a grace period) and, on Linux, gets SIGTERM from the kernel if the demo itself
dies (`PR_SET_PDEATHSIG`), so no child outlives it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.resources
import logging
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agentwatch.errors import AgentwatchError, UsageError

log = logging.getLogger("agentwatch.demo")

LOOPBACK = "127.0.0.1"
EXPORTER_JOB = "agentwatch-exporter"
"""The job the rules select the exporter's series by (`alerts/rules.py` `Config`)."""
AGENT_JOB = "support-agent"
# The pod of the simulated GPU's leaking process (scenario `leak`), as Kubernetes would label the
# agent's series: the correlation rules join its latency and quality to that GPU, and the
# per-inference alerts name the same pod the exporter's leak alert does.
AGENT_LABELS = {"namespace": "inference", "pod": "agent-0"}


def port_for(flag: str, given: int | None) -> int:
    """`given` if it can be bound on loopback (`UsageError` if busy), else a free port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, given or 0))
        except OSError as exc:
            raise UsageError(
                f"{flag} {given}: {LOOPBACK}:{given} is busy ({exc.strerror})"
            ) from None
        return int(sock.getsockname()[1])


def alerts_file(name: str) -> Path:
    """A file shipped in `agentwatch.alerts` (rules, Alertmanager configuration, templates)."""
    return Path(str(importlib.resources.files("agentwatch.alerts") / name))


def rule_files() -> list[Path]:
    """Every `*.rules.yml` the repository ships."""
    folder = alerts_file(".")
    return sorted(folder.glob("*.rules.yml"))


def fast_rule_files(directory: Path, interval: str = "1s") -> list[Path]:
    """Copies of the shipped rule files in `directory`, every group evaluated each `interval`.

    For `agentwatch demo --fast`: the correlation group runs every minute and its Pearson
    coefficients need 30 evaluations, half an hour; at 1 s they answer within a minute. The
    rules themselves, their windows and thresholds, are the shipped ones.
    """
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for path in rule_files():
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in content["groups"]:
            group["interval"] = interval
        copy = directory / path.name
        copy.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
        out.append(copy)
    return out


def prometheus_config(
    exporter: int,
    agent: int,
    alertmanager: int | None,
    interval: str = "2s",
    *,
    fleet: Sequence[int] = (),
    rules: Sequence[Path] | None = None,
) -> dict[str, Any]:
    """Prometheus scraping the exporters (as the rules' job) and the agent, with every rule.

    `fleet`: the ports of more simulated exporters, scraped as the same job (hosts of a
    fleet); `rules`: the rule files (default: the shipped ones).
    """
    exporters = [f"{LOOPBACK}:{port}" for port in (exporter, *fleet)]
    config: dict[str, Any] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(f) for f in (rule_files() if rules is None else rules)],
        "scrape_configs": [
            {"job_name": EXPORTER_JOB, "static_configs": [{"targets": exporters}]},
            {
                "job_name": AGENT_JOB,
                # What Kubernetes service discovery would add: the rules' per-inference alerts
                # name the pod, and the receiver resolves it.
                "static_configs": [{"targets": [f"{LOOPBACK}:{agent}"], "labels": AGENT_LABELS}],
            },
        ],
    }
    if alertmanager is not None:
        targets = [f"{LOOPBACK}:{alertmanager}"]
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": targets}]}]}
    return config


def alertmanager_config(receiver: int, token_file: Path, sink: int) -> dict[str, Any]:
    """The repository's alerts/alertmanager.yml, its routing kept, made to run on loopback.

    The remediation webhook points at the local receiver with the demo's token file; every
    e-mail and Slack receiver becomes a webhook to the demo's notification sink (nothing leaves
    the machine, and no secret is needed), and the templates are the shipped ones.
    """
    config: dict[str, Any] = yaml.safe_load(alerts_file("alertmanager.yml").read_text())
    config["global"] = {"resolve_timeout": config.get("global", {}).get("resolve_timeout", "5m")}
    config["templates"] = [str(alerts_file("templates") / "*.tmpl")]
    for item in config.get("receivers", []):
        name = item["name"]
        if name == "remediation":
            webhook = item["webhook_configs"][0]
            webhook["url"] = f"http://{LOOPBACK}:{receiver}/webhook"
            webhook["http_config"]["authorization"]["credentials_file"] = str(token_file)
            continue
        if any(key.endswith("_configs") for key in item):
            url = f"http://{LOOPBACK}:{sink}/receiver/{name}"
            kept = {"name": name, "webhook_configs": [{"url": url, "send_resolved": True}]}
            item.clear()
            item.update(kept)
    return config


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the demo's process dies (Linux)."""
    libc_name = ctypes.util.find_library("c")
    if sys.platform.startswith("linux") and libc_name:
        pr_set_pdeathsig = 1
        ctypes.CDLL(libc_name, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass
class Child:
    """One started process."""

    name: str
    argv: Sequence[str]
    log_path: Path
    ready_url: str | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        """Start it, its output into its log file."""
        with self.log_path.open("ab") as out:
            try:
                self.process = subprocess.Popen(
                    list(self.argv),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,  # noqa: PLW1509 - one libc call, no locks
                )
            except OSError as exc:
                raise AgentwatchError(f"cannot start {self.name} ({self.argv[0]}): {exc}") from None

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of its log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def exited(self) -> int | None:
        """Its exit code once it has exited, else None."""
        return None if self.process is None else self.process.poll()

    def wait_ready(self, timeout: float) -> None:
        """Until `ready_url` answers 200; `AgentwatchError` if it exits or takes too long."""
        if self.ready_url is None:
            return
        deadline = time.monotonic() + timeout
        while True:
            code = self.exited()
            if code is not None:
                raise AgentwatchError(
                    f"{self.name} exited with {code} at start; its log ({self.log_path}):\n"
                    + self.log_tail()
                )
            if _answers(self.ready_url):
                return
            if time.monotonic() > deadline:
                raise AgentwatchError(
                    f"{self.name} not ready after {timeout:g}s; its log:\n{self.log_tail()}"
                )
            time.sleep(0.2)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds; idempotent."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %gs: killed", self.name, grace)
            process.kill()
            process.wait(timeout=grace)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


class Stack:
    """Children started in order and stopped in reverse."""

    def __init__(self) -> None:
        self.children: list[Child] = []

    def start(self, child: Child, timeout: float = 60.0) -> Child:
        """Start `child` and wait until it is ready."""
        self.children.append(child)
        child.start()
        child.wait_ready(timeout)
        return child

    def dead(self) -> Child | None:
        """A child that exited on its own, if any."""
        return next((c for c in self.children if c.exited() is not None), None)

    def stop(self, each: Callable[[Child], None] | None = None) -> None:
        """Stop every child, the last started first."""
        for child in reversed(self.children):
            try:
                child.stop()
            except Exception as exc:  # noqa: BLE001 - stop every other child regardless
                log.warning("stopping %s: %s", child.name, exc)
            if each is not None:
                each(child)
