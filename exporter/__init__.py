"""The GPU and token exporter: NVML per GPU and per process, leak analysis, `/metrics`."""
