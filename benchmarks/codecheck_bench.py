"""check-code benchmark: time to check a 1,000-line Python file, against parsing and compiling it.

The file is generated (`source()`): a 50-line block of ordinary standard-library code, repeated
with fresh names, with two hallucinations per block (an attribute of a module, one of a
literal) so every check path runs. Every number comes with a baseline measured in the same run
(see README.md). Exits 0 unless `--check` is given and a target is missed.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_report import Row, exit_code, table  # noqa: E402

from agentwatch.instrumentation.codecheck import check_source

TARGET_MS = 500.0
HEADER = """import collections
import json
import os
import re
from dataclasses import dataclass, field
"""
BLOCK = """

@dataclass
class Item{i}:
    name: str
    tags: list = field(default_factory=list)

    def label(self, prefix="item"):
        return f"{{prefix}}:{{self.name}}".upper()


def load_{i}(path, *, strict=False):
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    cache = collections.OrderedDict()
    for key, value in sorted(data.items(), key=lambda kv: kv[0], reverse=True):
        cache[key] = Item{i}(name=str(value))
        cache.move_to_end(key, last=False)
    words = re.findall(r"\\w+", os.path.basename(path))
    counts = collections.Counter(words)
    return cache, counts.most_common(3), strict


def summarise_{i}(items):
    total = sum(len(item.tags) for item in items)
    names = [item.label(prefix="x") for item in items if item.name]
    joined = os.path.joinn(*names) if names else ""
    try:
        import ujson as fast
    except ImportError:
        fast = None
    if (n := len(names)) > 2:
        print(n, total, fast, sep=", ")
    return json.dumps({{"total": total, "joined": joined}}, indent=2)


class Report{i}:
    def __init__(self, rows):
        self.rows = rows

    def render(self):
        lines = ["|".join(map(str, row)) for row in self.rows]
        return "\\n".joinn(lines).strip()
"""


@dataclasses.dataclass(frozen=True)
class Counts:
    """How much one run measures."""

    lines: int
    repeats: int
    commands: int


FULL = Counts(lines=1000, repeats=30, commands=5)
QUICK = Counts(lines=1000, repeats=2, commands=1)


def source(lines: int) -> str:
    """At least `lines` lines of generated code, whole blocks."""
    blocks, count = [HEADER], HEADER.count("\n")
    while count < lines:
        block = BLOCK.format(i=len(blocks) - 1)
        blocks.append(block)
        count += block.count("\n")
    return "".join(blocks)


def parse_and_compile(text: str) -> None:
    """The baseline: what the interpreter itself does with the file before running it."""
    compile(ast.parse(text, "<bench>"), "<bench>", "exec")


def timings(fn: Callable[[], object], n: int) -> list[float]:
    """Wall seconds of each of `n` calls of `fn`."""
    out = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


RUNNER = """import argparse, sys
from agentwatch.instrumentation.codecheck import cli
parser = argparse.ArgumentParser()
cli.add_arguments(parser)
sys.exit(cli.run(parser.parse_args(sys.argv[1:])))
"""
BASELINE_RUNNER = """import ast, sys
text = open(sys.argv[1], encoding="utf-8").read()
compile(ast.parse(text, sys.argv[1]), sys.argv[1], "exec")
"""


def command_wall(path: Path, runner: str, n: int) -> float:
    """Median wall seconds of a fresh interpreter running `runner` on `path`."""
    walls = []
    for _ in range(n):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", runner, str(path)], capture_output=True, text=True
        )
        walls.append(time.perf_counter() - started)
        if done.returncode not in (0, 1):
            raise RuntimeError(f"the check failed: {done.stderr}")
    return statistics.median(walls)


def bench(counts: Counts) -> tuple[list[Row], int, int]:
    text = source(counts.lines)
    first = timings(lambda: check_source(text), 1)[0]  # imports the stdlib modules it names
    base_first = timings(lambda: parse_and_compile(text), 1)[0]
    found = len(check_source(text))
    ours = timings(lambda: check_source(text), counts.repeats)
    base = timings(lambda: parse_and_compile(text), counts.repeats)
    rows = [
        Row("check.first", first * 1e3, "ms", base_first * 1e3, TARGET_MS),
        Row("check.median", statistics.median(ours) * 1e3, "ms", statistics.median(base) * 1e3),
        Row("check.max", max(ours) * 1e3, "ms", max(base) * 1e3, TARGET_MS),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "generated.py"
        path.write_text(text, encoding="utf-8")
        wall = command_wall(path, RUNNER, counts.commands)
        base_wall = command_wall(path, BASELINE_RUNNER, counts.commands)
    rows.append(Row("command.wall", wall * 1e3, "ms", base_wall * 1e3, TARGET_MS))
    return rows, text.count("\n"), found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats, for the smoke test")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    counts = QUICK if args.quick else FULL
    rows, lines, found = bench(counts)
    print(f"agentwatch check-code benchmark: {lines} lines, {found} findings; {counts}")
    print(table(rows))
    if args.json:
        report = [dict(dataclasses.asdict(r), ratio=r.ratio, passed=r.passed) for r in rows]
        summary = {"counts": dataclasses.asdict(counts), "lines": lines, "findings": found}
        with open(args.json, "w") as out:
            json.dump({**summary, "rows": report}, out, indent=2)
    return exit_code(rows, args.check)


if __name__ == "__main__":
    sys.exit(main())
