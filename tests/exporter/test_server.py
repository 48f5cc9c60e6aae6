"""Tests for the exporter's HTTP server, over real sockets on 127.0.0.1."""

from __future__ import annotations

import base64
import gzip
import http.client
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from agentwatch.errors import AgentwatchError, UsageError
from agentwatch.exporter.server import MetricsServer, parse_listen
from agentwatch.exporter.web_config import WebConfig, load_web_config
from tests.helpers import make_cert

PLAIN = b"# TYPE agentwatch_gpu_up gauge\nagentwatch_gpu_up 1\n"
PLAIN_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS = PLAIN + b"# EOF\n"
OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


class FakeSource:
    """Canned expositions; records the flags of every call."""

    def __init__(self) -> None:
        self.is_ready = False
        self.calls: list[tuple[bool, bool]] = []
        self.barrier: threading.Barrier | None = None

    def exposition(self, *, openmetrics: bool, gzipped: bool) -> tuple[bytes, str]:
        self.calls.append((openmetrics, gzipped))
        if self.barrier is not None:
            self.barrier.wait()
        body, content_type = (OPENMETRICS, OPENMETRICS_TYPE) if openmetrics else (PLAIN, PLAIN_TYPE)
        return (gzip.compress(body) if gzipped else body), content_type

    def ready(self) -> bool:
        return self.is_ready


Response = tuple[int, http.client.HTTPMessage, bytes]
Serve = Callable[..., MetricsServer]


@pytest.fixture
def source() -> FakeSource:
    return FakeSource()


@pytest.fixture
def serve(source: FakeSource) -> Iterator[Serve]:
    """Start a MetricsServer on a free loopback port; all are shut down after the test."""
    servers: list[MetricsServer] = []

    def _serve(web: WebConfig | None = None, **kwargs: Any) -> MetricsServer:
        server = MetricsServer(source, "127.0.0.1", 0, web, **kwargs)
        server.start()
        servers.append(server)
        return server

    yield _serve
    for server in servers:
        server.shutdown()


def request(
    server: MetricsServer,
    path: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    context: ssl.SSLContext | None = None,
) -> Response:
    host, port = server.address
    conn = (
        http.client.HTTPConnection(host, port, timeout=10)
        if context is None
        else http.client.HTTPSConnection(host, port, timeout=10, context=context)
    )
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def basic(user: str, password: bytes) -> dict[str, str]:
    token = base64.b64encode(user.encode() + b":" + password).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:9400", ("127.0.0.1", 9400)),
        ("localhost:0", ("localhost", 0)),
        ("[::1]:9400", ("::1", 9400)),
        ("[::]:9400", ("::", 9400)),
        ("0.0.0.0:9400", ("0.0.0.0", 9400)),
        (":9400", ("127.0.0.1", 9400)),
    ],
    ids=["ipv4", "name", "ipv6", "ipv6-any", "ipv4-any", "port-only-is-loopback"],
)
def test_parse_listen(value: str, expected: tuple[str, int]) -> None:
    assert parse_listen(value) == expected


@pytest.mark.parametrize(
    "value",
    ["9400", "::1:9400", "[::1]9400", "[]:9400", "[10.0.0.1]:80", "host:", "host:65536"]
    + ["host:-1", "host:http", "my host:80", "host:٩"],
    ids=["no-colon", "bare-ipv6", "no-colon-after-bracket", "empty-brackets", "v4-in-brackets"]
    + ["no-port", "port-too-big", "negative-port", "named-port", "space", "non-ascii-digit"],
)
def test_parse_listen_rejects(value: str) -> None:
    with pytest.raises(UsageError, match="listen address"):
        parse_listen(value)


@pytest.mark.parametrize(
    ("path", "content_type", "needle"),
    [
        ("/", "text/html", b'<a href="/metrics">'),
        ("/-/healthy", "text/plain", b"OK"),
        ("/metrics", PLAIN_TYPE, PLAIN),
        ("/metrics?name[]=x", PLAIN_TYPE, PLAIN),
    ],
    ids=["landing", "healthy", "metrics", "metrics-with-query"],
)
def test_routes(serve: Serve, path: str, content_type: str, needle: bytes) -> None:
    status, headers, body = request(serve(), path)
    assert status == 200
    assert headers["Content-Type"].startswith(content_type)
    assert needle in body


def test_unknown_path_is_404(serve: Serve) -> None:
    assert request(serve(), "/metricsx")[0] == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"], ids=["post", "put", "delete"])
def test_other_methods_are_405(serve: Serve, method: str) -> None:
    status, headers, _ = request(serve(), "/metrics", method=method)
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"


def test_head_sends_the_headers_of_get_without_a_body(serve: Serve) -> None:
    server = serve()
    status, headers, body = request(server, "/metrics", method="HEAD")
    assert (status, body) == (200, b"")
    assert headers["Content-Length"] == str(len(PLAIN))


@pytest.mark.parametrize(
    ("accept", "openmetrics"),
    [
        (PROMETHEUS_ACCEPT, True),
        ("application/openmetrics-text", True),
        ("text/plain;version=0.0.4", False),
        ("application/openmetrics-text;q=0, text/plain", False),
        (None, False),
    ],
    ids=["prometheus", "bare", "text", "refused-with-q0", "none"],
)
def test_accept_selects_openmetrics(
    serve: Serve, source: FakeSource, accept: str | None, openmetrics: bool
) -> None:
    status, headers, body = request(
        serve(), "/metrics", headers={"Accept": accept} if accept else {}
    )
    assert status == 200
    assert source.calls == [(openmetrics, False)]
    assert headers["Content-Type"] == (OPENMETRICS_TYPE if openmetrics else PLAIN_TYPE)
    assert body == (OPENMETRICS if openmetrics else PLAIN)


@pytest.mark.parametrize(
    ("accept_encoding", "gzipped"),
    [("gzip", True), ("deflate, gzip;q=0.5", True), ("gzip;q=0", False), ("identity", False)],
    ids=["gzip", "gzip-among-others", "gzip-refused", "identity"],
)
def test_accept_encoding_selects_gzip(
    serve: Serve, source: FakeSource, accept_encoding: str, gzipped: bool
) -> None:
    _, headers, body = request(serve(), "/metrics", headers={"Accept-Encoding": accept_encoding})
    assert source.calls == [(False, gzipped)]
    assert headers.get("Content-Encoding") == ("gzip" if gzipped else None)
    assert (gzip.decompress(body) if gzipped else body) == PLAIN


def test_ready_turns_from_503_to_200(serve: Serve, source: FakeSource) -> None:
    server = serve()
    assert request(server, "/-/ready")[0] == 503
    source.is_ready = True
    assert request(server, "/-/ready")[0] == 200


def test_requests_are_logged_at_debug_not_to_stderr(
    serve: Serve, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="agentwatch.exporter.server"):
        request(serve(), "/metrics")
        request(serve(), "/nope")
    assert capsys.readouterr().err == ""
    assert any('"GET /metrics HTTP/1.1" 200' in r.getMessage() for r in caplog.records)


def test_configured_headers_are_on_every_response(serve: Serve) -> None:
    server = serve(WebConfig(headers={"X-Frame-Options": "deny"}))
    for path in ("/metrics", "/nope"):
        assert request(server, path)[1]["X-Frame-Options"] == "deny"


@pytest.fixture(scope="module")
def password_hash() -> bytes:
    return bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4))


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/metrics", {}, 401),
        ("/metrics", basic("alice", b"wrong"), 401),
        ("/metrics", basic("bob", b"s3cret"), 401),
        ("/metrics", basic("alice", b"s3cret"), 200),
        ("/-/healthy", {}, 401),
        ("/-/healthy", basic("alice", b"s3cret"), 200),
        ("/nope", {}, 401),
    ],
    ids=["none", "wrong-password", "unknown-user", "right", "health-protected", "health-ok"]
    + ["unknown-path-protected"],
)
def test_basic_auth(
    serve: Serve, password_hash: bytes, path: str, headers: dict[str, str], status: int
) -> None:
    server = serve(WebConfig(basic_auth_users={"alice": password_hash}))
    got, response_headers, _ = request(server, path, headers=headers)
    assert got == status
    if status == 401:
        assert response_headers["WWW-Authenticate"] == 'Basic realm="agentwatch"'


def test_second_scrape_does_not_run_bcrypt(
    serve: Serve, password_hash: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(WebConfig(basic_auth_users={"alice": password_hash}))
    calls: list[bytes] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        calls.append(password)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)  # web_config calls bcrypt.checkpw
    for _ in range(2):
        assert request(server, "/metrics", headers=basic("alice", b"s3cret"))[0] == 200
        assert request(server, "/metrics", headers=basic("alice", b"nope"))[0] == 401
    assert calls == [b"s3cret", b"nope"]


def test_twenty_concurrent_scrapes_are_served_at_once(serve: Serve, source: FakeSource) -> None:
    # Every exposition waits until all 20 are inside it: served one by one, they would break
    # the barrier instead of passing it.
    source.barrier = threading.Barrier(20, timeout=30)
    server = serve()
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda _: request(server, "/metrics"), range(20)))
    assert [(status, body) for status, _, body in results] == [(200, PLAIN)] * 20


def test_silent_client_is_dropped_after_the_request_timeout(serve: Serve) -> None:
    server = serve(request_timeout=0.2)
    with socket.create_connection(server.address, timeout=30) as silent:
        assert silent.recv(1) == b""


def test_serves_on_ipv6_loopback(source: FakeSource) -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback here: {exc}")
    server = MetricsServer(source, "::1", 0)
    server.start()
    try:
        assert server.address[0] == "::1"
        assert request(server, "/-/healthy")[0] == 200
    finally:
        server.shutdown()


def test_port_in_use_is_an_agentwatch_error(source: FakeSource) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = MetricsServer(source, "127.0.0.1", taken.getsockname()[1])
        with pytest.raises(AgentwatchError, match=r"cannot listen on 127\.0\.0\.1:\d+: "):
            server.start()


def test_address_not_on_this_host_is_an_agentwatch_error(source: FakeSource) -> None:
    with pytest.raises(AgentwatchError, match=r"cannot listen on 192\.0\.2\.1:0: "):
        MetricsServer(source, "192.0.2.1", 0).start()  # TEST-NET-1: never a local address


def test_shutdown_is_idempotent_and_frees_the_port(source: FakeSource) -> None:
    server = MetricsServer(source, "127.0.0.1", 0)
    server.shutdown()  # before start: nothing to do
    server.start()
    address = server.address
    server.shutdown()
    server.shutdown()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=10).close()


# -- TLS ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tls")
    make_cert(directory, "server")
    make_cert(directory, "client", common_name="prometheus")
    make_cert(directory, "stranger", common_name="stranger")
    return directory


def tls_config(directory: Path, extra: str = "") -> WebConfig:
    path = directory / "web.yml"
    path.write_text(f"tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n{extra}")
    return load_web_config(path)


def client_context(directory: Path, cert: str | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=directory / "server.crt")
    if cert is not None:
        context.load_cert_chain(directory / f"{cert}.crt", directory / f"{cert}.key")
    return context


def test_tls_serves_metrics(serve: Serve, tls_dir: Path) -> None:
    server = serve(tls_config(tls_dir))
    status, _, body = request(server, "/metrics", context=client_context(tls_dir))
    assert (status, body) == (200, PLAIN)


def test_plain_http_to_a_tls_port_gets_no_metrics(serve: Serve, tls_dir: Path) -> None:
    server = serve(tls_config(tls_dir))
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        request(server, "/metrics")


def test_a_client_stuck_in_the_handshake_does_not_block_others(serve: Serve, tls_dir: Path) -> None:
    # The stuck client would hold the accept loop for 60 s; the real one gives up after 10.
    server = serve(tls_config(tls_dir), request_timeout=60)
    with socket.create_connection(server.address, timeout=30):
        assert request(server, "/metrics", context=client_context(tls_dir))[0] == 200


MTLS = "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: client.crt\n"


def test_mutual_tls_admits_a_trusted_client(serve: Serve, tls_dir: Path) -> None:
    server = serve(tls_config(tls_dir, MTLS))
    assert request(server, "/metrics", context=client_context(tls_dir, "client"))[0] == 200


@pytest.mark.parametrize("cert", [None, "stranger"], ids=["no-cert", "untrusted-cert"])
def test_mutual_tls_rejects_other_clients(serve: Serve, tls_dir: Path, cert: str | None) -> None:
    server = serve(tls_config(tls_dir, MTLS))
    # With TLS 1.3 the client learns of the refusal only when it reads.
    with pytest.raises((ssl.SSLError, ConnectionError)):
        request(server, "/metrics", context=client_context(tls_dir, cert))
