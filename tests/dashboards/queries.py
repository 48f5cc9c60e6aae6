"""The committed dashboards read back: their panels, every query, and variable substitution."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
JSON_DIR = REPO / "dashboards" / "json"
FILES = sorted(JSON_DIR.glob("*.json"))

RATE_INTERVAL = "15s"
"""What `$__rate_interval` stands for in the tests: 15 scrapes at the tests' 1 s interval."""


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows too, rows included."""
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


@dataclass(frozen=True)
class Query:
    """One PromQL expression of a dashboard, and where it comes from."""

    dashboard: str
    where: str
    expr: str
    instant: bool

    @property
    def id(self) -> str:
        return f"{self.dashboard}:{self.where}"


LABEL_VALUES = re.compile(r"label_values\((.+),\s*(\w+)\)\s*$", re.DOTALL)


def queries(path: Path) -> list[Query]:
    """Every panel target, annotation and variable query of a dashboard (as PromQL)."""
    board = load(path)
    name = path.stem
    out = []
    for panel in panels(board):
        for t in panel.get("targets", []):
            where = f"{panel['title']}/{t['refId']}"
            out.append(Query(name, where, t["expr"], bool(t.get("instant"))))
    for annotation in board["annotations"]["list"]:
        out.append(Query(name, f"annotation {annotation['name']}", annotation["expr"], False))
    for variable in board["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = LABEL_VALUES.match(variable["query"])
        assert match, f"{name}: variable {variable['name']} is no label_values() query"
        # label_values(series, label) lists the label's values of the matching series; the
        # series selector itself is the query that must have data.
        out.append(Query(name, f"variable {variable['name']}", match.group(1), True))
    return out


def all_queries() -> list[Query]:
    return [q for path in FILES for q in queries(path)]


def substitute(expr: str, range_seconds: int) -> str:
    """The expression as Grafana sends it with every variable at All (`.*`)."""
    expr = expr.replace("$__rate_interval", RATE_INTERVAL)
    expr = expr.replace("$__range", f"{range_seconds}s")
    expr = expr.replace("$__interval", "5s")
    return re.sub(r"\$\{?(\w+)\}?", ".*", expr)
