"""The compose stack: the Compose specification's schema, docker-compose's own `config`, the
security defaults, and every configuration file it mounts checked by its real tool."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from agentwatch.alerts.rules import Config
from agentwatch.cli import build_parser
from tests.helpers import require_binary
from tests.prometheus import LOOPBACK, free_port

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "compose"
COMPOSE_FILES = [COMPOSE / "compose.yaml", COMPOSE / "compose.gpu.yaml"]
# Services built from the repository's Dockerfile (no registry image to pin).
LOCAL_IMAGES = re.compile(r"^agentwatch(-demo)?:\$\{AGENTWATCH_VERSION:-\d+\.\d+\.\d+\}$")
PINNED = re.compile(r"^[\w./-]+:v?\d+\.\d+\.\d+$")


def load(path: Path) -> dict[str, Any]:
    content = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(content, dict)
    return content


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load(COMPOSE / "compose.yaml")


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose["services"]
    return result


# --- the specification and a real implementation ------------------------------------------------


def compose_schema() -> dict[str, Any]:
    """The Compose specification's JSON schema, as check-jsonschema vendors it (offline)."""
    vendor = files("check_jsonschema.builtin_schemas.vendor")
    schema: dict[str, Any] = json.loads((vendor / "compose-spec.json").read_text("utf-8"))
    return schema


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_compose_files_follow_the_compose_specification(path: Path) -> None:
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(load(path))]
    assert errors == []


def test_the_schema_rejects_a_misspelt_key() -> None:
    schema = compose_schema()
    broken = {"services": {"a": {"image": "busybox:1.36.1", "priviledged": True}}}
    assert not jsonschema.validators.validator_for(schema)(schema).is_valid(broken)


def compose_config(*paths: Path) -> dict[str, Any]:
    """`docker-compose config`: the files merged and interpolated by a Compose implementation.

    Debian's docker-compose (1.29, the Compose specification of 2021) validates the files
    against its own copy of the schema and needs no Docker daemon for `config`.
    """
    binary = require_binary("docker-compose")
    args = [binary, "--project-directory", str(COMPOSE)]
    for path in paths:
        args += ["-f", str(path)]
    done = subprocess.run(
        [*args, "config"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=COMPOSE,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    content: dict[str, Any] = yaml.safe_load(done.stdout)
    return content


def test_docker_compose_config_accepts_the_stack() -> None:
    merged = compose_config(COMPOSE / "compose.yaml")
    assert set(merged["services"]) >= {
        "otel-collector",
        "prometheus",
        "alertmanager",
        "grafana",
        "tempo",
        "exporter",
        "remediate",
        "demo-llm",
        "demo-agent",
        "secrets",
    }
    # Defaults interpolated: ports stay on loopback whatever .env does not say.
    for service in merged["services"].values():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), port


def test_the_gpu_override_switches_the_exporter_to_nvml() -> None:
    merged = compose_config(COMPOSE / "compose.yaml", COMPOSE / "compose.gpu.yaml")
    exporter = merged["services"]["exporter"]
    command = exporter["command"]
    assert command[command.index("--gpu-backend") + 1] == "nvml"
    assert "--sim-scenario" not in command
    assert exporter["pid"] == "host"
    (device,) = exporter["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert not exporter.get("privileged", False)


# --- security defaults ---------------------------------------------------------------------------


def test_every_image_is_pinned_to_a_version(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        image = service["image"]
        if "build" in service:
            assert LOCAL_IMAGES.match(image), f"{name}: {image}"
        else:
            assert PINNED.match(image), f"{name}: {image} is not pinned to a version"
            assert not image.endswith(":latest")


def test_the_dockerfile_pins_its_base_image_and_runs_unprivileged() -> None:
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    (base,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base)
    assert re.search(r"^USER 10001:10001$", text, re.M)
    assert "HEALTHCHECK" in text
    # The default target (the last stage) is the exporter.
    stages = re.findall(r"^FROM \S+ AS (\S+)$", text, re.M)
    assert stages[-1] == "exporter"


def test_ports_are_published_on_loopback_only(services: dict[str, dict[str, Any]]) -> None:
    published = 0
    for name, service in services.items():
        for port in service.get("ports", []):
            assert isinstance(port, str), f"{name}: use the 127.0.0.1:HOST:CONTAINER form"
            assert re.fullmatch(r"127\.0\.0\.1:(\d+|\$\{\w+:-\d+\}):\d+", port), f"{name}: {port}"
            published += 1
        assert "expose" not in service or name != "remediate"
    assert published >= 6


def test_no_container_is_privileged_or_on_the_host_network(
    services: dict[str, dict[str, Any]],
) -> None:
    for path in COMPOSE_FILES:
        for name, service in load(path)["services"].items():
            assert not service.get("privileged", False), name
            assert service.get("network_mode") != "host", name
            assert "cap_add" not in service, name
            assert not any("docker.sock" in str(v) for v in service.get("volumes", [])), name


PASSWORDISH = re.compile(r"(password|passwd|secret|token|api_key)", re.I)


def test_no_password_is_set_in_any_file() -> None:
    """Structural: no environment variable that names a secret carries a value (only *_FILE
    or __FILE paths); grep-level: no `password: x`/`PASSWORD=x` anywhere under compose/."""
    for path in COMPOSE_FILES:
        for name, service in load(path)["services"].items():
            env = service.get("environment", {})
            assert isinstance(env, dict), f"{name}: use the mapping form"
            for key, value in env.items():
                if PASSWORDISH.search(key):
                    assert key.endswith("_FILE"), f"{name}: {key}={value}"
                    assert str(value).startswith("/run/"), f"{name}: {key}={value}"
    assignment = re.compile(r"(?i)\b\w*(password|passwd|token|api_key)\w*\s*[:=]\s*(\S+)")
    for path in sorted(COMPOSE.rglob("*")):
        if not path.is_file() or path.suffix not in (".yaml", ".yml", ".example", ""):
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.lstrip().startswith("#"):
                continue
            for match in assignment.finditer(line):
                value = match.group(2).strip("'\"")
                assert value.startswith(("/", "$")), f"{path.name}: {line.strip()}"


def test_grafana_gets_its_admin_password_from_the_generated_secret(
    services: dict[str, dict[str, Any]],
) -> None:
    grafana = services["grafana"]
    env = grafana["environment"]
    path = env["GF_SECURITY_ADMIN_PASSWORD__FILE"]
    assert "GF_SECURITY_ADMIN_PASSWORD" not in env
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    mount = next(v for v in grafana["volumes"] if v.startswith("secrets:"))
    assert path.startswith(mount.split(":")[1] + "/")
    script = "\n".join(services["secrets"]["command"])
    assert Path(path).name in script and "secrets.token_urlsafe(32)" in script
    assert grafana["depends_on"]["secrets"]["condition"] == "service_completed_successfully"


def test_health_checks_and_start_order(services: dict[str, dict[str, Any]]) -> None:
    # The collector and Tempo images have no shell or HTTP client to probe with.
    unprobed = {"secrets", "otel-collector", "tempo", "demo-agent"}
    for name, service in services.items():
        if name not in unprobed:
            assert "healthcheck" in service, name
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        for other, condition in depends.items():
            assert other in services
            wanted = "service_healthy" if other not in unprobed else None
            if other == "secrets":
                wanted = "service_completed_successfully"
            if wanted is not None:
                assert condition["condition"] == wanted, f"{name} -> {other}"
            else:
                assert condition["condition"] == "service_started", f"{name} -> {other}"


# --- the configurations, each by its tool or structurally ----------------------------------------


def test_prometheus_config_passes_promtool_with_the_committed_rules(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    # The container's layout: prometheus.yml beside rules/ (the mounted alerts/ folder).
    shutil.copy(COMPOSE / "prometheus" / "prometheus.yml", tmp_path / "prometheus.yml")
    (tmp_path / "rules").mkdir()
    rule_files = sorted((REPO / "alerts").glob("*.rules.yml"))
    assert rule_files
    for path in rule_files:
        shutil.copy(path, tmp_path / "rules" / path.name)
    done = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for path in rule_files:
        assert f"rules/{path.name}" in done.stdout + done.stderr


def test_prometheus_scrapes_the_exporter_as_the_job_the_rules_select(
    services: dict[str, dict[str, Any]],
) -> None:
    config = load(COMPOSE / "prometheus" / "prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert Config().exporter_selector == 'job="agentwatch-exporter"'
    (target,) = jobs["agentwatch-exporter"]["static_configs"][0]["targets"]
    assert target == "exporter:9401"
    assert jobs["otel-collector"]["honor_labels"] is True
    assert "--enable-feature=exemplar-storage" in services["prometheus"]["command"]
    assert "../alerts:/etc/prometheus/rules:ro" in services["prometheus"]["volumes"]
    assert config["rule_files"] == ["rules/*.rules.yml"]
    (am,) = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert am.split(":")[0] in services


def test_alertmanager_loads_the_committed_configuration(
    services: dict[str, dict[str, Any]],
) -> None:
    amtool = require_binary("amtool")
    done = subprocess.run(
        [amtool, "check-config", str(REPO / "alerts" / "alertmanager.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    am = services["alertmanager"]
    assert "../alerts/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro" in am["volumes"]
    assert "../alerts/templates:/etc/alertmanager/templates:ro" in am["volumes"]
    assert "secrets:/etc/alertmanager/secrets:ro" in am["volumes"]


def test_the_remediation_webhook_reaches_the_receiver_with_the_shared_token(
    services: dict[str, dict[str, Any]],
) -> None:
    config = load(REPO / "alerts" / "alertmanager.yml")
    (receiver,) = [r for r in config["receivers"] if r["name"] == "remediation"]
    (hook,) = receiver["webhook_configs"]
    remediate = services["remediate"]
    # A sidecar in Alertmanager's network namespace: the webhook's 127.0.0.1 is the receiver.
    assert remediate["network_mode"] == "service:alertmanager"
    command = remediate["command"]
    listen = command[command.index("--listen") + 1]
    assert hook["url"] == f"http://{listen}/webhook"
    am_token = Path(hook["http_config"]["authorization"]["credentials_file"])
    receiver_token = Path(command[command.index("--token-file") + 1])
    assert am_token.name == receiver_token.name
    assert am_token.parent.as_posix() == "/etc/alertmanager/secrets"
    assert f"secrets:{receiver_token.parent}:ro" in remediate["volumes"]
    assert am_token.name in "\n".join(services["secrets"]["command"])


def test_the_receiver_is_a_dry_run_with_flags_the_cli_accepts(
    services: dict[str, dict[str, Any]],
    tmp_path: Path,
) -> None:
    from agentwatch.alerts.remediation.cli import build_server

    command = list(services["remediate"]["command"])
    assert "--enable" not in command
    assert "AGENTWATCH_ENABLE" not in services["remediate"].get("environment", {})
    token = tmp_path / "remediation-token"
    token.write_text("0123456789abcdef0123456789abcdef\n")
    command[command.index("--token-file") + 1] = str(token)
    command[command.index("--listen") + 1] = f"{LOOPBACK}:0"
    args = build_parser().parse_args(command)
    server = build_server(args, {})
    try:
        assert server.remediator.dry_run
    finally:
        server.remediator.audit.close()


def test_the_exporter_runs_with_the_compose_flags() -> None:
    """The exporter service's exact command, on a loopback port: simulated GPUs on /metrics."""
    command = list(load(COMPOSE / "compose.yaml")["services"]["exporter"]["command"])
    build_parser().parse_args([a.replace("${SIM_SPEED:-10}", "10") for a in command])
    port = free_port()
    command[command.index("--listen") + 1] = f"{LOOPBACK}:{port}"
    command = [a.replace("${SIM_SPEED:-10}", "10") for a in command]
    process = subprocess.Popen(
        [sys.executable, "-m", "agentwatch", *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        body = ""
        # Until the first collection is published (a scrape may come before it), at most 30 s.
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/metrics", timeout=2) as r:
                    body = r.read().decode()
                if 'simulated="true"' in body:
                    break
            except OSError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
            time.sleep(0.1)
        assert 'simulated="true"' in body
        assert "agentwatch_gpu_memory_used_bytes" in body
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_the_demo_services_run_with_flags_their_modules_accept(
    services: dict[str, dict[str, Any]],
) -> None:
    from agentwatch.demo import agent, llm_server

    llm = services["demo-llm"]["command"]
    assert llm[0] == "agentwatch.demo.llm_server"
    assert llm_server.build_parser().parse_args(llm[1:]).listen == "0.0.0.0:8400"
    command = services["demo-agent"]["command"]
    assert command[0] == "agentwatch.demo.agent"
    args = agent.build_parser().parse_args(command[1:])
    assert args.otlp and args.local_leak_mib > 0
    host = args.llm_base_url.split("//")[1].split(":")[0]
    assert host == "demo-llm"
    env = services["demo-agent"]["environment"]
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
    assert "/tmp" in services["demo-agent"]["tmpfs"]


def test_the_demo_image_installs_the_demo_extra_at_the_dev_extras_versions() -> None:
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"][
        "optional-dependencies"
    ]

    def by_name(requirements: list[str]) -> dict[str, str]:
        return {re.split(r"[<>=!~ \[]", r, maxsplit=1)[0]: r for r in requirements}

    dev, demo = by_name(extras["dev"]), by_name(extras["demo"])
    assert demo and all(dev[name] == spec for name, spec in demo.items())
    assert "pip install '.[demo]'" in (REPO / "Dockerfile").read_text()
