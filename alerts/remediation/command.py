"""A configured command: for a runtime neither Kubernetes nor Docker (systemd, Nomad, a script).

The command is an argv template, `{label}` fields replaced by the alert's label values, run
directly (never through a shell, so a label value is one argument whatever it contains) with a
timeout. Exit status 0 is success. The alert's labels are also in the environment as
`AGENTWATCH_LABEL_<NAME>` for scripts that want more than the argv gives them.
"""

from __future__ import annotations

import json
import os
import shlex
import string
import subprocess
from collections.abc import Mapping, Sequence

from agentwatch.alerts.remediation.target import NoTarget, TargetError, Workload

_LABEL_NAME = set(string.ascii_letters + string.digits + "_")


def parse_command(text: str) -> tuple[str, ...]:
    """Split a command line (shell quoting rules, no shell) and check its `{label}` fields."""
    argv = tuple(shlex.split(text))
    if not argv:
        raise ValueError("the command is empty")
    for arg in argv:
        fields(arg)
    return argv


def fields(template: str) -> list[str]:
    """The label names a template uses; ValueError for anything but plain `{name}` fields."""
    names = []
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if not name or set(name) - _LABEL_NAME or name[0].isdigit() or spec or conversion:
            raise ValueError(f"{template!r}: only {{label_name}} fields are allowed")
        names.append(name)
    return names


class CommandTarget:
    """Run `argv` (a template) for the alert's process."""

    name = "command"

    def __init__(self, argv: Sequence[str], timeout: float = 60.0) -> None:
        for arg in argv:
            fields(arg)
        self._argv = tuple(argv)
        self._timeout = timeout

    def resolve(self, labels: Mapping[str, str]) -> Workload:
        """The pod, else the container, else the process the labels name; the argv filled in."""
        missing = sorted({n for a in self._argv for n in fields(a) if not labels.get(n)})
        if missing:
            raise NoTarget(f"the command needs labels the alert lacks: {', '.join(missing)}")
        argv = [arg.format_map(labels) for arg in self._argv]
        namespace = labels.get("namespace", "")
        if labels.get("pod"):
            kind, name = "pod", labels["pod"]
        elif labels.get("container"):
            kind, name = "container", labels["container"][:12]
        elif labels.get("process"):
            kind, name = "process", labels["process"]
        else:
            raise NoTarget("the alert has no pod, container or process label")
        return Workload(
            kind, namespace, name, ref=json.dumps({"argv": argv, "labels": dict(labels)})
        )

    def restart(self, workload: Workload) -> str:
        """Run the filled-in argv; `TargetError` on a non-zero exit, a timeout or no binary."""
        filled = json.loads(workload.ref)
        argv: list[str] = filled["argv"]
        env = dict(os.environ)
        env.update({f"AGENTWATCH_LABEL_{k.upper()}": v for k, v in filled["labels"].items()})
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                timeout=self._timeout,
                stdin=subprocess.DEVNULL,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise TargetError(
                f"{argv[0]}: still running after {self._timeout:g}s, killed"
            ) from None
        except OSError as exc:
            raise TargetError(f"{argv[0]}: {exc.strerror}") from None
        if done.returncode != 0:
            tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            raise TargetError(f"{argv[0]} exited with {done.returncode}: {tail[0][:200]}")
        return f"ran {shlex.join(argv)}"
