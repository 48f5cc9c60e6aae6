"""`agentwatch demo`'s configuration files, port checks and its run without Prometheus."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agentwatch.demo import stack
from agentwatch.errors import UsageError
from tests.helpers import require_binary


def test_a_busy_port_is_a_usage_error_naming_the_flag() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(UsageError, match=f"--exporter-port {port}: .* is busy"):
            stack.port_for("--exporter-port", port)
    assert stack.port_for("--exporter-port", None) > 0


def test_the_alertmanager_configuration_sends_nothing_off_the_machine(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("x" * 32)
    config = stack.alertmanager_config(9402, token, 9999)
    text = yaml.safe_dump(config)
    urls = [line.split("url: ")[1] for line in text.splitlines() if "url: " in line]
    assert urls and all(u.startswith("http://127.0.0.1:") for u in urls)
    assert "smtp" not in text and "slack" not in text.replace("slack-", "")
    (remediation,) = [r for r in config["receivers"] if r["name"] == "remediation"]
    webhook = remediation["webhook_configs"][0]
    assert webhook["url"] == "http://127.0.0.1:9402/webhook"
    assert webhook["http_config"]["authorization"]["credentials_file"] == str(token)
    path = tmp_path / "alertmanager.yml"
    path.write_text(text)
    amtool = require_binary("amtool")
    check = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_prometheus_configuration_scrapes_the_exporter_as_the_rules_job(
    tmp_path: Path,
) -> None:
    config = stack.prometheus_config(9401, 9464, 9093)
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert jobs["agentwatch-exporter"]["static_configs"][0]["targets"] == ["127.0.0.1:9401"]
    assert {Path(f).name for f in config["rule_files"]} >= {"gpu.rules.yml", "llm.rules.yml"}
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    promtool = require_binary("promtool")
    check = subprocess.run([promtool, "check", "config", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_without_prometheus_the_demo_warns_and_runs_the_rest(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "agentwatch", "demo", "--duration", "3"]
        + ["--state-dir", str(tmp_path / "state")],
        capture_output=True,
        text=True,
        env={"PATH": str(empty), "HOME": str(tmp_path)},
        timeout=80,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "prometheus is not on PATH" in result.stderr
    assert "[demo] agent:" in result.stdout and "Prometheus" not in result.stdout
    assert (tmp_path / "state" / "logs" / "agent.log").exists()


def test_a_busy_given_port_stops_the_demo_with_exit_code_2(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "agentwatch", "demo", "--llm-port", str(port)]
            + ["--state-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"agentwatch demo: error: --llm-port {port}: 127.0.0.1:{port} is busy "
        "(Address already in use)"
    )


def test_the_fleet_is_scraped_as_the_exporter_job_and_fast_rules_evaluate_each_second(
    tmp_path: Path,
) -> None:
    rules = stack.fast_rule_files(tmp_path / "rules")
    assert {p.name for p in rules} == {p.name for p in stack.rule_files()}
    for path in rules:
        groups = yaml.safe_load(path.read_text())["groups"]
        assert groups and {g["interval"] for g in groups} == {"1s"}
        shipped = yaml.safe_load((stack.alerts_file(path.name)).read_text())["groups"]
        assert [g["rules"] for g in groups] == [g["rules"] for g in shipped]
    config = stack.prometheus_config(9401, 9464, None, fleet=[9411, 9412], rules=rules)
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert jobs["agentwatch-exporter"]["static_configs"][0]["targets"] == [
        "127.0.0.1:9401",
        "127.0.0.1:9411",
        "127.0.0.1:9412",
    ]
    assert config["rule_files"] == [str(p) for p in rules]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    promtool = require_binary("promtool")
    check = subprocess.run([promtool, "check", "config", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_an_unknown_fleet_scenario_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "agentwatch", "demo", "--fleet", "mixed,nope"]
        + ["--state-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--fleet: unknown scenario nope (one of healthy, leak," in result.stderr
