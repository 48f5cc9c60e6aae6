"""The audit log: one JSON object per line for every decision, acted on or not.

A line is written, and flushed, before the HTTP answer goes back, so an answered notification
is always in the log. Fields: `ts` (RFC 3339, UTC), `decision`, `reason`, `dry_run`,
`receiver`, `group_key`, `peer`, `alert` (name, status, fingerprint, starts_at, labels) and
`target` (kind, namespace, name; null when none was found).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from agentwatch.errors import UsageError


class AuditLog:
    """Append JSON lines to a file (opened once, in append mode) or to stdout."""

    def __init__(self, stream: TextIO, *, owned: bool = False) -> None:
        self._stream = stream
        self._owned = owned
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: str) -> AuditLog:
        """`-` is stdout; anything else a file, created if needed; `UsageError` if unusable."""
        if path == "-":
            return cls(sys.stdout)
        try:
            stream = Path(path).open("a", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--audit-log: cannot open {path}: {exc.strerror}") from None
        return cls(stream, owned=True)

    def write(self, entry: dict[str, Any]) -> None:
        """Write one line, with a `ts` field first."""
        now = time.time()
        stamp = (
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
        )
        line = json.dumps({"ts": stamp, **entry}, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()

    def close(self) -> None:
        """Close the file (never stdout)."""
        if self._owned:
            self._stream.close()
