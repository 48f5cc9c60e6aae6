"""A `Snapshot` as the values of every exporter metric: the one source for `/metrics` and OTLP.

Both the Prometheus collector and the OTLP pusher expose exactly what `observations` yields, so
the two can never disagree about which series exist. A field that is `None` yields no series
(DESIGN.md: "An unsupported field is absent, never 0").
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from agentwatch import names
from agentwatch.exporter.model import ECC_TYPES, THROTTLE_REASONS, Snapshot
from agentwatch.names import MetricSpec

Sample = tuple[tuple[str, ...], float]
"""Label values in `MetricSpec.labels` order, and the value."""

_GPU_FIELDS: tuple[tuple[MetricSpec, str], ...] = (
    (names.GPU_MEMORY_USED, "memory_used_bytes"),
    (names.GPU_MEMORY_FREE, "memory_free_bytes"),
    (names.GPU_MEMORY_TOTAL, "memory_total_bytes"),
    (names.GPU_MEMORY_RESERVED, "memory_reserved_bytes"),
    (names.GPU_UTILIZATION, "utilization_ratio"),
    (names.GPU_MEMORY_BANDWIDTH_UTILIZATION, "memory_bandwidth_utilization_ratio"),
    (names.GPU_TEMPERATURE, "temperature_celsius"),
    (names.GPU_POWER, "power_watts"),
    (names.GPU_POWER_LIMIT, "power_limit_watts"),
    (names.GPU_ENERGY, "energy_joules"),
)
"""Optional `GpuSample` fields that map one to one onto a (gpu, uuid) series."""


def observations(snapshot: Snapshot) -> Iterator[tuple[MetricSpec, Sequence[Sample]]]:
    """Yield every spec of `names.EXPORTER_METRICS`, in order, with its samples (maybe none)."""
    out: dict[str, list[Sample]] = {spec.prom: [] for spec in names.EXPORTER_METRICS}
    info = out[names.GPU_INFO.prom]
    up = out[names.GPU_UP.prom]
    throttled = out[names.GPU_THROTTLED.prom]
    ecc = out[names.GPU_ECC_ERRORS.prom]
    fields = [(out[spec.prom], attr) for spec, attr in _GPU_FIELDS]
    simulated = "true" if snapshot.simulated else "false"
    index_of: dict[str, str] = {}

    for gpu in snapshot.gpus:
        ident = gpu.identity
        index_of[ident.uuid] = ident.index
        key = (ident.index, ident.uuid)
        info.append(
            (
                (
                    ident.index,
                    ident.uuid,
                    ident.name,
                    ident.driver_version,
                    ident.pci_bus_id,
                    ident.mig_mode,
                    simulated,
                ),
                1.0,
            )
        )
        up.append((key, 1.0 if gpu.up else 0.0))
        for samples, attr in fields:
            value = getattr(gpu, attr)
            if value is not None:
                samples.append((key, float(value)))
        if gpu.throttle_reasons is not None:
            reasons = gpu.throttle_reasons
            for reason in THROTTLE_REASONS:
                throttled.append(((*key, reason), 1.0 if reasons.get(reason) else 0.0))
        if gpu.ecc_errors is not None:
            # Only the known types: label values stay bounded whatever a backend reports.
            for ecc_type in ECC_TYPES:
                count = gpu.ecc_errors.get(ecc_type)
                if count is not None:
                    ecc.append(((*key, ecc_type), float(count)))

    xid_errors = out[names.GPU_XID_ERRORS.prom]
    xid_last = out[names.GPU_XID_LAST.prom]
    for (index, uuid, code), xid in snapshot.xid.items():
        xid_key = (index, uuid, str(code))
        xid_errors.append((xid_key, float(xid.count)))
        xid_last.append((xid_key, xid.last_timestamp))

    used = out[names.GPU_PROCESS_MEMORY_USED.prom]
    growth = out[names.GPU_PROCESS_MEMORY_GROWTH.prom]
    for proc in snapshot.processes:
        where = proc.attribution
        labels = (
            proc.gpu.index,
            proc.gpu.uuid,
            str(proc.pid),
            proc.name,
            where.container,
            where.pod,
            where.namespace,
        )
        if proc.used_bytes is not None:
            used.append((labels, float(proc.used_bytes)))
        if proc.growth_bytes_per_second is not None:
            growth.append((labels, proc.growth_bytes_per_second))

    exhaustion = out[names.GPU_MEMORY_EXHAUSTION.prom]
    for uuid, seconds in snapshot.exhaustion_seconds.items():
        gpu_index = index_of.get(uuid)
        # A prediction for a GPU that is not in the snapshot has no `gpu` label to carry.
        if gpu_index is not None:
            exhaustion.append(((gpu_index, uuid), seconds))

    healthy = snapshot.collect_success and not snapshot.stale
    out[names.EXPORTER_COLLECT_SUCCESS.prom].append(((), 1.0 if healthy else 0.0))
    out[names.EXPORTER_COLLECT_DURATION.prom].append(((), snapshot.collect_duration_seconds))
    if snapshot.last_success_timestamp is not None:
        out[names.EXPORTER_LAST_SUCCESS.prom].append(((), snapshot.last_success_timestamp))
    errors = out[names.EXPORTER_NVML_ERRORS.prom]
    for (call, error), count in snapshot.nvml_errors.items():
        errors.append(((call, error), float(count)))

    for spec in names.EXPORTER_METRICS:
        yield spec, out[spec.prom]
