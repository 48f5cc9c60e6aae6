"""Kubernetes: find the pod's owning workload and roll it, as `kubectl rollout restart` does.

`kubectl rollout restart` sets the pod template annotation `kubectl.kubernetes.io/restartedAt`
to the current time (Go's RFC 3339) and sends the difference as a strategic merge patch; the
controller then replaces the pods one by one under the workload's own rollout strategy (its
`maxUnavailable`, its PodDisruptionBudget), which is why this is safer than deleting pods.
The same patch body and content type are sent here, through the API server with the pod's
service-account credentials (in-cluster configuration: `KUBERNETES_SERVICE_HOST`/`_PORT`, the
token and CA under /var/run/secrets/kubernetes.io/serviceaccount).

RBAC the service account needs: `get` on pods and replicasets, `patch` on deployments,
statefulsets and daemonsets, in the allowed namespaces.
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from agentwatch.alerts.remediation.target import NoTarget, TargetError, Workload
from agentwatch.errors import UsageError

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
PATCH_TYPE = "application/strategic-merge-patch+json"
FIELD_MANAGER = "agentwatch-remediate"
_PLURALS = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}
# DNS-1123 subdomain (pod and workload names) and label (namespaces): checked before a name
# goes into a URL, so a crafted label cannot point a request anywhere else.
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def restart_patch(now: float) -> dict[str, Any]:
    """The body `kubectl rollout restart` sends at Unix time `now` (RFC 3339, UTC, seconds)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    return {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}


@dataclass(frozen=True)
class KubeConfig:
    """Where the API server is and how to authenticate to it."""

    url: str
    token_file: Path
    ca_file: Path | None
    timeout: float = 10.0


def in_cluster(
    environ: Mapping[str, str],
    *,
    url: str | None = None,
    credentials_dir: Path = SERVICE_ACCOUNT_DIR,
    timeout: float = 10.0,
) -> KubeConfig:
    """The in-cluster configuration; `url` overrides the `KUBERNETES_SERVICE_*` variables."""
    if url is None:
        host = environ.get("KUBERNETES_SERVICE_HOST", "")
        port = environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise UsageError(
                "--target kubernetes: KUBERNETES_SERVICE_HOST is not set (not running in a "
                "pod?); set --kube-api-url"
            )
        url = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    if urlsplit(url).scheme not in ("http", "https"):
        raise UsageError(f"--kube-api-url: expected an http(s) URL, got {url!r}")
    token, ca = credentials_dir / "token", credentials_dir / "ca.crt"
    if not token.is_file():
        raise UsageError(f"--kube-credentials-dir: no service-account token at {token}")
    return KubeConfig(url.rstrip("/"), token, ca if ca.is_file() else None, timeout)


class KubeApi:
    """A minimal JSON client of the Kubernetes API server (http.client, no dependencies)."""

    def __init__(self, config: KubeConfig) -> None:
        self._config = config
        parts = urlsplit(config.url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if self._https else 80)
        self._tls: ssl.SSLContext | None = None
        if self._https:
            ca = str(config.ca_file) if config.ca_file is not None else None
            self._tls = ssl.create_default_context(cafile=ca)

    def request(self, method: str, path: str, body: object = None, content_type: str = "") -> Any:
        """Send one request; the decoded JSON answer, or `TargetError` naming the call."""
        # Read on every call: projected service-account tokens are rotated by the kubelet.
        try:
            token = self._config.token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise TargetError(f"cannot read {self._config.token_file}: {exc.strerror}") from None
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = content_type or "application/json"
        conn: http.client.HTTPConnection
        if self._tls is not None:
            conn = http.client.HTTPSConnection(
                self._host, self._port, timeout=self._config.timeout, context=self._tls
            )
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self._config.timeout)
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            status, raw = response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise TargetError(f"{method} {path}: {exc}") from None
        finally:
            conn.close()
        if status == 404:
            raise _NotFound(f"{method} {path}: not found")
        if status >= 400:
            raise TargetError(f"{method} {path}: HTTP {status}: {_status_message(raw)}")
        try:
            return json.loads(raw)
        except ValueError:
            raise TargetError(f"{method} {path}: the answer is not JSON") from None


class _NotFound(TargetError):
    pass


class KubernetesTarget:
    """Restart the Deployment, StatefulSet or DaemonSet that owns the alert's pod."""

    name = "kubernetes"

    def __init__(self, api: KubeApi, now: Callable[[], float] = time.time) -> None:
        self._api = api
        self._now = now

    def resolve(self, labels: Mapping[str, str]) -> Workload:
        """Pod -> controller owner (a ReplicaSet's Deployment, a StatefulSet, a DaemonSet)."""
        namespace, pod = labels.get("namespace", ""), labels.get("pod", "")
        if not namespace or not pod:
            raise NoTarget("the alert has no namespace and pod labels (not a Kubernetes pod?)")
        if not _LABEL.match(namespace) or not _SUBDOMAIN.match(pod):
            raise NoTarget(f"not a Kubernetes namespace/pod name: {namespace!r}/{pod!r}")
        try:
            found = self._api.request("GET", f"/api/v1/namespaces/{namespace}/pods/{pod}")
        except _NotFound:
            raise NoTarget(f"pod {namespace}/{pod} no longer exists") from None
        kind, owner = _controller(found)
        if kind == "ReplicaSet":
            path = f"/apis/apps/v1/namespaces/{namespace}/replicasets/{quote(owner)}"
            try:
                kind, owner = _controller(self._api.request("GET", path))
            except _NotFound:
                raise NoTarget(f"replicaset {namespace}/{owner} no longer exists") from None
        if kind not in _PLURALS:
            what = f"owned by {kind} {owner!r}" if kind else "not owned by a controller"
            raise NoTarget(f"pod {namespace}/{pod} is {what}: rollout restart does not apply")
        if not _SUBDOMAIN.match(owner):
            raise TargetError(f"the API returned an invalid owner name {owner!r}")
        return Workload(kind, namespace, owner)

    def restart(self, workload: Workload) -> str:
        """PATCH the pod template's restartedAt annotation."""
        path = (
            f"/apis/apps/v1/namespaces/{workload.namespace}/{_PLURALS[workload.kind]}/"
            f"{workload.name}?fieldManager={FIELD_MANAGER}"
        )
        patch = restart_patch(self._now())
        self._api.request("PATCH", path, patch, PATCH_TYPE)
        stamp = patch["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT]
        return f"rollout restart of {workload.workload} in {workload.namespace} at {stamp}"


def _controller(obj: object) -> tuple[str, str]:
    """(kind, name) of the controlling owner reference, ("", "") when there is none."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    refs = meta.get("ownerReferences") if isinstance(meta, dict) else None
    for ref in refs if isinstance(refs, list) else []:
        if isinstance(ref, dict) and ref.get("controller") is True:
            return str(ref.get("kind", "")), str(ref.get("name", ""))
    return "", ""


def _status_message(raw: bytes) -> str:
    """The `message` of a Kubernetes `Status` answer, else the start of the body."""
    try:
        status = json.loads(raw)
    except ValueError:
        status = None
    if isinstance(status, dict) and isinstance(status.get("message"), str):
        return str(status["message"])
    return raw[:200].decode("utf-8", "replace") or "(empty body)"
