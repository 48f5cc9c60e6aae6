"""Reading SDK requests and responses without trusting them: typed reads that never raise.

The SDKs build response objects without validation and take arguments of any type, so every
value agentwatch records is read through these: a value of the wrong type reads as None and is
left out, never recorded wrongly, never an exception in the caller's call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_SENTINELS = frozenset({"NotGiven", "Omit"})
_DEFAULT_PORTS = {"https": 443, "http": 80}


def given(value: Any) -> bool:
    """False for None and for the SDKs' not-given sentinels (`NotGiven`, `Omit`)."""
    return value is not None and type(value).__name__ not in _SENTINELS


def field(obj: Any, key: str) -> Any:
    """`obj[key]` of a mapping or `obj.key` of an SDK model; None when absent."""
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def as_int(value: Any) -> int | None:
    """`value` if it is an int (not a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_float(value: Any) -> float | None:
    """`value` as a float if it is a number (not a bool), else None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def as_str(value: Any) -> str | None:
    """`value` if it is a str, else None."""
    return value if isinstance(value, str) else None


def client_of(instance: Any) -> Any:
    """The SDK client behind a resource object (`client.chat.completions` has `_client`)."""
    return getattr(instance, "_client", None)


def server(client: Any) -> tuple[str | None, int | None]:
    """(`server.address`, `server.port`) from the client's `base_url`; the scheme's port."""
    url = getattr(client, "base_url", None)
    host = as_str(getattr(url, "host", None))
    if not host:
        return None, None
    port = getattr(url, "port", None) or _DEFAULT_PORTS.get(getattr(url, "scheme", ""))
    return host, as_int(port)
