"""The Docker target against a fake Engine API on a unix socket."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentwatch.alerts.remediation.docker import DockerApi, DockerTarget
from agentwatch.alerts.remediation.target import NoTarget, TargetError, Workload
from tests.alerts.remediation.fakes import DOCKER_API_VERSION, FakeDocker
from tests.alerts.remediation.payloads import CONTAINER_ID

V = f"/v{DOCKER_API_VERSION}"


def test_the_container_is_inspected_with_the_negotiated_api_version(docker: FakeDocker) -> None:
    docker.add_container(CONTAINER_ID, "compose-vllm-1", project="llm")
    target = DockerTarget(DockerApi(docker.socket))
    workload = target.resolve({"container": CONTAINER_ID})
    assert workload == Workload("container", "llm", "compose-vllm-1")
    assert workload.ref == CONTAINER_ID
    assert [(r.method, r.path) for r in docker.state.requests] == [
        ("GET", "/_ping"),
        ("GET", f"{V}/containers/{CONTAINER_ID}/json"),
    ]


def test_restart_posts_to_the_container_with_the_stop_timeout(docker: FakeDocker) -> None:
    docker.add_container(CONTAINER_ID, "vllm")
    target = DockerTarget(DockerApi(docker.socket, version="1.43"), stop_timeout=25)
    workload = target.resolve({"container": CONTAINER_ID})
    assert workload.namespace == ""
    assert "vllm" in target.restart(workload)
    assert [(r.method, r.path) for r in docker.state.requests] == [
        ("GET", f"{V}/containers/{CONTAINER_ID}/json"),  # a configured version: no ping
        ("POST", f"{V}/containers/{CONTAINER_ID}/restart?t=25"),
    ]
    assert docker.state.requests[1].headers["Host"] == "localhost"


def test_a_gone_container_is_no_target_and_a_vanished_one_a_failure(docker: FakeDocker) -> None:
    target = DockerTarget(DockerApi(docker.socket))
    with pytest.raises(NoTarget, match="no longer exists"):
        target.resolve({"container": CONTAINER_ID})
    with pytest.raises(TargetError, match="no longer exists"):
        target.restart(Workload("container", "", "vllm", ref=CONTAINER_ID))


@pytest.mark.parametrize("container", ["", "../../v1.43/info", "3F4E8B2A9C1D", "abc"], ids=repr)
def test_a_label_that_is_not_a_container_id_makes_no_request(
    container: str, docker: FakeDocker
) -> None:
    with pytest.raises(NoTarget):
        DockerTarget(DockerApi(docker.socket)).resolve({"container": container})
    assert docker.state.requests == []


def test_a_daemon_error_is_a_target_error_with_its_message(docker: FakeDocker) -> None:
    docker.add_container(CONTAINER_ID, "vllm")
    path = f"{V}/containers/{CONTAINER_ID}/restart?t=10"
    docker.state.failures[("POST", path)] = (500, {"message": "cannot kill container: busy"})
    target = DockerTarget(DockerApi(docker.socket))
    with pytest.raises(TargetError, match="HTTP 500: cannot kill container: busy"):
        target.restart(target.resolve({"container": CONTAINER_ID}))


def test_no_daemon_is_a_target_error(tmp_path: Path) -> None:
    target = DockerTarget(DockerApi(tmp_path / "nothing.sock", timeout=2))
    with pytest.raises(TargetError, match="nothing.sock"):
        target.resolve({"container": CONTAINER_ID})


def test_a_bad_api_version_is_refused() -> None:
    with pytest.raises(ValueError, match="not a Docker API version"):
        DockerApi(version="latest")
