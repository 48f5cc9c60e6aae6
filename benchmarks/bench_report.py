"""What every benchmark reports: rows of a value, its unit, a baseline and a target.

A benchmark builds `Row`s, prints `table(rows)`, writes `write_json(...)` when asked, and exits
with `exit_code(rows, check)`: 1 only when `--check` is given and a row missed its target.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from typing import Any


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of the report; `target` is an upper bound on `value`."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    target: float | None = None

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None

    @property
    def passed(self) -> bool | None:
        return None if self.target is None else self.value <= self.target


def table(rows: Sequence[Row]) -> str:
    """The report as aligned columns."""

    def num(value: float | None, spec: str = ".4g") -> str:
        return "" if value is None else format(value, spec)

    verdict = {None: "", True: "ok", False: "MISSED"}
    width = max([40, *(len(r.name) + 2 for r in rows)])
    lines = [
        f"{'metric':<{width}}{'value':>10} {'unit':<5}{'baseline':>10}{'ratio':>10}{'target':>7}"
    ]
    for r in rows:
        lines.append(
            f"{r.name:<{width}}{num(r.value):>10} {r.unit:<5}{num(r.baseline):>10}"
            f"{num(r.ratio, '.3g'):>10}{num(r.target):>7}  {verdict[r.passed]}"
        )
    return "\n".join(lines)


def write_json(path: str, rows: Sequence[Row], **extra: Any) -> None:
    """The rows (with their ratios and verdicts) and `extra` as a JSON report."""
    report = [dict(dataclasses.asdict(r), ratio=r.ratio, passed=r.passed) for r in rows]
    with open(path, "w") as out:
        json.dump({**extra, "rows": report}, out, indent=2)


def exit_code(rows: Iterable[Row], check: bool) -> int:
    """1 when `check` is asked for and a row missed its target, else 0."""
    return int(check and any(row.passed is False for row in rows))
