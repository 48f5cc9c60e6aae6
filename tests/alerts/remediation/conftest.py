"""Fixtures: fake Kubernetes and Docker APIs, and service-account credentials on disk."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentwatch.alerts.remediation.k8s import KubeApi, KubeConfig, KubernetesTarget
from tests.alerts.remediation.fakes import KUBE_TOKEN, FakeDocker, FakeKube, fake_docker, fake_kube

# 2024-05-01T10:30:00Z: the restart time every Kubernetes test patches in.
NOW = 1714559400.0


@pytest.fixture
def credentials(tmp_path: Path) -> Path:
    """A service-account directory: a token, no CA (the fake speaks plain HTTP)."""
    directory = tmp_path / "serviceaccount"
    directory.mkdir()
    (directory / "token").write_text(KUBE_TOKEN + "\n")
    return directory


@pytest.fixture
def kube() -> Iterator[FakeKube]:
    with fake_kube() as fake:
        yield fake


@pytest.fixture
def kube_target(kube: FakeKube, credentials: Path) -> KubernetesTarget:
    config = KubeConfig(kube.url, credentials / "token", None, timeout=5.0)
    return KubernetesTarget(KubeApi(config), now=lambda: NOW)


@pytest.fixture
def docker() -> Iterator[FakeDocker]:
    # A short directory: a unix socket path must fit in 108 bytes, and tmp_path may not.
    directory = Path(tempfile.mkdtemp(prefix="aw-docker-", dir="/tmp"))
    try:
        with fake_docker(directory) as fake:
            yield fake
    finally:
        shutil.rmtree(directory, ignore_errors=True)
