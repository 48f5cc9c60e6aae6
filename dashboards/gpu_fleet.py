"""GPU fleet: per host and GPU, memory and when it runs out, compute, power, health, processes.

Series are the exporter's (the alert rules' `exporter_selector`); thresholds are the alert
rules' `Config`, so a line on a panel is where an alert fires.
"""

from __future__ import annotations

from typing import Any

from agentwatch import names
from agentwatch.alerts import rules
from agentwatch.dashboards.common import (
    RATE,
    Layout,
    banner_layout,
    dashboard,
    matches,
    metric,
    query_variable,
    select,
    stat,
    state_timeline,
    steps,
    table,
    target,
    timeseries,
)

KEY = "gpu_fleet"
GPU_LEGEND = "{{instance}} GPU {{gpu}}"
PROCESS_LEGEND = "{{process}} ({{namespace}}/{{pod}}) GPU {{gpu}} {{instance}}"


def build(config: rules.Config | None = None) -> Any:
    """The GPU fleet dashboard."""
    c = config or rules.Config()
    on = (c.exporter_selector, 'instance=~"$instance"', 'gpu=~"$gpu"')

    def m(spec: names.MetricSpec, *extra: str) -> str:
        return select(metric(spec), *on, *extra)

    def recorded(name: str) -> str:
        return select(name, 'instance=~"$instance"', 'gpu=~"$gpu"')

    layout = banner_layout()
    overview(layout, c, m)
    memory(layout, c, m, recorded)
    compute(layout, c, m)
    health(layout, c, m)
    processes(layout, c, m)
    variables = [
        query_variable(
            "instance", "Host", select(metric(names.GPU_INFO), c.exporter_selector), "instance"
        ),
        query_variable(
            "gpu",
            "GPU",
            select(metric(names.GPU_INFO), c.exporter_selector, 'instance=~"$instance"'),
            "gpu",
        ),
    ]
    return dashboard(
        KEY,
        "Every GPU the agentwatch exporters watch: memory and when it runs out, utilisation,"
        " temperature, power, throttling, XID and ECC errors, and the processes holding VRAM.",
        layout,
        variables,
    )


def overview(layout: Layout, c: rules.Config, m: Any) -> None:
    """Identity and liveness of each GPU."""
    info = f"{m(names.GPU_INFO)} * on (instance, uuid) group_left () {m(names.GPU_UP)}"
    layout.add(
        table(
            "GPUs",
            "One row per GPU: model, driver, PCI bus, MIG mode, whether the data is simulated,"
            " and whether the GPU answers (1) or is lost (0, alert AgentwatchGpuLost).",
            [target(info, instant=True, table=True)],
            "none",
            columns={
                "instance": "Host",
                "gpu": "GPU",
                "name": "Model",
                "uuid": "UUID",
                "driver_version": "Driver",
                "pci_bus_id": "PCI bus",
                "mig_mode": "MIG",
                "simulated": "Simulated",
                "Value": "Up",
            },
            thresholds=steps("red", (1, "green")),
        ),
        w=24,
        h=6,
    )


def memory(layout: Layout, c: rules.Config, m: Any, recorded: Any) -> None:
    """Memory used and free, its ratio against the alert thresholds, the exhaustion forecast."""
    layout.row("Memory")
    layout.add(
        timeseries(
            "Memory used and free",
            "VRAM in use and free for allocation per GPU (NVML memory info; the driver's"
            " reserved memory is in neither).",
            [
                target(m(names.GPU_MEMORY_USED), f"used {GPU_LEGEND}"),
                target(m(names.GPU_MEMORY_FREE), f"free {GPU_LEGEND}"),
            ],
            "bytes",
            minimum=0,
        )
    )
    layout.add(
        timeseries(
            "Memory used (share of total)",
            f"Used over total memory (recording rule {rules.USED_RATIO}). Orange from"
            f" {c.memory_pressure_ratio:.0%}, where a service counts as under memory pressure;"
            f" red from {c.memory_full_ratio:.0%}, where a node with an 8 GB GPU falls over.",
            [target(recorded(rules.USED_RATIO), GPU_LEGEND)],
            "percentunit",
            thresholds=steps(
                "green", (c.memory_pressure_ratio, "orange"), (c.memory_full_ratio, "red")
            ),
            minimum=0,
            maximum=1,
        )
    )
    layout.add(
        timeseries(
            "Free memory forecast",
            f"Free memory now ({rules.FREE_RATIO}) and as predict_linear over"
            f" {c.critical_trend_window} expects it in {rules.duration(c.critical_horizon_seconds)}"
            f" (AgentwatchGpuMemoryFillingUp, critical: under {c.critical_free_ratio:.0%} free"
            f" and predicted under {c.free_at_full_ratio:.0%}; warning: under"
            f" {c.warning_free_ratio:.0%} free).",
            [
                target(recorded(rules.FREE_RATIO), f"free now {GPU_LEGEND}"),
                target(
                    f"clamp_min(predict_linear({m(names.GPU_MEMORY_FREE)}"
                    f"[{c.critical_trend_window}], {c.critical_horizon_seconds})"
                    f" / {m(names.GPU_MEMORY_TOTAL)}, 0)",
                    f"free in {rules.duration(c.critical_horizon_seconds)} {GPU_LEGEND}",
                ),
            ],
            "percentunit",
            thresholds=steps(
                "red",
                (c.free_at_full_ratio, "orange"),
                (c.critical_free_ratio, "yellow"),
                (c.warning_free_ratio, "green"),
            ),
            minimum=0,
            maximum=1,
        )
    )
    layout.add(
        timeseries(
            "Time until memory is exhausted",
            "The exporter's leak analysis: predicted seconds until the GPU is full, present"
            " only while its memory floor grows like a leak. Red under"
            f" {rules.duration(c.exhaustion_seconds)} (AgentwatchGpuMemoryExhaustionImminent).",
            [target(m(names.GPU_MEMORY_EXHAUSTION), GPU_LEGEND)],
            "s",
            thresholds=steps("red", (c.exhaustion_seconds, "orange"), (6 * 3600, "green")),
            minimum=0,
        )
    )


def compute(layout: Layout, c: rules.Config, m: Any) -> None:
    """Utilisation, temperature, power and energy."""
    layout.row("Compute and power")
    layout.add(
        timeseries(
            "Utilisation",
            "Share of the sample period a kernel ran (SM) and device memory was read or written"
            " (memory bandwidth).",
            [
                target(m(names.GPU_UTILIZATION), f"SM {GPU_LEGEND}"),
                target(m(names.GPU_MEMORY_BANDWIDTH_UTILIZATION), f"memory {GPU_LEGEND}"),
            ],
            "percentunit",
            minimum=0,
            maximum=1,
        ),
        w=8,
    )
    layout.add(
        timeseries(
            "Temperature",
            "GPU core temperature. Thermal throttling (AgentwatchGpuThermalThrottling) is on"
            " the throttling panel: the slowdown temperature differs between models.",
            [target(m(names.GPU_TEMPERATURE), GPU_LEGEND)],
            "celsius",
        ),
        w=8,
    )
    layout.add(
        timeseries(
            "Power",
            "Power drawn and the enforced power limit.",
            [
                target(m(names.GPU_POWER), f"draw {GPU_LEGEND}"),
                target(m(names.GPU_POWER_LIMIT), f"limit {GPU_LEGEND}"),
            ],
            "watt",
            minimum=0,
        ),
        w=8,
    )
    layout.add(
        stat(
            "Energy over the time range",
            "Energy each GPU consumed over the dashboard's time range (increase of the driver's"
            " energy counter).",
            [target(f"increase({m(names.GPU_ENERGY)}[$__range])", GPU_LEGEND, instant=True)],
            "joule",
        ),
        w=8,
        h=6,
    )
    layout.add(
        timeseries(
            "Energy rate",
            "Average power from the energy counter (joules per second): unlike the sampled"
            " power, it misses no spike between samples.",
            [target(f"rate({m(names.GPU_ENERGY)}[{RATE}])", GPU_LEGEND)],
            "watt",
            minimum=0,
        ),
        w=16,
        h=6,
    )


def health(layout: Layout, c: rules.Config, m: Any) -> None:
    """Throttling, XID and ECC events."""
    layout.row("Health: throttling, XID and ECC errors")
    reasons = "|".join((*c.thermal_reasons, *c.power_reasons))
    layout.add(
        timeseries(
            "Throttling (share of time)",
            "Share of the time each GPU's clocks were held down, by reason (thermal:"
            f" {', '.join(c.thermal_reasons)}; power: {', '.join(c.power_reasons)}); only"
            " throttled GPUs are drawn. Power throttling over 50 % for 15 minutes is"
            " AgentwatchGpuPowerThrottling; thermal throttling for 10 minutes"
            " AgentwatchGpuThermalThrottling.",
            [
                target(
                    f"avg_over_time({m(names.GPU_THROTTLED, matches('reason', reasons))}[{RATE}])"
                    " > 0",
                    f"{{{{reason}}}} {GPU_LEGEND}",
                )
            ],
            "percentunit",
            thresholds=steps("green", (0.5, "red")),
            minimum=0,
            maximum=1,
        ),
        w=12,
    )
    layout.add(
        state_timeline(
            "Throttle reasons",
            "Each reason NVML reports a GPU's clocks held down for (including idle and"
            " application clock settings), while it lasts.",
            [
                target(
                    f"max by (instance, gpu, reason) ({m(names.GPU_THROTTLED)}) > 0",
                    f"{{{{reason}}}} {GPU_LEGEND}",
                )
            ],
            "none",
            thresholds=steps("green", (1, "orange")),
        ),
        w=12,
    )
    critical = "|".join(str(x) for x in c.xid_critical)
    warning = "|".join(str(x) for x in c.xid_warning)
    layout.add(
        timeseries(
            "XID errors",
            "XID error events per GPU and code. Codes that need the GPU drained and reset"
            f" ({critical.replace('|', ', ')}) page (AgentwatchGpuXidCritical); codes that can"
            f" precede a failure ({warning.replace('|', ', ')}) warn; application faults do"
            " not alert.",
            [
                target(
                    f"sum by (instance, gpu, xid) (increase({m(names.GPU_XID_ERRORS)}[{RATE}]))"
                    " > 0",
                    f"XID {{{{xid}}}} {GPU_LEGEND}",
                )
            ],
            "short",
            bars=True,
        ),
        w=12,
    )
    layout.add(
        table(
            "Last XID per GPU and code",
            "How long ago each GPU last reported each XID code. Red: a critical code within"
            f" {rules.duration(c.xid_recent_seconds)}, the window of the XID alerts.",
            [
                target(f"time() - {m(names.GPU_XID_LAST)}", instant=True, table=True),
                target(
                    f"{m(names.GPU_XID_LAST, matches('xid', critical))} * 0 + 2"
                    f" or {m(names.GPU_XID_LAST, matches('xid', warning))} * 0 + 1"
                    f" or {m(names.GPU_XID_LAST)} * 0",
                    instant=True,
                    table=True,
                ),
            ],
            "s",
            columns={
                "instance": "Host",
                "gpu": "GPU",
                "xid": "XID",
                "Value #A": "Last seen (ago)",
                "Value #B": "Class",
            },
            units={"Class": "none"},
            sort_by="Class",
        ),
        w=12,
    )
    layout.add(
        timeseries(
            "ECC errors",
            "ECC memory errors per GPU and type (volatile counters). Any uncorrected error is"
            " critical (AgentwatchGpuEccUncorrectable); a GPU without ECC has no series.",
            [
                target(
                    f"sum by (instance, gpu, type) (increase({m(names.GPU_ECC_ERRORS)}[{RATE}]))"
                    " > 0",
                    f"{{{{type}}}} {GPU_LEGEND}",
                )
            ],
            "short",
            thresholds=steps("green", (1, "red")),
            bars=True,
        ),
        w=24,
    )


def processes(layout: Layout, c: rules.Config, m: Any) -> None:
    """Processes by VRAM, their pods and growth, leak suspects first."""
    layout.row("Processes")
    layout.add(
        table(
            "Processes by VRAM, leak suspects first",
            "Every process holding GPU memory with its container and pod, and the robust slope"
            " of its VRAM floor: above 0 it grows like a leak (AgentwatchGpuProcessMemoryLeak)."
            " Sorted by growth, so leak suspects come first.",
            [
                target(m(names.GPU_PROCESS_MEMORY_USED), instant=True, table=True),
                target(m(names.GPU_PROCESS_MEMORY_GROWTH), instant=True, table=True),
            ],
            "bytes",
            columns={
                "instance": "Host",
                "gpu": "GPU",
                "pid": "PID",
                "process": "Process",
                "namespace": "Namespace",
                "pod": "Pod",
                "container": "Container",
                "Value #A": "VRAM",
                "Value #B": "Growth",
            },
            units={"VRAM": "bytes", "Growth": "Bps"},
            sort_by="Growth",
        ),
        w=24,
        h=10,
    )
    layout.add(
        timeseries(
            "VRAM per process (top 10)",
            "GPU memory of the ten largest processes; series of exited processes end.",
            [target(f"topk(10, {m(names.GPU_PROCESS_MEMORY_USED)})", PROCESS_LEGEND)],
            "bytes",
            minimum=0,
        )
    )
    layout.add(
        timeseries(
            "Leak suspects: VRAM growth",
            "Processes whose VRAM floor grows like a leak (the exporter's robust slope over its"
            " analysis window); only growing processes are drawn. Red: fast enough to fill an"
            f" 8 GB GPU within minutes ({c.memory_leak_fast_bytes_per_second / 2**20:g} MiB/s).",
            [target(f"{m(names.GPU_PROCESS_MEMORY_GROWTH)} > 0", PROCESS_LEGEND)],
            "Bps",
            thresholds=steps("orange", (float(c.memory_leak_fast_bytes_per_second), "red")),
            minimum=0,
        )
    )
