"""Local fakes of the APIs remediation calls, recording every request they get.

`FakeKube` speaks the Kubernetes API's JSON over HTTP or HTTPS on 127.0.0.1 and checks the
bearer token; `FakeDocker` speaks the Docker Engine API on a unix socket. Both answer from a
table of objects the test fills in, and both record method, path, headers and body.
"""

from __future__ import annotations

import json
import socketserver
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

KUBE_TOKEN = "fake-service-account-token"


@dataclass(frozen=True)
class Request:
    """One recorded request."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Recorder:
    """The shared state of a fake: canned answers in, requests out."""

    objects: dict[str, Any] = field(default_factory=dict)
    """path -> JSON answer of a GET (and of a PATCH or POST, if the path is there)."""
    failures: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    """(method, path) -> (status, JSON body) to answer instead."""
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, handler: BaseHTTPRequestHandler) -> Request:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        request = Request(handler.command, handler.path, dict(handler.headers.items()), body)
        with self.lock:
            self.requests.append(request)
        return request

    def of(self, method: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.method == method]


def _reply(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: Any,
    headers: dict[str, str] | None = None,
) -> None:
    raw = b"" if body is None else json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(raw)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    if raw:
        handler.wfile.write(raw)


def _status(code: int, message: str) -> dict[str, Any]:
    """A Kubernetes `Status` object, as the API server sends with an error."""
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message}


class _KubeHandler(BaseHTTPRequestHandler):
    server: _KubeServer
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        state = self.server.state
        request = state.record(self)
        if request.headers.get("Authorization") != f"Bearer {KUBE_TOKEN}":
            return _reply(self, 401, _status(401, "Unauthorized"))
        failure = state.failures.get((request.method, request.path))
        if failure is not None:
            return _reply(self, *failure)
        path = request.path.split("?", 1)[0]
        if path not in state.objects:
            return _reply(self, 404, _status(404, f"{path} not found"))
        _reply(self, 200, state.objects[path])

    do_GET = do_PATCH = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _KubeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: Recorder) -> None:
        self.state = state
        super().__init__(("127.0.0.1", 0), _KubeHandler)


@dataclass
class FakeKube:
    """A running fake API server."""

    url: str
    state: Recorder


@contextmanager
def fake_kube(tls: ssl.SSLContext | None = None) -> Iterator[FakeKube]:
    """Serve a fake Kubernetes API on 127.0.0.1 (HTTPS with `tls`) until the block ends."""
    state = Recorder()
    server = _KubeServer(state)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    scheme = "https" if tls is not None else "http"
    try:
        yield FakeKube(f"{scheme}://127.0.0.1:{server.server_address[1]}", state)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def pod(namespace: str, name: str, owner_kind: str = "", owner: str = "") -> dict[str, Any]:
    """A pod object with a controlling owner reference (none when `owner_kind` is "")."""
    refs = [{"apiVersion": "apps/v1", "kind": owner_kind, "name": owner, "controller": True}]
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if owner_kind:
        meta["ownerReferences"] = refs
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta}


def add_deployment_pod(kube: FakeKube, namespace: str, deployment: str, pod_name: str) -> None:
    """A Deployment's pod: pod -> ReplicaSet -> Deployment, with the objects the API serves."""
    replicaset = f"{deployment}-5d8f7c9b6"
    kube.state.objects[f"/api/v1/namespaces/{namespace}/pods/{pod_name}"] = pod(
        namespace, pod_name, "ReplicaSet", replicaset
    )
    rs = pod(namespace, replicaset, "Deployment", deployment)
    rs["kind"] = "ReplicaSet"
    kube.state.objects[f"/apis/apps/v1/namespaces/{namespace}/replicasets/{replicaset}"] = rs
    kube.state.objects[f"/apis/apps/v1/namespaces/{namespace}/deployments/{deployment}"] = {
        "kind": "Deployment",
        "metadata": {"name": deployment, "namespace": namespace},
    }


# --- Docker --------------------------------------------------------------------------------

DOCKER_API_VERSION = "1.43"


class _DockerHandler(BaseHTTPRequestHandler):
    server: _DockerServer
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        state = self.server.state
        request = state.record(self)
        failure = state.failures.get((request.method, request.path))
        if failure is not None:
            return _reply(self, *failure)
        if request.path == "/_ping":
            headers = {"Api-Version": DOCKER_API_VERSION, "Content-Type": "text/plain"}
            return _reply(self, 200, None, headers)
        path = request.path.split("?", 1)[0]
        if request.method == "POST" and path.endswith("/restart"):
            container = path.removesuffix("/restart") + "/json"
            if container in state.objects:
                return _reply(self, 204, None)
        elif path in state.objects:
            return _reply(self, 200, state.objects[path])
        _reply(self, 404, {"message": f"No such container: {path.split('/')[3]}"})

    do_GET = do_POST = _handle

    def address_string(self) -> str:
        return "unix"  # a unix socket's peer has no address

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _DockerServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, path: Path, state: Recorder) -> None:
        self.state = state
        super().__init__(str(path), _DockerHandler)


@dataclass
class FakeDocker:
    """A running fake Docker daemon."""

    socket: Path
    state: Recorder

    def add_container(self, container_id: str, name: str, project: str = "") -> None:
        """A running container, in a Compose project when `project` is given."""
        labels = {"com.docker.compose.project": project} if project else {}
        self.state.objects[f"/v{DOCKER_API_VERSION}/containers/{container_id}/json"] = {
            "Id": container_id,
            "Name": f"/{name}",
            "Config": {"Labels": labels},
            "State": {"Running": True},
        }


@contextmanager
def fake_docker(directory: Path) -> Iterator[FakeDocker]:
    """Serve a fake Docker Engine API on `directory`/docker.sock until the block ends."""
    state = Recorder()
    path = directory / "docker.sock"
    server = _DockerServer(path, state)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield FakeDocker(path, state)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
