"""The exporter-toolkit web configuration file (`--web.config.file`): TLS, headers, basic auth.

The format is the one node_exporter and every exporter built on prometheus/exporter-toolkit read
(its docs/web-configuration.md), parsed as strictly as the toolkit does: an unknown key is an
error. Options the toolkit has and agentwatch does not implement are refused by name, never
silently ignored. Unlike the toolkit the file is read once, at start.
"""

from __future__ import annotations

import ssl
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import yaml

from agentwatch.errors import UsageError
from agentwatch.exporter.basic_auth import BCRYPT_HASH, BasicAuth, bcrypt_cost

_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
# Python's ssl can only ask for a client certificate if it also verifies it, so two of Go's
# modes cannot be copied. RequestClientCert becomes CERT_NONE: a certificate nobody verifies
# grants nothing here, so not asking for one admits exactly the clients Go admits.
# RequireAnyClientCert (and its old name RequireClientCert) becomes CERT_REQUIRED, which is
# stricter than Go: the certificate must chain to client_ca_file.
_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_NONE,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "RequireClientCert": ssl.CERT_REQUIRED,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
# Go's tls.CipherSuites() names (the IANA names) -> OpenSSL names. TLS 1.3 suites are accepted
# and ignored, as in Go: neither stack lets them be configured.
_CIPHERS: dict[str, str | None] = {
    "TLS_AES_128_GCM_SHA256": None,
    "TLS_AES_256_GCM_SHA384": None,
    "TLS_CHACHA20_POLY1305_SHA256": None,
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
}
# The toolkit allows only these response headers (an empty tuple: any value).
_HEADERS: dict[str, tuple[str, ...]] = {
    "Strict-Transport-Security": (),
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": (),
    "Content-Security-Policy": (),
}
_KEYS: dict[str, frozenset[str]] = {
    "": frozenset({"tls_server_config", "http_server_config", "basic_auth_users"}),
    "tls_server_config": frozenset(
        {"cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version"}
        | {"max_version", "cipher_suites", "prefer_server_cipher_suites"}
    ),
    "http_server_config": frozenset({"headers", "http2"}),
}
_UNSUPPORTED = {"rate_limit", "auth_excluded_paths", "tls_server_config.cert"}
_UNSUPPORTED |= {f"tls_server_config.{k}" for k in ("key", "client_ca", "curve_preferences")}
_UNSUPPORTED |= {"tls_server_config.client_allowed_sans"}


@dataclass(frozen=True)
class TlsConfig:
    """The `tls_server_config` section, paths already absolute."""

    cert_file: Path
    key_file: Path
    client_auth_type: str = "NoClientCert"
    client_ca_file: Path | None = None
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2
    max_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3
    ciphers: tuple[str, ...] = ()
    """OpenSSL cipher names; empty means OpenSSL's defaults."""
    prefer_server_cipher_suites: bool = True


@dataclass(frozen=True, eq=False)
class WebConfig:
    """A parsed web configuration; the default instance means plain HTTP without auth."""

    path: Path | None = None
    tls: TlsConfig | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    basic_auth_users: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    _auth: BasicAuth = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_auth", BasicAuth(self.basic_auth_users))

    def ssl_context(self) -> ssl.SSLContext | None:
        """A new server-side TLS context, or None when the file configures no TLS."""
        return None if self.tls is None else _context(self.tls, str(self.path))

    def check_basic_auth(self, header_value: str | None) -> bool:
        """Whether an `Authorization` header value is allowed in (always, without users)."""
        return self._auth.check(header_value)


def load_web_config(path: str | Path) -> WebConfig:
    """Read and check a web configuration file; every problem is a one-line `UsageError`."""
    path = Path(path).absolute()
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"web config {where}: cannot read: {_reason(exc)}") from None
    try:
        raw = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise UsageError(f"web config {where}: invalid YAML{at}: {_one_line(problem)}") from None
    top = _section(raw, where, "")
    tls = _tls(_section(top.get("tls_server_config"), where, "tls_server_config"), path)
    http = _section(top.get("http_server_config"), where, "http_server_config")
    if not isinstance(http.get("http2", True), bool):
        _fail(where, "http_server_config.http2", "must be true or false")
    # http2 is accepted for compatibility; this server speaks HTTP/1.1 only.
    config = WebConfig(path, tls, _headers(http.get("headers"), where), _users(top, where))
    config.ssl_context()  # load the certificates now, so a bad one stops the start
    return config


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, as the toolkit's strict YAML decoder does."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Hashable] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def _tls(section: dict[str, Any], path: Path) -> TlsConfig | None:
    where, key = str(path), "tls_server_config."
    # The toolkit's rule: any of these switches TLS on; the rest alone leave plain HTTP.
    if not section.keys() & {"cert_file", "key_file", "client_ca_file", "client_auth_type"}:
        return None
    files = {}
    for name in ("cert_file", "key_file", "client_ca_file"):
        value = section.get(name)
        if value is None and name != "client_ca_file":
            _fail(where, key + name, "is required when TLS is configured")
        if value is not None:
            if not isinstance(value, str) or not value:
                _fail(where, key + name, "must be a file name")
            files[name] = path.parent / value  # relative to the file, as in the toolkit
            if not files[name].is_file():
                _fail(where, key + name, f"no such file: {files[name]}")
    auth = _choice(section, "client_auth_type", _CLIENT_AUTH, "NoClientCert", where)
    ca = files.get("client_ca_file")
    if ca is not None and auth == "NoClientCert":
        _fail(where, key + "client_ca_file", "is set but client_auth_type is NoClientCert")
    if ca is None and _CLIENT_AUTH[auth] != ssl.CERT_NONE:
        _fail(where, key + "client_ca_file", f"is required by client_auth_type {auth}")
    low = _TLS_VERSIONS[_choice(section, "min_version", _TLS_VERSIONS, "TLS12", where)]
    high = _TLS_VERSIONS[_choice(section, "max_version", _TLS_VERSIONS, "TLS13", where)]
    if low > high:
        _fail(where, key + "min_version", "is above max_version")
    suites = section.get("cipher_suites") or []
    if not isinstance(suites, list) or not all(isinstance(s, str) for s in suites):
        _fail(where, key + "cipher_suites", "must be a list of names")
    for suite in suites:
        if suite not in _CIPHERS:
            _fail(where, key + "cipher_suites", f"unknown cipher {suite!r} (use Go's names)")
    prefer = section.get("prefer_server_cipher_suites", True)
    if not isinstance(prefer, bool):
        _fail(where, key + "prefer_server_cipher_suites", "must be true or false")
    ciphers = tuple(c for c in (_CIPHERS[s] for s in suites) if c is not None)
    return TlsConfig(files["cert_file"], files["key_file"], auth, ca, low, high, ciphers, prefer)


def _context(tls: TlsConfig, where: str) -> ssl.SSLContext:
    key = "tls_server_config."
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # A version floor of TLS10/TLS11 is set as asked, yet OpenSSL 3's default security level
    # may still refuse those versions; we do not lower the security level.
    ctx.minimum_version, ctx.maximum_version = tls.min_version, tls.max_version
    try:
        # A passphrase callback, so an encrypted key fails here instead of prompting on a tty.
        ctx.load_cert_chain(tls.cert_file, tls.key_file, password=lambda: b"")
    except (OSError, ssl.SSLError) as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            _fail(where, key + "key_file", f"{tls.key_file} does not match {tls.cert_file}")
        _fail(where, key + "cert_file", f"cannot load {tls.cert_file}: {_reason(exc)}")
    if tls.client_ca_file is not None:
        try:
            ctx.load_verify_locations(cafile=tls.client_ca_file)
        except (OSError, ssl.SSLError) as exc:
            _fail(where, key + "client_ca_file", f"{tls.client_ca_file}: {_reason(exc)}")
    ctx.verify_mode = _CLIENT_AUTH[tls.client_auth_type]
    if tls.prefer_server_cipher_suites:
        ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    if tls.ciphers:
        try:
            ctx.set_ciphers(":".join(tls.ciphers))
        except ssl.SSLError as exc:
            _fail(where, key + "cipher_suites", f"none usable here: {_reason(exc)}")
    return ctx


def _headers(raw: object, where: str) -> dict[str, str]:
    headers = _section(raw, where, "http_server_config.headers", free=True)
    out = {}
    for name, value in headers.items():
        key = f"http_server_config.headers.{name}"
        if name not in _HEADERS:
            _fail(where, key, f"cannot be configured (allowed: {', '.join(_HEADERS)})")
        if not isinstance(value, str) or "\r" in value or "\n" in value:
            _fail(where, key, "must be a one-line string")
        if _HEADERS[name] and value not in _HEADERS[name]:
            _fail(where, key, f"must be one of {', '.join(_HEADERS[name])}, not {value!r}")
        if value:  # blank means unset, as in the toolkit
            out[name] = value
    return out


def _users(top: dict[str, Any], where: str) -> dict[str, bytes]:
    users = _section(top.get("basic_auth_users"), where, "basic_auth_users", free=True)
    out = {}
    for user, hashed in users.items():
        key = f"basic_auth_users.{user}"
        if not isinstance(user, str) or ":" in user:
            _fail(where, key, "a user name must be a string without ':' (quote numbers)")
        if not isinstance(hashed, str) or not BCRYPT_HASH.fullmatch(hashed.encode()):
            _fail(where, key, "must be a bcrypt hash ($2y$, $2b$ or $2a$), e.g. from htpasswd -B")
        if not 4 <= bcrypt_cost(hashed.encode()) <= 31:
            _fail(where, key, "bcrypt cost must be between 4 and 31")
        out[user] = hashed.encode()
    return out


def _section(raw: object, where: str, name: str, *, free: bool = False) -> dict[Any, Any]:
    """A mapping (None counts as empty) whose keys, unless `free`, are all known."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        _fail(where, name or "top level", "must be a mapping")
    for key in () if free else raw:
        full = f"{name}.{key}" if name else str(key)
        if full in _UNSUPPORTED:
            _fail(where, full, "is an exporter-toolkit option that agentwatch does not support")
        if key not in _KEYS[name]:
            _fail(where, full, "unknown key")
    return raw


def _choice(
    section: dict[str, Any], name: str, options: Mapping[str, object], default: str, where: str
) -> str:
    value = section.get(name, default)
    if not isinstance(value, str) or value not in options:
        _fail(where, f"tls_server_config.{name}", f"must be one of {', '.join(options)}")
    return str(value)


def _reason(exc: BaseException) -> str:
    return _one_line(getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc))


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _fail(where: str, key: str, problem: str) -> NoReturn:
    raise UsageError(f"web config {where}: {key}: {problem}")
