"""`agentwatch remediate`: its flags, its refusals to start unsafely, and a real process."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentwatch.alerts.remediation.cli import build_server
from agentwatch.alerts.remediation.docker import DockerTarget
from agentwatch.cli import build_parser, main
from agentwatch.errors import UsageError
from agentwatch.settings import env_name
from tests.alerts.remediation.fakes import DOCKER_API_VERSION, FakeDocker
from tests.alerts.remediation.payloads import CONTAINER_ID, body
from tests.prometheus import free_port

TOKEN = "cli-test-token-0123456789abcdef"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTWATCH_")}
    env.update(extra)
    return env


def server_from(argv: list[str], environ: dict[str, str] | None = None) -> object:
    args = build_parser().parse_args(["remediate", *argv])
    return build_server(args, environ or {})


@pytest.mark.timeout(60)
def test_help_names_each_flag_with_its_environment_variable() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "agentwatch", "remediate", "--help"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=30,
    )
    assert (done.returncode, done.stderr) == (0, "")
    flags = ["--listen", "--target", "--enable", "--token-file", "--tls-client-ca-file"]
    flags += ["--insecure-no-auth", "--allow-namespace", "--allow-workload", "--cooldown"]
    flags += ["--max-restarts", "--restart-window", "--audit-log", "--kube-api-url"]
    flags += ["--docker-socket", "--restart-command", "--alertnames"]
    for flag in flags:
        assert flag in done.stdout
        assert env_name(flag) in done.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "no authentication: set --token-file"),
        (["--insecure-no-auth", "--listen", "0.0.0.0:9402"], "only allowed on a loopback"),
        (["--tls-client-ca-file", "ca.pem"], "needs --tls-cert-file and --tls-key-file"),
        (["--tls-cert-file", "a.pem"], "go together"),
        (["--token-file", "/nonexistent/token"], "cannot read /nonexistent/token"),
        (["--insecure-no-auth", "--target", "kubernetes"], "KUBERNETES_SERVICE_HOST"),
        (["--insecure-no-auth", "--target", "command"], "needs --restart-command"),
        (["--insecure-no-auth", "--target", "command", "--restart-command", "x {a.b}"], "fields"),
        (["--insecure-no-auth", "--cooldown", "soon"], "--cooldown: not a duration"),
        (["--insecure-no-auth", "--max-restarts", "0"], "--max-restarts: must be at least 1"),
        (["--insecure-no-auth", "--target", "docker", "--docker-api-version", "x"], "version"),
    ],
    ids=[
        "no-auth",
        "insecure-off-loopback",
        "ca-without-cert",
        "cert-without-key",
        "missing-token-file",
        "not-in-a-cluster",
        "command-missing",
        "bad-command-field",
        "bad-duration",
        "zero-restarts",
        "bad-docker-version",
    ],
)
def test_an_unsafe_or_broken_configuration_does_not_start(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["remediate", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("agentwatch remediate: error: ")
    assert message in err


def test_a_short_token_is_refused(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("short\n")
    with pytest.raises(UsageError, match="shorter than 16"):
        server_from(["--token-file", str(tmp_path / "token")])


def test_settings_come_from_the_environment_and_the_default_is_a_dry_run(
    docker: FakeDocker,
) -> None:
    env = {
        "AGENTWATCH_TOKEN": TOKEN,
        "AGENTWATCH_TARGET": "docker",
        "AGENTWATCH_DOCKER_SOCKET": str(docker.socket),
        "AGENTWATCH_ALLOW_NAMESPACE": "llm, staging-*",
        "AGENTWATCH_ALLOW_WORKLOAD": "container/vllm-*",
        "AGENTWATCH_COOLDOWN": "10m",
    }
    server = server_from([], env)
    remediator = server.remediator  # type: ignore[attr-defined]
    assert remediator.dry_run is True
    assert isinstance(remediator.target, DockerTarget)
    assert remediator.ledger.policy.allow_namespaces == ("llm", "staging-*")
    assert remediator.ledger.policy.cooldown == 600.0
    assert server.options.token == TOKEN  # type: ignore[attr-defined]
    enforcing = server_from([], {**env, "AGENTWATCH_ENABLE": "true"})
    assert enforcing.remediator.dry_run is False  # type: ignore[attr-defined]
    with pytest.raises(UsageError, match="AGENTWATCH_ENABLE: 'maybe'"):
        server_from([], {**env, "AGENTWATCH_ENABLE": "maybe"})


def _post(port: int, payload: bytes) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/webhook", payload, {"Authorization": f"Bearer {TOKEN}"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def _wait_healthy(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/-/healthy")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
        finally:
            conn.close()
    raise AssertionError("the receiver did not become healthy in 30 s")


@pytest.mark.timeout(90)
def test_the_command_restarts_a_docker_container_and_stops_on_sigterm(
    docker: FakeDocker, tmp_path: Path
) -> None:
    docker.add_container(CONTAINER_ID, "vllm-1", project="llm")
    token, audit, port = tmp_path / "token", tmp_path / "audit.jsonl", free_port()
    token.write_text(TOKEN + "\n")
    argv = [sys.executable, "-m", "agentwatch", "remediate", "--target", "docker", "--enable"]
    argv += ["--listen", f"127.0.0.1:{port}", "--token-file", str(token)]
    argv += ["--docker-socket", str(docker.socket), "--audit-log", str(audit)]
    argv += ["--allow-namespace", "llm", "--allow-workload", "container/vllm-*"]
    process = subprocess.Popen(
        argv, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        _wait_healthy(port, process)
        status, answer = _post(port, body())
        assert status == 200, answer
        assert answer["decisions"][0]["decision"] == "acted"  # type: ignore[index]
        restart = f"/v{DOCKER_API_VERSION}/containers/{CONTAINER_ID}/restart?t=10"
        assert [r.path for r in docker.state.of("POST")] == [restart]
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "target docker" in stderr and "ENFORCING" in stderr
    (line,) = [json.loads(x) for x in audit.read_text().splitlines()]
    assert line["decision"] == "acted"
    assert line["target"] == {"kind": "container", "namespace": "llm", "name": "vllm-1"}
