"""Fixtures of the agent-signal tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.instrumentation.agent.harness import Harness, harness


@pytest.fixture
def rec() -> Iterator[Harness]:
    """Signals recording into in-memory providers, tenacity and pybreaker instrumented."""
    yield from harness()
