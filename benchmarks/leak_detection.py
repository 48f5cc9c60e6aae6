"""Detection quality of the leak analysis over many seeds: false flags, misses and delays.

For each workload family it drives `LeakAnalyzer` one sample a second, as the exporter does at
`--interval 1`, and reports how many seeds were ever flagged (must be 0 for the non-leaks), how
long a leak took to be flagged after it started (targets: 10 s for +180 MB per inference at one
inference a second, 300 s for +180 MB a minute), and the share of cycles after the first flag
in which the leak was not reported (how much an alert's `for:` must tolerate).

    python benchmarks/leak_detection.py [--seeds 200] [--json out.json]
"""

from __future__ import annotations

import argparse
import bisect
import json
import random
import statistics
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass

from agentwatch.exporter.leak import LeakAnalyzer
from agentwatch.exporter.sim.workloads import GIB, MIB, AllocatorWarmup, Sawtooth, _jitter

Memory = Callable[[float], int | None]
LEAK_START = 120.0


@dataclass
class Row:
    family: str
    seeds: int
    flagged: int
    median_delay_s: float | None = None
    max_delay_s: float | None = None
    unflagged_share: float | None = None
    target: str = ""
    ok: bool = True


def run(memory: Memory, capacity: int, seconds: int) -> list[tuple[float, bool]]:
    """(time, flagged) for every cycle the process was alive."""
    analyzer = LeakAnalyzer()
    out = []
    for step in range(seconds):
        t = float(step)
        used = memory(t)
        if used is None:
            continue
        verdicts = analyzer.update(t, [("gpu", used, capacity - used)], [("gpu", 1, used)])
        out.append((t, bool(verdicts.process_growth.get(("gpu", 1)))))
    return out


def leak(seed: int, per_inference: int, gap: float, poisson: bool, capacity: int) -> Memory:
    rng = random.Random(seed)
    times, t = [], LEAK_START
    while t < 4000:
        t += rng.expovariate(1 / gap) if poisson else gap
        times.append(t)

    def memory(x: float) -> int | None:
        used = 3 * GIB + per_inference * bisect.bisect_right(times, x)
        used += int(64 * MIB * _jitter(seed, int(x * 2)))
        return used if used < capacity - 512 * MIB else None  # out of memory: the process dies

    return memory


def non_leak(family: str, seeds: int, make: Callable[[int], Memory], capacity: int) -> Row:
    flagged = sum(any(f for _t, f in run(make(s), capacity, 900)) for s in range(seeds))
    return Row(family, seeds, flagged, target="never flagged", ok=flagged == 0)


def leak_row(
    family: str,
    seeds: int,
    make: Callable[[int], Memory],
    capacity: int,
    seconds: int,
    target_s: float,
) -> Row:
    delays, unflagged, missed = [], [], 0
    for seed in range(seeds):
        cycles = run(make(seed), capacity, seconds)
        first = next((t for t, f in cycles if f), None)
        if first is None:
            missed += 1
            continue
        delays.append(first - LEAK_START)
        after = [f for t, f in cycles if t >= first]
        unflagged.append(1 - sum(after) / len(after))
    return Row(
        family,
        seeds,
        seeds - missed,
        statistics.median(delays) if delays else None,
        max(delays) if delays else None,
        round(statistics.mean(unflagged), 3) if unflagged else None,
        f"flagged within {target_s:g} s",
        missed == 0 and max(delays) <= target_s,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args(argv)
    n = args.seeds
    small, large = 8 * GIB, 80 * GIB
    rows = [
        non_leak(
            "allocator warm-up, +6 GiB",
            n,
            lambda s: AllocatorWarmup("a", 20 * GIB, 6 * GIB, seed=s, start=1.0).memory,
            large,
        ),
        non_leak(
            "allocator warm-up, +24 GiB",
            n,
            lambda s: AllocatorWarmup("a", 20 * GIB, 24 * GIB, seed=s, start=1.0).memory,
            large,
        ),
        non_leak(
            "sawtooth, 8 GiB floor, 12 GiB batches",
            n,
            lambda s: Sawtooth("b", 8 * GIB, 12 * GIB, seed=s, start=3.0).memory,
            40 * GIB,
        ),
        leak_row(
            "fast leak, 180 MiB/inference at 1/s",
            n,
            lambda s: leak(s, 180 * MIB, 1.0, False, small),
            small,
            200,
            10,
        ),
        leak_row(
            "fast leak, Poisson arrivals",
            n,
            lambda s: leak(s, 180 * MIB, 1.0, True, small),
            small,
            200,
            30,
        ),
        leak_row(
            "slow leak, 15 MiB every 5 s",
            n,
            lambda s: leak(s, 15 * MIB, 5.0, False, large),
            large,
            900,
            300,
        ),
        leak_row(
            "slow leak, Poisson arrivals",
            n,
            lambda s: leak(s, 15 * MIB, 5.0, True, large),
            large,
            900,
            300,
        ),
    ]
    header = (
        f"{'family':40} {'seeds':>5} {'flagged':>7} {'median':>7} {'max':>6} {'gaps':>6}  target"
    )
    print(header)
    for r in rows:
        fmt = lambda v: "-" if v is None else f"{v:g}"  # noqa: E731
        print(
            f"{r.family:40} {r.seeds:5} {r.flagged:7} {fmt(r.median_delay_s):>7} "
            f"{fmt(r.max_delay_s):>6} {fmt(r.unflagged_share):>6}  {r.target}"
            f"{'' if r.ok else '  MISSED'}"
        )
    if args.json:
        with open(args.json, "w") as out:
            json.dump([asdict(r) for r in rows], out, indent=2)
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
