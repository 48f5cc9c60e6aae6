"""The webhook's HTTP(S) server: authentication, size limits, and JSON answers.

`POST /webhook` takes an Alertmanager notification; `GET /-/healthy` answers probes (it acts
on nothing, so it needs no credentials). A request must carry `Authorization: Bearer <token>`
when a token is configured (compared in constant time) and, with `--tls-client-ca-file`, a
client certificate that chains to that CA (checked in the TLS handshake, so an unauthenticated
client never reaches the handler). Answers:

| status | when |
|---|---|
| 200 | every alert got a decision (acted, dry run, or skipped: see the body) |
| 400 | the body is not an Alertmanager webhook payload (the message says why) |
| 401 | missing or wrong bearer token |
| 411, 413 | no `Content-Length`, or a body over `--max-body-bytes` |
| 500 | a restart failed: Alertmanager retries, and alerts already handled are duplicates |

Rejected requests are audited too (decision `rejected`), so a stream of bad tokens is visible.
"""

from __future__ import annotations

import hmac
import json
import logging
import socket
import socketserver
import ssl
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from agentwatch.alerts.remediation import decide
from agentwatch.alerts.remediation.receiver import Remediator
from agentwatch.alerts.remediation.webhook import PayloadError, parse
from agentwatch.errors import AgentwatchError

logger = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhook"
HEALTH_PATH = "/-/healthy"
REJECTED = "rejected"
_Reply = tuple[int, dict[str, Any], dict[str, str]]


@dataclass(frozen=True)
class ServerOptions:
    """Where to listen and whom to let in."""

    host: str = "127.0.0.1"
    port: int = 9402
    token: str | None = None
    tls: ssl.SSLContext | None = None
    max_body_bytes: int = 1 << 20
    request_timeout: float = 10.0


class WebhookServer:
    """Serve a `Remediator` from daemon threads; `start()` binds, `shutdown()` stops."""

    def __init__(self, remediator: Remediator, options: ServerOptions) -> None:
        self.remediator = remediator
        self.options = options
        self._server: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind and serve; `AgentwatchError` if the address is unusable."""
        host, port = self.options.host, self.options.port
        try:
            family, _, _, _, sockaddr = socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )[0]
            self._server = _HttpServer(family, sockaddr, self)
        except (OSError, OverflowError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise AgentwatchError(f"cannot listen on {host}:{port}: {reason}") from None
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="agentwatch-remediate",
            daemon=True,
        )
        self._thread.start()
        logger.info(
            "remediation receiver on %s://%s:%d%s (%s, target %s)",
            "https" if self.options.tls else "http",
            *self.address,
            WEBHOOK_PATH,
            "dry run" if self.remediator.dry_run else "ENFORCING",
            self.remediator.target.name,
        )

    @property
    def address(self) -> tuple[str, int]:
        """The bound host and port."""
        if self._server is None:
            raise RuntimeError("WebhookServer is not started")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def shutdown(self) -> None:
        """Stop serving; safe to call more than once."""
        server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join()

    def authorized(self, header: str | None) -> bool:
        """Whether an `Authorization` header carries the token (always, without a token)."""
        token = self.options.token
        if token is None:
            return True
        scheme, _, given = (header or "").partition(" ")
        # compare_digest takes as long whatever the mismatch, so the token cannot be guessed
        # byte by byte from answer times.
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        )

    def notify(self, body: bytes, peer: str) -> _Reply:
        """Handle an authenticated notification body."""
        try:
            notification = parse(body)
        except PayloadError as exc:
            self.reject(peer, f"malformed payload: {exc}")
            return 400, {"error": f"malformed payload: {exc}"}, {}
        outcomes = self.remediator.handle(notification, peer)
        failed = any(o.decision == decide.FAILED for o in outcomes)
        answer = {
            "dry_run": self.remediator.dry_run,
            "decisions": [
                {
                    "alertname": o.alert.name,
                    "fingerprint": o.alert.fingerprint,
                    "decision": o.decision,
                    "reason": o.reason,
                    "target": o.workload.as_dict() if o.workload else None,
                }
                for o in outcomes
            ],
        }
        return (500 if failed else 200), answer, {}

    def reject(self, peer: str, reason: str) -> None:
        """Audit a request that was turned away."""
        self.remediator.audit.write({"decision": REJECTED, "reason": reason, "peer": peer})


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, family: int, sockaddr: Any, owner: WebhookServer) -> None:
        self.address_family = socket.AddressFamily(family)
        self.owner = owner
        super().__init__(sockaddr, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would call socket.getfqdn(), a reverse DNS lookup.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        # The TLS handshake happens here, in the connection's thread, under the timeout.
        try:
            request.settimeout(self.owner.options.request_timeout)
            if self.owner.options.tls is not None:
                request = self.owner.options.tls.wrap_socket(request, server_side=True)
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # resets, timeouts, refused client certificates
            logger.info("connection from %s refused or dropped: %s", client_address[0], exc)
        else:
            logger.error("error serving %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.1"
    server_version = "agentwatch"
    sys_version = ""
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        if urlsplit(self.path).path == HEALTH_PATH:
            self._send(200, {"status": "ok"})
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        owner, peer = self.server.owner, self.client_address[0]
        if urlsplit(self.path).path != WEBHOOK_PATH:
            self.close_connection = True  # the unread body must not become a request
            return self._send(404, {"error": f"not found; the webhook is POST {WEBHOOK_PATH}"})
        if not owner.authorized(self.headers.get("Authorization")):
            self.close_connection = True
            owner.reject(peer, "missing or wrong bearer token")
            extra = {"WWW-Authenticate": 'Bearer realm="agentwatch"'}
            return self._send(401, {"error": "unauthorized"}, extra)
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            self.close_connection = True
            return self._send(411, {"error": "a Content-Length header is required"})
        limit = owner.options.max_body_bytes
        if int(length) > limit:
            self.close_connection = True
            owner.reject(peer, f"body of {length} bytes is over the {limit}-byte limit")
            return self._send(413, {"error": f"body over the {limit}-byte limit"})
        body = self.rfile.read(int(length))
        try:
            status, answer, extra = owner.notify(body, peer)
        except Exception:  # a bug: answer 500 (Alertmanager retries) and keep serving
            logger.exception("cannot handle a notification")
            status, answer, extra = 500, {"error": "internal error"}, {}
        self._send(status, answer, extra)

    def _not_allowed(self) -> None:
        self.close_connection = True
        self._send(405, {"error": "method not allowed"}, {"Allow": "GET, POST"})

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_HEAD = _not_allowed

    def _send(
        self, status: int, answer: dict[str, Any], extra: dict[str, str] | None = None
    ) -> None:
        body = json.dumps(answer, ensure_ascii=False).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)
