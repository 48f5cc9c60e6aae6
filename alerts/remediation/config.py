"""Start-up checks of the receiver's settings: authentication, TLS, and the loopback rule.

The receiver restarts production workloads, so it refuses to start unauthenticated: a bearer
token, or mutual TLS, or both. `--insecure-no-auth` lifts that only on a loopback address,
where the only callers are on the same host (a sidecar Alertmanager, a test).
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Mapping
from pathlib import Path

from agentwatch.errors import UsageError

TOKEN_ENV = "AGENTWATCH_TOKEN"


def load_token(token_file: str | None, environ: Mapping[str, str]) -> str | None:
    """The bearer token: from `--token-file` (stripped), else `AGENTWATCH_TOKEN`, else None."""
    if token_file is not None:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise UsageError(f"--token-file: cannot read {token_file}: {reason}") from None
        origin = "--token-file"
    else:
        token, origin = environ.get(TOKEN_ENV, "").strip(), TOKEN_ENV
        if not token:
            return None
    if len(token) < 16:
        raise UsageError(f"{origin}: the token is shorter than 16 characters")
    if any(c.isspace() or not c.isprintable() for c in token):
        raise UsageError(f"{origin}: the token contains whitespace or control characters")
    return token


def tls_context(
    cert_file: str | None, key_file: str | None, client_ca_file: str | None
) -> ssl.SSLContext | None:
    """A server TLS context; with a client CA, a client certificate is required (mTLS)."""
    if cert_file is None and key_file is None:
        if client_ca_file is not None:
            raise UsageError("--tls-client-ca-file needs --tls-cert-file and --tls-key-file")
        return None
    if cert_file is None or key_file is None:
        raise UsageError("--tls-cert-file and --tls-key-file go together")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"--tls-cert-file/--tls-key-file: {_reason(exc)}") from None
    if client_ca_file is not None:
        try:
            context.load_verify_locations(cafile=client_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(f"--tls-client-ca-file: {_reason(exc)}") from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def is_loopback(host: str) -> bool:
    """Whether `host` is a loopback address or `localhost`."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_auth(
    host: str, token: str | None, tls: ssl.SSLContext | None, insecure_no_auth: bool
) -> None:
    """Refuse a configuration that would let anybody restart workloads."""
    mtls = tls is not None and tls.verify_mode == ssl.CERT_REQUIRED
    if token is not None or mtls:
        return
    if not insecure_no_auth:
        raise UsageError(
            "no authentication: set --token-file (or AGENTWATCH_TOKEN) or mutual TLS "
            "(--tls-cert-file, --tls-key-file, --tls-client-ca-file)"
        )
    if not is_loopback(host):
        raise UsageError(f"--insecure-no-auth is only allowed on a loopback address, not {host}")


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)
