"""What remediation restarts: a workload found from an alert's labels, and how to restart it.

A `Target` turns the labels of the exporter's per-process series (`pid`, `process`,
`container`, `pod`, `namespace`) into a `Workload` (`resolve`), and restarts it (`restart`).
`resolve` only reads, so a dry run resolves too and its audit line names the real workload.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


class NoTarget(Exception):
    """The alert's labels name nothing this target can restart (skipped, not a failure)."""


class TargetError(Exception):
    """Resolving or restarting failed (an API error, a timeout, a non-zero exit)."""


@dataclass(frozen=True)
class Workload:
    """A restartable thing: a Deployment, StatefulSet, DaemonSet, container or command target."""

    kind: str
    """`Deployment`, `StatefulSet`, `DaemonSet`, `container` or `command`."""
    namespace: str
    """Kubernetes namespace; the Compose project of a container; "" when there is none."""
    name: str
    ref: str = field(default="", compare=False)
    """What the restart call needs beyond the name (a container id)."""

    @property
    def key(self) -> str:
        """Identity for cooldowns: one workload, however many pods or alerts point at it."""
        return f"{self.kind.lower()}/{self.namespace}/{self.name}"

    @property
    def workload(self) -> str:
        """What `--allow-workload` patterns match: `kind/name`, kind in lower case."""
        return f"{self.kind.lower()}/{self.name}"

    def as_dict(self) -> dict[str, str]:
        """For the audit log."""
        return {"kind": self.kind, "namespace": self.namespace, "name": self.name}


class Target(Protocol):
    """A way of restarting workloads (Kubernetes API, Docker Engine API, a command)."""

    name: str

    def resolve(self, labels: Mapping[str, str]) -> Workload:
        """The workload the labels point at; `NoTarget` or `TargetError` otherwise."""
        ...

    def restart(self, workload: Workload) -> str:
        """Restart it; returns a one-line description of what was done, or `TargetError`."""
        ...
