"""alerts/alertmanager.yml: valid, routed and inhibited as documented, templates that read well.

Routing is checked with `amtool config routes test`, the templates with `amtool template
render`, and inhibition with a real Alertmanager (Debian's `prometheus-alertmanager`) whose
receivers are pointed at a local webhook sink.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentwatch.alerts.remediation.decide import DEFAULT_ALERTNAMES
from tests.helpers import require_binary
from tests.prometheus import LOOPBACK, free_port

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "alerts" / "alertmanager.yml"
TEMPLATES = REPO / "alerts" / "templates"
REMEDIATION = set(DEFAULT_ALERTNAMES)

pytestmark = pytest.mark.prometheus


def config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    return loaded


def test_amtool_check_config_is_clean() -> None:
    amtool = require_binary("amtool")
    result = subprocess.run([amtool, "check-config", str(CONFIG)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 templates" in result.stdout


def test_secrets_come_from_files_only() -> None:
    text = CONFIG.read_text()
    for key in ("api_url:", "auth_password:", "credentials:", "slack_api_url:"):
        assert f" {key}" not in text and f"\n{key}" not in text, key
    glob = config()["global"]
    assert glob["slack_api_url_file"].startswith("/etc/alertmanager/secrets/")
    assert glob["smtp_auth_password_file"].startswith("/etc/alertmanager/secrets/")


def test_the_remediation_receiver_is_the_local_webhook() -> None:
    receiver = next(r for r in config()["receivers"] if r["name"] == "remediation")
    assert [w["url"] for w in receiver["webhook_configs"]] == ["http://127.0.0.1:9402/webhook"]


GPU = ["team=ml-platform", "job=agentwatch-exporter", "instance=node-1:9400", "gpu=0"]
ROUTES = {
    "leak-warning": (
        ["alertname=AgentwatchGpuProcessMemoryLeak", "severity=warning", *GPU],
        "remediation,slack-ml-platform",
    ),
    "exhaustion-critical": (
        ["alertname=AgentwatchGpuMemoryExhaustionImminent", "severity=critical", *GPU],
        "remediation,page-ml-platform",
    ),
    # It names a GPU, not a workload: people decide what to restart.
    "filling-up-warning": (
        ["alertname=AgentwatchGpuMemoryFillingUp", "severity=warning", *GPU],
        "slack-ml-platform",
    ),
    "per-inference-leak-critical": (
        [
            "alertname=AgentwatchGpuMemoryPerInferenceLeakFast",
            "severity=critical",
            "team=ml-platform",
            "job=chat-api",
            "namespace=prod",
            "pod=chat-0",
        ],
        "remediation,page-ml-platform",
    ),
    "gpu-lost": (["alertname=AgentwatchGpuLost", "severity=critical", *GPU], "page-ml-platform"),
    "thermal": (
        ["alertname=AgentwatchGpuThermalThrottling", "severity=warning", *GPU],
        "slack-ml-platform",
    ),
    "llm-critical": (
        ["alertname=AgentwatchLlmLatencyBudgetBurn", "severity=critical", "team=ai-apps"],
        "page-ai-apps",
    ),
    "llm-warning": (
        ["alertname=AgentwatchLlmErrorRatioHigh", "severity=warning", "team=ai-apps"],
        "slack-ai-apps",
    ),
    "info": (["alertname=Anything", "severity=info", "team=ai-apps"], "blackhole"),
    "no-team": (["alertname=SomeoneElses", "severity=critical"], "email-oncall"),
}


@pytest.mark.parametrize(("labels", "receivers"), ROUTES.values(), ids=list(ROUTES))
def test_alerts_are_routed_by_severity_and_team(labels: list[str], receivers: str) -> None:
    amtool = require_binary("amtool")
    result = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={CONFIG}"]
        + [f"--verify.receivers={receivers}", *labels],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receivers


# --- templates --------------------------------------------------------------------------------


def alert(name: str, status: str = "firing", **labels: str) -> dict[str, Any]:
    """An alert as Alertmanager's template data holds it, annotated as our rules annotate."""
    now = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    return {
        "status": status,
        "labels": {"alertname": name, **labels},
        "annotations": {
            "summary": "GPU memory is predicted to pass 90 % use within 30m.",
            "description": "GPU 0 (GPU-a) on node-1:9400 has 37.19% of its memory free.",
            "runbook_url": "https://example.org/runbooks.md#agentwatchgpumemoryfillingup",
        },
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(hours=1)).isoformat()
        if status == "resolved"
        else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example.org/graph",
        "fingerprint": "0123456789abcdef",
    }


def render(template: str, alerts: list[dict[str, Any]], kind: str = "text") -> str:
    amtool = require_binary("amtool")
    common = dict(alerts[0]["labels"])
    data = {
        "receiver": "slack-ml-platform",
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "alerts": alerts,
        "groupLabels": {"alertname": common["alertname"]},
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example.org",
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json") as file:
        json.dump(data, file)
        file.flush()
        result = subprocess.run(
            [amtool, "template", "render", f"--template.glob={TEMPLATES}/*.tmpl"]
            + [f"--template.text={{{{ template {json.dumps(template)} . }}}}"]
            + [f"--template.type={kind}", f"--template.data={file.name}"],
            capture_output=True,
            text=True,
        )
    assert result.returncode == 0, result.stderr
    assert "<no value>" not in result.stdout
    return result.stdout


LABELS = {"severity": "critical", "team": "ml-platform", "instance": "node-1:9400", "gpu": "0"}


def test_the_slack_message_says_what_fired_why_and_what_to_do() -> None:
    alerts = [alert("AgentwatchGpuMemoryFillingUp", **LABELS)]
    assert render("agentwatch.slack.title", alerts) == (
        "[FIRING:1] AgentwatchGpuMemoryFillingUp (critical)"
    )
    text = render("agentwatch.slack.text", alerts)
    assert text.startswith("*Firing:* GPU memory is predicted to pass 90 % use within 30m.\n")
    assert "GPU 0 (GPU-a) on node-1:9400 has 37.19% of its memory free." in text
    assert "<https://example.org/runbooks.md#agentwatchgpumemoryfillingup|what to do>" in text
    assert "`gpu=0`" in text
    link = render("agentwatch.slack.link", alerts)
    assert link == "https://example.org/runbooks.md#agentwatchgpumemoryfillingup"


def test_a_resolved_notification_says_so() -> None:
    alerts = [alert("AgentwatchGpuMemoryFillingUp", status="resolved", **LABELS)]
    assert render("agentwatch.slack.title", alerts).startswith("[RESOLVED] ")
    assert render("agentwatch.slack.text", alerts).startswith("*Resolved:* ")


def test_the_email_has_a_subject_text_and_html() -> None:
    alerts = [alert("AgentwatchGpuLost", **LABELS, job="agentwatch-exporter")]
    subject = render("agentwatch.email.subject", alerts)
    assert subject == "[FIRING] AgentwatchGpuLost on node-1:9400 (agentwatch-exporter)"
    text = render("agentwatch.email.text", alerts)
    assert "Runbook: https://example.org/runbooks.md#agentwatchgpumemoryfillingup" in text
    assert text.rstrip().endswith("Alertmanager: http://alertmanager.example.org")
    html = render("agentwatch.email.html", alerts, kind="html")
    assert '<a href="https://example.org/runbooks.md#agentwatchgpumemoryfillingup">' in html
    assert "<td>instance</td><td>node-1:9400</td>" in html


# --- inhibition, with a real Alertmanager --------------------------------------------------------


class Sink:
    """A local webhook receiver: collects (receiver, alertname, gpu, severity) it is sent."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, str, str]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                for item in body["alerts"]:
                    receiver = self.path.strip("/")
                    labels = item["labels"]
                    sink.received.append(
                        (receiver, labels["alertname"], labels.get("gpu", ""), labels["severity"])
                    )
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def alertnames(self) -> set[str]:
        return {name for _, name, _, _ in self.received}


def redirected(sink: Sink) -> dict[str, Any]:
    """The real routes and inhibit rules; every receiver a webhook to the sink; short timers."""
    conf = config()
    conf.pop("global")
    conf.pop("templates")
    conf["receivers"] = [
        {"name": r["name"], "webhook_configs": [{"url": f"{sink.url}/{r['name']}"}]}
        for r in conf["receivers"]
    ]

    def shorten(route: dict[str, Any]) -> None:
        route.update(group_wait="1s", group_interval="1s")
        for child in route.get("routes", []):
            shorten(child)

    shorten(conf["route"])
    return conf


@pytest.fixture
def alertmanager() -> Iterator[tuple[str, Sink]]:
    binary = require_binary("prometheus-alertmanager")
    sink = Sink()
    with tempfile.TemporaryDirectory(prefix="agentwatch-alertmanager-") as directory:
        path = Path(directory)
        (path / "alertmanager.yml").write_text(yaml.safe_dump(redirected(sink)))
        port = free_port()
        url = f"http://{LOOPBACK}:{port}"
        with (path / "log").open("wb") as log:
            process = subprocess.Popen(
                [binary, f"--config.file={path / 'alertmanager.yml'}"]
                + [f"--storage.path={path / 'data'}", f"--web.listen-address={LOOPBACK}:{port}"]
                + ["--cluster.listen-address="],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/-/ready", timeout=2):
                        break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise AssertionError((path / "log").read_text()) from None
                    time.sleep(0.1)
            yield url, sink
        finally:
            process.terminate()
            process.wait(timeout=10)
            sink.server.shutdown()
            sink.server.server_close()


def post(url: str, *alerts: dict[str, str]) -> None:
    body = json.dumps([{"labels": labels} for labels in alerts]).encode()
    request = urllib.request.Request(
        f"{url}/api/v2/alerts", body, {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


def gpu_alert(
    name: str, severity: str, gpu: str = "0", instance: str = "node-1:9400"
) -> dict[str, str]:
    return {
        "alertname": name,
        "severity": severity,
        "team": "ml-platform",
        "job": "agentwatch-exporter",
        "instance": instance,
        "gpu": gpu,
        "uuid": f"GPU-{gpu}",
    }


def wait_for(sink: Sink, names: set[str], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not names <= sink.alertnames():
        assert time.monotonic() < deadline, f"waited for {names}, got {sink.received}"
        time.sleep(0.1)


def test_a_lost_gpu_silences_its_memory_alerts_but_not_another_gpus(
    alertmanager: tuple[str, Sink],
) -> None:
    url, sink = alertmanager
    post(url, gpu_alert("AgentwatchGpuLost", "critical"))
    time.sleep(1)  # the source must be known before the targets arrive
    post(
        url,
        gpu_alert("AgentwatchGpuMemoryFillingUp", "critical"),
        gpu_alert("AgentwatchGpuProcessMemoryLeak", "warning"),
        gpu_alert("AgentwatchGpuMemoryExhaustionImminent", "critical", gpu="1"),
        gpu_alert("AgentwatchGpuThermalThrottling", "warning"),
    )
    # A sentinel that is inhibited by nothing, sent last: once it arrives, the rest had time.
    wait_for(sink, {"AgentwatchGpuLost", "AgentwatchGpuMemoryExhaustionImminent"})
    post(url, {"alertname": "Sentinel", "severity": "warning", "team": "ai-apps"})
    wait_for(sink, {"Sentinel", "AgentwatchGpuThermalThrottling"})
    time.sleep(2)
    assert "AgentwatchGpuMemoryFillingUp" not in sink.alertnames()
    assert "AgentwatchGpuProcessMemoryLeak" not in sink.alertnames()
    # The other GPU's leak went to the remediation receiver and to the on-call.
    receivers = {r for r, name, _, _ in sink.received if name.endswith("ExhaustionImminent")}
    assert receivers == {"remediation", "page-ml-platform"}


def test_an_exporter_that_is_down_silences_every_gpu_alert_of_its_host(
    alertmanager: tuple[str, Sink],
) -> None:
    url, sink = alertmanager
    down = {
        "alertname": "AgentwatchExporterDown",
        "severity": "critical",
        "team": "ml-platform",
        "job": "agentwatch-exporter",
        "instance": "node-1:9400",
    }
    post(url, down)
    time.sleep(1)
    post(
        url,
        gpu_alert("AgentwatchGpuLost", "critical"),
        gpu_alert("AgentwatchGpuXidCritical", "critical", gpu="1"),
        gpu_alert("AgentwatchGpuThermalThrottling", "warning", instance="node-2:9400"),
    )
    wait_for(sink, {"AgentwatchExporterDown", "AgentwatchGpuThermalThrottling"})
    time.sleep(2)
    assert sink.alertnames() == {"AgentwatchExporterDown", "AgentwatchGpuThermalThrottling"}


def test_a_critical_tier_silences_its_warning_tier(alertmanager: tuple[str, Sink]) -> None:
    url, sink = alertmanager
    post(url, gpu_alert("AgentwatchGpuMemoryFillingUp", "critical"))
    time.sleep(1)
    post(
        url,
        gpu_alert("AgentwatchGpuMemoryFillingUp", "warning"),
        gpu_alert("AgentwatchGpuMemoryFillingUp", "warning", gpu="1"),
    )
    wait_for(sink, {"AgentwatchGpuMemoryFillingUp"})
    time.sleep(3)
    sent = {(r, gpu, severity) for r, _, gpu, severity in sink.received}
    assert sent == {
        ("page-ml-platform", "0", "critical"),
        ("slack-ml-platform", "1", "warning"),
    }
