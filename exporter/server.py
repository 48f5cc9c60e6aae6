"""The exporter's HTTP(S) server: cached `/metrics`, health, readiness, optional basic auth.

A scrape only hands out bytes the source rendered after its last collection, so concurrent
scrapes cost almost nothing and a wedged driver never blocks `/metrics`. Each connection gets
its own daemon thread, where the TLS handshake happens too, under a timeout: one slow client
cannot hold up the others, and silent ones are dropped.

Basic auth, when configured, protects every route, health and readiness included, as
exporter-toolkit does (it wraps the whole handler; its opt-in `auth_excluded_paths` is not
supported here). Probes can send the `Authorization` header.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import socketserver
import sys
import threading
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import urlsplit

from agentwatch.errors import AgentwatchError, UsageError
from agentwatch.exporter.web_config import WebConfig

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
_TEXT = "text/plain; charset=utf-8"
_LANDING = b"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>agentwatch exporter</title></head>
<body><h1>agentwatch exporter</h1>
<ul><li><a href="/metrics">/metrics</a></li><li><a href="/-/healthy">/-/healthy</a></li>
<li><a href="/-/ready">/-/ready</a></li></ul></body></html>
"""
_Reply = tuple[int, bytes, str, dict[str, str]]


class MetricsSource(Protocol):
    """What the server serves: the latest pre-rendered snapshot."""

    def exposition(self, *, openmetrics: bool, gzipped: bool) -> tuple[bytes, str]:
        """Body and Content-Type of the latest snapshot (cached by the source)."""
        ...

    def ready(self) -> bool:
        """True once the first collection has finished."""
        ...


def parse_listen(value: str) -> tuple[str, int]:
    """Split `HOST:PORT`, `[IPV6]:PORT` or `:PORT` into host and port.

    `:PORT` means loopback, not all interfaces as in Go: listening everywhere must be asked
    for by name, `0.0.0.0:PORT` or `[::]:PORT`.
    """
    text = value.strip()
    usage = f"listen address {value!r}: expected HOST:PORT, [IPV6]:PORT or :PORT"
    if text.startswith("["):
        host, bracket, port = text[1:].partition("]:")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise UsageError(f"{usage} (bad IPv6 address {host!r})") from None
        if not bracket:
            raise UsageError(usage)
    else:
        host, colon, port = text.rpartition(":")
        if not colon:
            raise UsageError(usage)
        if ":" in host:
            raise UsageError(f"{usage} (put an IPv6 address in brackets)")
        if any(c.isspace() for c in host):
            raise UsageError(usage)
        host = host or LOOPBACK
    if not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise UsageError(f"{usage} (bad port {port!r})")
    return host, int(port)


class MetricsServer:
    """Serve a `MetricsSource` from daemon threads; `start()` binds, `shutdown()` stops."""

    def __init__(
        self,
        source: MetricsSource,
        host: str,
        port: int,
        web_config: WebConfig | None = None,
        *,
        request_timeout: float = 10.0,
    ) -> None:
        self._source = source
        self._host = host
        self._port = port
        self._web = web_config if web_config is not None else WebConfig()
        self._timeout = request_timeout
        self._server: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Bind and serve in a daemon thread; `AgentwatchError` if the address is unusable."""
        with self._lock:
            if self._server is not None:
                raise RuntimeError("MetricsServer already started")
            try:
                family, _, _, _, sockaddr = socket.getaddrinfo(
                    self._host, self._port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
                )[0]
                server = _HttpServer(family, sockaddr, self)
            except (OSError, OverflowError) as exc:
                reason = getattr(exc, "strerror", None) or str(exc)
                where = _hostport(self._host, self._port)
                raise AgentwatchError(f"cannot listen on {where}: {reason}") from None
            self._server = server
            self._thread = threading.Thread(
                # A short poll so shutdown() returns promptly; idle cost is 10 wake-ups a second.
                target=server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="agentwatch-http",
                daemon=True,
            )
            self._thread.start()
        logger.info(
            "serving metrics on %s://%s (basic auth %s)",
            "https" if server.tls is not None else "http",
            _hostport(*self.address),
            "on" if self._web.basic_auth_users else "off",
        )

    @property
    def address(self) -> tuple[str, int]:
        """The bound host and port (the real port when 0 was asked for)."""
        if self._server is None:
            raise RuntimeError("MetricsServer is not started")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def shutdown(self) -> None:
        """Stop serving and close the socket; safe to call more than once."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join()

    def _reply(self, path: str, headers: Message) -> _Reply:
        """Status, body, Content-Type and extra headers for an allowed GET of `path`."""
        if path == "/metrics":
            openmetrics = _accepts(headers.get("Accept"), "application/openmetrics-text")
            gzipped = _accepts(headers.get("Accept-Encoding"), "gzip")
            body, content_type = self._source.exposition(openmetrics=openmetrics, gzipped=gzipped)
            extra = {"Vary": "Accept, Accept-Encoding"}
            if gzipped:
                extra["Content-Encoding"] = "gzip"
            return 200, body, content_type, extra
        if path == "/":
            return 200, _LANDING, "text/html; charset=utf-8", {}
        if path == "/-/healthy":
            return 200, b"OK\n", _TEXT, {}
        if self._source.ready():  # /-/ready
            return 200, b"OK\n", _TEXT, {}
        return 503, b"Not ready: the first collection has not finished\n", _TEXT, {}


_ROUTES = frozenset({"/", "/metrics", "/-/healthy", "/-/ready"})


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, family: int, sockaddr: Any, owner: MetricsServer) -> None:
        self.address_family = socket.AddressFamily(family)
        self.owner = owner
        self.tls = owner._web.ssl_context()
        super().__init__(sockaddr, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would call socket.getfqdn(), a reverse DNS lookup.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        # ThreadingMixIn's version plus the timeout and the handshake, both in this thread.
        try:
            request.settimeout(self.owner._timeout)
            if self.tls is not None:
                request = self.tls.wrap_socket(request, server_side=True)
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # resets, timeouts, failed handshakes: the client's doing
            logger.debug("connection from %s ended: %s", client_address, exc)
        else:
            logger.error("error serving %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.1"  # keep-alive; idle connections end at the request timeout
    server_version = "agentwatch"
    sys_version = ""
    # Headers and body go out in two writes; with Nagle on, a keep-alive client's delayed ACK
    # holds the body back ~40 ms on every scrape.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._handle(head=False)

    def do_HEAD(self) -> None:
        self._handle(head=True)

    def _not_allowed(self) -> None:
        self.close_connection = True  # a request body we never read must not become a request
        self._handle(head=False, allowed=False)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = _not_allowed

    def _handle(self, *, head: bool, allowed: bool = True) -> None:
        owner = self.server.owner
        path = urlsplit(self.path).path
        if not owner._web.check_basic_auth(self.headers.get("Authorization")):
            auth = {"WWW-Authenticate": 'Basic realm="agentwatch"'}
            reply: _Reply = (401, b"Unauthorized\n", _TEXT, auth)
        elif path not in _ROUTES:
            reply = (404, b"Not found\n", _TEXT, {})
        elif not allowed:
            reply = (405, b"Method not allowed\n", _TEXT, {"Allow": "GET, HEAD"})
        else:
            try:
                reply = owner._reply(path, self.headers)
            except Exception:  # a bug in the source: answer, and keep serving the others
                logger.exception("cannot serve %s", path)
                reply = (500, b"Internal server error\n", _TEXT, {})
        status, body, content_type, extra = reply
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in {**owner._web.headers, **extra}.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _accepts(header: str | None, token: str) -> bool:
    """Whether an Accept or Accept-Encoding header lists `token` with a non-zero q."""
    for item in (header or "").split(","):
        name, *params = item.split(";")
        if name.strip().lower() != token:
            continue
        q = next((p.split("=", 1)[1] for p in params if p.strip().lower().startswith("q=")), "1")
        try:
            if float(q) > 0:
                return True
        except ValueError:
            continue
    return False
