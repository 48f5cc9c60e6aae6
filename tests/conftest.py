"""Fixtures for every test."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _root_logging() -> Iterator[None]:
    """Undo `agentwatch.logs.configure()`, which a test running `main()` calls.

    It points the root logger at the `sys.stderr` of that moment, which under pytest is the
    test's capture file: closed afterwards, it would turn every later log line into a
    "Logging error" on another test's stderr.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
