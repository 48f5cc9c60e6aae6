"""Typed reads of SDK values: the wrong type reads as None, never raises."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx2
import openai
import pytest

from agentwatch.instrumentation.values import (
    as_float,
    as_int,
    as_str,
    client_of,
    field,
    given,
    server,
)


def test_the_sdks_not_given_sentinels_are_not_given() -> None:
    assert not given(None) and not given(openai.NOT_GIVEN) and not given(openai.omit)
    assert given(0) and given("") and given(False)


@pytest.mark.parametrize(
    ("value", "integer", "number", "text"),
    [(3, 3, 3.0, None), (True, None, None, None), (2.5, None, 2.5, None), ("7", None, None, "7")],
)
def test_typed_reads(
    value: Any, integer: int | None, number: float | None, text: str | None
) -> None:
    assert (as_int(value), as_float(value), as_str(value)) == (integer, number, text)


def test_fields_of_mappings_and_models() -> None:
    assert field({"a": 1}, "a") == 1 and field({"a": 1}, "b") is None
    assert field(SimpleNamespace(a=2), "a") == 2 and field(object(), "a") is None


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://api.openai.com/v1", ("api.openai.com", 443)),
        ("http://localhost:8000/v1", ("localhost", 8000)),
        ("http://gateway.internal/v1", ("gateway.internal", 80)),
    ],
)
def test_server_address_and_port_from_a_real_clients_base_url(
    base_url: str, expected: tuple[str, int]
) -> None:
    client = openai.OpenAI(api_key="k", base_url=base_url, http_client=httpx2.Client())
    assert client_of(client.chat.completions) is client
    assert server(client) == expected
    assert server(object()) == (None, None)
