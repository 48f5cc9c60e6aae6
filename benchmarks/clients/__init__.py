"""One module per instrumented client for the benchmark's per-client rows.

Each module exposes `plain_call() -> Callable[[], Any]` (the real SDK client on an in-memory
transport, one non-streaming chat call) and `INSTRUMENTOR` ("module:Class").
"""
