"""Docker: restart the alert's container through the Docker Engine API on its unix socket.

The exporter's `container` label is the container id from the process's cgroup. The container
is inspected first (`GET /containers/{id}/json`), so the allow-list matches its name and its
Compose project (used as the namespace), then restarted (`POST /containers/{id}/restart?t=N`:
SIGTERM, N seconds, SIGKILL, start). Requests carry the API version prefix (`/v1.43/...`),
either the one configured or the one the daemon reports on `GET /_ping`.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agentwatch.alerts.remediation.target import NoTarget, TargetError, Workload

DEFAULT_SOCKET = Path("/var/run/docker.sock")
COMPOSE_PROJECT = "com.docker.compose.project"
_CONTAINER_ID = re.compile(r"^[0-9a-f]{12,64}$")
_VERSION = re.compile(r"^\d+\.\d+$")


class _UnixConnection(http.client.HTTPConnection):
    """HTTP/1.1 over a unix socket (the Host header says `localhost`, as the docker CLI's)."""

    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self._path))
        except OSError:
            sock.close()
            raise
        self.sock = sock


class DockerApi:
    """A minimal client of the Docker Engine API."""

    def __init__(
        self, socket_path: Path = DEFAULT_SOCKET, version: str | None = None, timeout: float = 30.0
    ) -> None:
        if version is not None and not _VERSION.match(version.removeprefix("v")):
            raise ValueError(f"not a Docker API version: {version!r} (expected e.g. 1.43)")
        self._socket = socket_path
        self._version = version.removeprefix("v") if version else None
        self._timeout = timeout

    def request(self, method: str, path: str) -> tuple[int, Any, Mapping[str, str]]:
        """(status, decoded JSON or None, headers) of `method /vX.Y/path`."""
        if not path.startswith("/_ping"):
            path = f"/v{self.version()}{path}"
        return self._send(method, path)

    def version(self) -> str:
        """The API version in use: configured, else negotiated once with `GET /_ping`."""
        if self._version is None:
            _, _, headers = self._send("GET", "/_ping")
            reported = headers.get("api-version", "")
            if not _VERSION.match(reported):
                raise TargetError(f"the Docker daemon reported no API version ({reported!r})")
            self._version = reported
        return self._version

    def _send(self, method: str, path: str) -> tuple[int, Any, Mapping[str, str]]:
        conn = _UnixConnection(self._socket, self._timeout)
        try:
            conn.request(method, path, headers={"Content-Length": "0"} if method == "POST" else {})
            response = conn.getresponse()
            raw = response.read()
            headers = {k.lower(): v for k, v in response.getheaders()}
        except (OSError, http.client.HTTPException) as exc:
            raise TargetError(f"{method} {path} on {self._socket}: {exc}") from None
        finally:
            conn.close()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        if response.status >= 400 and response.status != 404:
            message = body.get("message") if isinstance(body, dict) else None
            shown = message if isinstance(message, str) else repr(raw[:200])
            raise TargetError(f"{method} {path}: HTTP {response.status}: {shown}")
        return response.status, body, headers


class DockerTarget:
    """Restart the container the alert's `container` label names."""

    name = "docker"

    def __init__(self, api: DockerApi, stop_timeout: int = 10) -> None:
        self._api = api
        self._stop_timeout = stop_timeout

    def resolve(self, labels: Mapping[str, str]) -> Workload:
        """Inspect the container: its name and Compose project."""
        container = labels.get("container", "")
        if not _CONTAINER_ID.match(container):
            raise NoTarget(f"the alert's container label is not a container id: {container!r}")
        status, found, _ = self._api.request("GET", f"/containers/{container}/json")
        if status == 404 or not isinstance(found, dict):
            raise NoTarget(f"container {container[:12]} no longer exists")
        config = found.get("Config")
        compose = config.get("Labels") if isinstance(config, dict) else None
        project = compose.get(COMPOSE_PROJECT, "") if isinstance(compose, dict) else ""
        name = str(found.get("Name", "")).lstrip("/") or container[:12]
        full_id = str(found.get("Id", container))
        if not _CONTAINER_ID.match(full_id):
            raise TargetError(f"the daemon returned an invalid container id {full_id!r}")
        return Workload("container", str(project), name, ref=full_id)

    def restart(self, workload: Workload) -> str:
        """`POST /containers/{id}/restart?t=N`."""
        path = f"/containers/{workload.ref}/restart?t={self._stop_timeout}"
        status, _, _ = self._api.request("POST", path)
        if status == 404:
            raise TargetError(f"container {workload.name} ({workload.ref[:12]}) no longer exists")
        return f"docker restart of container {workload.name} ({workload.ref[:12]})"
