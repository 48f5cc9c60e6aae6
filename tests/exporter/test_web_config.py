"""Tests for the exporter-toolkit web configuration: strict parsing, TLS contexts, basic auth."""

from __future__ import annotations

import base64
import shutil
import ssl
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import bcrypt
import pytest

from agentwatch.errors import UsageError
from agentwatch.exporter import basic_auth, web_config
from agentwatch.exporter.web_config import WebConfig, load_web_config
from tests.helpers import make_cert, require_binary

PASSWORD = b"s3cret"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with server.crt/.key, other.crt/.key and garbage.pem."""
    directory = tmp_path_factory.mktemp("tls")
    make_cert(directory, "server")
    make_cert(directory, "other")
    (directory / "garbage.pem").write_text("not a certificate\n")
    return directory


@pytest.fixture(scope="module")
def alice_hash() -> str:
    return bcrypt.hashpw(PASSWORD, bcrypt.gensalt(rounds=4)).decode()


@pytest.fixture
def write(tls_files: Path, tmp_path: Path) -> Callable[[str], Path]:
    """Write a config next to copies of the TLS files, so relative names resolve."""

    def _write(text: str) -> Path:
        for item in tls_files.iterdir():
            shutil.copy(item, tmp_path / item.name)
        path = tmp_path / "web.yml"
        path.write_text(text)
        return path

    return _write


def basic(user: str, password: bytes) -> str:
    return "Basic " + base64.b64encode(user.encode() + b":" + password).decode()


TLS = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"

BAD_CONFIGS = [
    ("tls_config: {}\n", "tls_config: unknown key"),
    ("tls_server_config:\n  cert_fil: server.crt\n", "tls_server_config.cert_fil: unknown key"),
    ("rate_limit: {burst: 1}\n", "rate_limit: is an exporter-toolkit option"),
    (TLS + "  client_allowed_sans: [a]\n", "tls_server_config.client_allowed_sans: is an"),
    ("basic_auth_users: [unclosed\n", "invalid YAML at line"),
    ("- a list\n", "top level: must be a mapping"),
    ("basic_auth_users:\n  a: x\n  a: y\n", "duplicate key 'a'"),
    ("basic_auth_users: [alice]\n", "basic_auth_users: must be a mapping"),
    ("basic_auth_users:\n  alice: plaintext\n", "basic_auth_users.alice: must be a bcrypt hash"),
    ("basic_auth_users:\n  alice: 12\n", "basic_auth_users.alice: must be a bcrypt hash"),
    ("basic_auth_users:\n  1: $2b$04$" + "a" * 53 + "\n", "basic_auth_users.1: a user name"),
    ("basic_auth_users:\n  'a:b': $2b$04$" + "a" * 53 + "\n", "basic_auth_users.a:b: a user"),
    ("basic_auth_users:\n  bob: $2b$03$" + "a" * 53 + "\n", "basic_auth_users.bob: bcrypt cost"),
    ("tls_server_config:\n  cert_file: nope.crt\n  key_file: server.key\n", "cert_file: no such"),
    ("tls_server_config:\n  cert_file: server.crt\n", "key_file: is required"),
    ("tls_server_config:\n  client_auth_type: NoClientCert\n", "cert_file: is required"),
    (TLS.replace("server.crt", "garbage.pem"), "tls_server_config.cert_file: cannot load"),
    (TLS.replace("server.key", "other.key"), "tls_server_config.key_file: "),
    (TLS + "  client_auth_type: Yes\n", "tls_server_config.client_auth_type: must be one of"),
    (TLS + "  client_ca_file: other.crt\n", "client_ca_file: is set but client_auth_type is"),
    (TLS + "  client_auth_type: RequireAndVerifyClientCert\n", "client_ca_file: is required"),
    (
        TLS + "  client_ca_file: garbage.pem\n  client_auth_type: VerifyClientCertIfGiven\n",
        "tls_server_config.client_ca_file: ",
    ),  # fmt: skip
    (TLS + "  min_version: TLS14\n", "tls_server_config.min_version: must be one of"),
    (TLS + "  max_version: [TLS13]\n", "tls_server_config.max_version: must be one of"),
    (TLS + "  min_version: TLS13\n  max_version: TLS12\n", "min_version: is above max_version"),
    (TLS + "  cipher_suites: [ECDHE-RSA-AES128-GCM-SHA256]\n", "cipher_suites: unknown cipher"),
    (TLS + "  prefer_server_cipher_suites: maybe\n", "prefer_server_cipher_suites: must be"),
    ("http_server_config:\n  headers:\n    X-Custom: a\n", "headers.X-Custom: cannot be"),
    ("http_server_config:\n  headers:\n    X-Frame-Options: allow\n", "must be one of deny"),
    ("http_server_config:\n  headers:\n    Content-Security-Policy: [a]\n", "one-line string"),
    ("http_server_config:\n  http2: sometimes\n", "http_server_config.http2: must be true"),
]
BAD_IDS = [
    "unknown-top-key",
    "unknown-nested-key",
    "unsupported-toolkit-key",
    "unsupported-tls-key",
    "bad-yaml",
    "top-level-list",
    "duplicate-user",
    "users-not-mapping",
    "bad-hash",
    "hash-not-string",
    "user-not-string",
    "user-with-colon",
    "cost-too-low",
    "missing-cert-file",
    "missing-key-file-key",
    "tls-without-cert",
    "unreadable-cert",
    "cert-key-mismatch",
    "bad-client-auth-type",
    "client-ca-without-client-auth",
    "verify-without-client-ca",
    "unreadable-client-ca",
    "bad-tls-version",
    "tls-version-list",
    "min-above-max",
    "openssl-cipher-name",
    "prefer-not-bool",
    "header-not-allowed",
    "header-bad-value",
    "header-not-string",
    "http2-not-bool",
]


@pytest.mark.parametrize(("text", "expected"), BAD_CONFIGS, ids=BAD_IDS)
def test_bad_config_is_a_one_line_usage_error_naming_file_and_key(
    write: Callable[[str], Path], text: str, expected: str
) -> None:
    path = write(text)
    with pytest.raises(UsageError) as caught:
        load_web_config(path)
    message = str(caught.value)
    assert message.startswith(f"web config {path}: ")
    assert expected in message
    assert "\n" not in message


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"web\.yml: cannot read: No such file"):
        load_web_config(tmp_path / "web.yml")


def test_empty_file_means_plain_http_without_auth(write: Callable[[str], Path]) -> None:
    config = load_web_config(write(""))
    assert config.tls is None
    assert config.ssl_context() is None
    assert config.check_basic_auth(None)


def test_tls_switches_on_only_with_the_toolkits_keys(write: Callable[[str], Path]) -> None:
    config = load_web_config(write("tls_server_config:\n  min_version: TLS13\n"))
    assert config.tls is None


def test_relative_paths_resolve_against_the_config_directory(
    tls_files: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "conf"
    shutil.copytree(tls_files, conf / "tls")
    (conf / "web.yml").write_text(TLS.replace("server.", "tls/server."))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_web_config("../conf/web.yml")
    assert config.tls is not None
    assert config.tls.cert_file.resolve() == (conf / "tls" / "server.crt").resolve()
    assert config.tls.key_file.resolve() == (conf / "tls" / "server.key").resolve()
    assert isinstance(config.ssl_context(), ssl.SSLContext)


@pytest.mark.parametrize(
    ("auth_type", "mode"),
    [
        ("NoClientCert", ssl.CERT_NONE),
        ("RequestClientCert", ssl.CERT_NONE),
        ("RequireAnyClientCert", ssl.CERT_REQUIRED),
        ("VerifyClientCertIfGiven", ssl.CERT_OPTIONAL),
        ("RequireAndVerifyClientCert", ssl.CERT_REQUIRED),
    ],
    ids=["none", "request", "require-any", "verify-if-given", "require-and-verify"],
)
def test_client_auth_type_maps_to_verify_mode(
    write: Callable[[str], Path], auth_type: str, mode: ssl.VerifyMode
) -> None:
    ca = "" if auth_type == "NoClientCert" else "  client_ca_file: other.crt\n"
    context = load_web_config(write(f"{TLS}{ca}  client_auth_type: {auth_type}\n")).ssl_context()
    assert context is not None
    assert context.verify_mode == mode


def test_versions_ciphers_and_preference_reach_the_context(write: Callable[[str], Path]) -> None:
    text = TLS + "  min_version: TLS12\n  max_version: TLS12\n  cipher_suites:\n"
    text += "    - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n    - TLS_AES_128_GCM_SHA256\n"
    context = load_web_config(write(text)).ssl_context()
    assert context is not None
    assert (context.minimum_version, context.maximum_version) == (ssl.TLSVersion.TLSv1_2,) * 2
    tls12 = {c["name"] for c in context.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert tls12 == {"ECDHE-ECDSA-AES128-GCM-SHA256"}
    assert context.options & ssl.OP_CIPHER_SERVER_PREFERENCE


def test_cipher_table_matches_openssls_standard_names() -> None:
    listing = subprocess.run(
        [require_binary("openssl"), "ciphers", "-stdname", "ALL:@SECLEVEL=0"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    known = dict(line.split()[0:3:2] for line in listing.splitlines())
    for go_name, openssl_name in web_config._CIPHERS.items():
        if openssl_name is not None:
            assert known.get(go_name) == openssl_name, go_name


def test_headers_are_kept_and_blank_ones_dropped(write: Callable[[str], Path]) -> None:
    text = "http_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\n"
    config = load_web_config(write(text + "    X-XSS-Protection: ''\n"))
    assert dict(config.headers) == {"X-Frame-Options": "deny"}


@pytest.mark.parametrize(
    ("header", "allowed"),
    [
        (basic("alice", PASSWORD), True),
        ("basic " + basic("alice", PASSWORD).split()[1], True),
        (basic("alice", b"wrong"), False),
        (basic("mallory", PASSWORD), False),
        (basic("alice", PASSWORD + b"x" * 80), False),
        (None, False),
        ("", False),
        ("Bearer abc", False),
        ("Basic %%%", False),
        ("Basic " + base64.b64encode(b"alice").decode(), False),
        ("Basic " + base64.b64encode(b"\xff:" + PASSWORD).decode(), False),
    ],
    ids=[
        "right",
        "scheme-case-insensitive",
        "wrong-password",
        "unknown-user",
        "over-72-bytes",
        "no-header",
        "empty-header",
        "other-scheme",
        "bad-base64",
        "no-colon",
        "user-not-utf8",
    ],
)
def test_check_basic_auth(
    write: Callable[[str], Path], alice_hash: str, header: str | None, allowed: bool
) -> None:
    config = load_web_config(write(f"basic_auth_users:\n  alice: {alice_hash}\n"))
    assert config.check_basic_auth(header) is allowed


@pytest.mark.parametrize("prefix", ["$2y$", "$2a$", "$2b$"], ids=["2y", "2a", "2b"])
def test_htpasswd_hash_prefixes_are_accepted(alice_hash: str, prefix: str) -> None:
    config = WebConfig(basic_auth_users={"alice": (prefix + alice_hash[4:]).encode()})
    assert config.check_basic_auth(basic("alice", PASSWORD))


def counting_checkpw(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Count bcrypt checks from now on: the list grows by one password per real bcrypt call."""
    calls: list[bytes] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        calls.append(password)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)  # basic_auth calls bcrypt.checkpw
    return calls


def test_verdicts_are_cached_both_ways(alice_hash: str, monkeypatch: pytest.MonkeyPatch) -> None:
    config = WebConfig(basic_auth_users={"alice": alice_hash.encode()})
    calls = counting_checkpw(monkeypatch)
    for _ in range(3):
        assert config.check_basic_auth(basic("alice", PASSWORD))
        assert not config.check_basic_auth(basic("alice", b"wrong"))
        assert not config.check_basic_auth(basic("mallory", b"guess"))
    assert calls == [PASSWORD, b"wrong", b"guess"]


def test_cache_is_bounded(alice_hash: str, monkeypatch: pytest.MonkeyPatch) -> None:
    config = WebConfig(basic_auth_users={"alice": alice_hash.encode()})
    calls = counting_checkpw(monkeypatch)
    guesses = [b"guess%d" % i for i in range(basic_auth.CACHE_SIZE + 1)]
    for guess in guesses:
        config.check_basic_auth(basic("alice", guess))
    config.check_basic_auth(basic("alice", guesses[-1]))  # newest: still cached
    config.check_basic_auth(basic("alice", guesses[0]))  # oldest: evicted, checked again
    assert calls == [*guesses, guesses[0]]


def test_a_cached_verdict_does_not_wait_for_a_running_bcrypt(alice_hash: str) -> None:
    config = WebConfig(basic_auth_users={"alice": alice_hash.encode()})
    assert config.check_basic_auth(basic("alice", PASSWORD))
    verdicts: list[bool] = []
    with config._auth.cache.bcrypt_lock:  # as if a flood of new guesses kept bcrypt busy
        scrape = threading.Thread(
            target=lambda: verdicts.append(config.check_basic_auth(basic("alice", PASSWORD)))
        )
        scrape.start()
        scrape.join(timeout=30)
    assert verdicts == [True]
