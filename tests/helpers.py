"""Helpers shared by the tests: external binaries and throwaway TLS certificates."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REQUIRE_BINARIES = "AGENTWATCH_REQUIRE_BINARIES"


def require_binary(name: str) -> str:
    """The path of `name` on PATH; skip the test if absent, or fail where CI requires it."""
    path = shutil.which(name)
    if path is not None:
        return path
    reason = f"{name!r} is not on PATH"
    if os.environ.get(REQUIRE_BINARIES) == "1":
        pytest.fail(f"{reason}, and {REQUIRE_BINARIES}=1 forbids skipping")
    pytest.skip(f"{reason} (install it, or set {REQUIRE_BINARIES}=1 to make this a failure)")


def make_cert(directory: Path, name: str, common_name: str = "localhost") -> tuple[Path, Path]:
    """A self-signed P-256 certificate valid for localhost and 127.0.0.1: (cert, key) paths."""
    openssl = require_binary("openssl")
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-days", "2", "-subj", f"/CN={common_name}"]
        + ["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key
