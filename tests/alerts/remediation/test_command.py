"""The command target: a real subprocess, labels as separate arguments, never a shell."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from agentwatch.alerts.remediation.command import CommandTarget, parse_command
from agentwatch.alerts.remediation.target import NoTarget, TargetError, Workload

RECORD = """
import json, os, sys
record = {"argv": sys.argv[1:], "pod": os.environ["AGENTWATCH_LABEL_POD"]}
with open(sys.argv[1], "w") as out:
    json.dump(record, out)
"""


def test_labels_fill_the_template_and_each_stays_one_argument(tmp_path: Path) -> None:
    out, script = tmp_path / "out.json", tmp_path / "record.py"
    script.write_text(RECORD)
    target = CommandTarget([sys.executable, str(script), str(out), "{namespace}/{pod}"])
    hostile = f"vllm-0; touch {tmp_path}/pwned"
    workload = target.resolve({"namespace": "inference", "pod": hostile})
    assert workload == Workload("pod", "inference", hostile)
    assert target.restart(workload).startswith("ran ")
    assert json.loads(out.read_text()) == {
        "argv": [str(out), f"inference/{hostile}"],
        "pod": hostile,
    }
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    ("labels", "kind", "name"),
    [
        ({"container": "3f4e8b2a9c1d77", "process": "python3"}, "container", "3f4e8b2a9c1d"),
        ({"process": "python3"}, "process", "python3"),
    ],
    ids=["container", "process"],
)
def test_without_a_pod_the_container_or_process_names_the_workload(
    labels: dict[str, str], kind: str, name: str
) -> None:
    workload = CommandTarget(["true"]).resolve(labels)
    assert (workload.kind, workload.name) == (kind, name)


def test_a_missing_label_is_no_target() -> None:
    with pytest.raises(NoTarget, match="lacks: namespace"):
        CommandTarget(["restart", "{namespace}", "{pod}"]).resolve({"pod": "vllm-0"})


def test_a_failing_command_is_a_target_error_with_its_last_stderr_line() -> None:
    script = "import sys; sys.stderr.write('first\\nno unit\\n'); sys.exit(3)"
    target = CommandTarget([sys.executable, "-c", script])
    with pytest.raises(TargetError, match="exited with 3: no unit"):
        target.restart(target.resolve({"process": "python3"}))


def test_a_command_that_hangs_is_killed_at_the_timeout() -> None:
    target = CommandTarget([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)
    with pytest.raises(TargetError, match="still running after 0.5s"):
        target.restart(target.resolve({"process": "python3"}))


def test_a_missing_binary_is_a_target_error(tmp_path: Path) -> None:
    target = CommandTarget([str(tmp_path / "no-such-script")])
    with pytest.raises(TargetError, match="No such file"):
        target.restart(target.resolve({"process": "python3"}))


@pytest.mark.parametrize(
    "text",
    ["", "restart {pod.__class__}", "restart {0}", "restart {pod!r}", "x {pod:>9}"],
    ids=["empty", "attribute", "positional", "conversion", "format-spec"],
)
def test_only_plain_label_fields_are_accepted(text: str) -> None:
    with pytest.raises(ValueError):
        parse_command(text)


def test_a_command_line_is_split_with_shell_quoting() -> None:
    assert parse_command("systemctl restart 'llm@{pod}.service'") == (
        "systemctl",
        "restart",
        "llm@{pod}.service",
    )
