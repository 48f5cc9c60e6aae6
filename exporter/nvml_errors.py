"""NVML return codes as `error` label values, and how the backend reacts to each.

The codes are part of NVML's C ABI (`nvmlReturn_t` in nvml.h), so they are spelled here as plain
integers: this module needs no `pynvml` import and the labels stay stable across its versions.
"""

from __future__ import annotations

NOT_SUPPORTED = 3
NO_PERMISSION = 4
NOT_FOUND = 6
FUNCTION_NOT_FOUND = 13
TIMEOUT = 10
GPU_IS_LOST = 15
ARGUMENT_VERSION_MISMATCH = 25
UNKNOWN = 999

_LABELS: dict[int, str] = {
    1: "uninitialized",
    2: "invalid_argument",
    NOT_SUPPORTED: "not_supported",
    NO_PERMISSION: "no_permission",
    5: "already_initialized",
    NOT_FOUND: "not_found",
    7: "insufficient_size",
    8: "insufficient_power",
    9: "driver_not_loaded",
    TIMEOUT: "timeout",
    11: "irq_issue",
    12: "library_not_found",
    FUNCTION_NOT_FOUND: "function_not_found",
    14: "corrupted_inforom",
    GPU_IS_LOST: "gpu_is_lost",
    16: "reset_required",
    17: "operating_system",
    18: "lib_rm_version_mismatch",
    19: "in_use",
    20: "memory",
    21: "no_data",
    22: "vgpu_ecc_not_supported",
    23: "insufficient_resources",
    24: "freq_not_supported",
    ARGUMENT_VERSION_MISMATCH: "argument_version_mismatch",
    26: "deprecated",
    27: "not_ready",
    28: "gpu_not_found",
    29: "invalid_state",
    30: "reset_type_not_supported",
    UNKNOWN: "unknown",
}

LIFECYCLE: frozenset[int] = frozenset({1, 9, 12, GPU_IS_LOST, 16, 18})
"""Codes after which the device (or the whole library) must be re-initialised: uninitialized,
driver_not_loaded, library_not_found, gpu_is_lost, reset_required, lib_rm_version_mismatch."""

CACHED: frozenset[int] = frozenset({NOT_SUPPORTED, FUNCTION_NOT_FOUND, ARGUMENT_VERSION_MISMATCH})
"""Codes that will not change before a re-init, so the call is not made again until then."""

HANDLE_CALLS: frozenset[str] = frozenset(
    {"nvmlDeviceGetHandleByIndex", "nvmlDeviceGetMigDeviceHandleByIndex"}
)
"""Calls on which UNKNOWN also means the device is gone (no handle, nothing else to read)."""

GPU_HANDLE_CALL = "nvmlDeviceGetHandleByIndex"
"""Without a GPU's handle nothing else can be read: any error there marks the GPU down, to be
re-initialised (backing off), never skipped as unsupported."""


def error_label(code: int) -> str:
    """Return the `error` label of an NVML return code: `not_supported`, ..., or `code_N`."""
    return _LABELS.get(code, f"code_{code}")


def is_lifecycle(call: str, code: int) -> bool:
    """Tell whether `code` returned by `call` means the device or the library is gone."""
    if call == GPU_HANDLE_CALL:
        return True
    return code in LIFECYCLE or (code == UNKNOWN and call in HANDLE_CALLS)
