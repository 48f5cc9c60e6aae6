"""LLM prices and the cost of one call, from the shipped table and an optional user file.

Token contract, the GenAI semantic conventions': `input_tokens` counts every input token of
the call, cached ones included (`gen_ai.usage.input_tokens`); `cached_input_tokens`
(`gen_ai.usage.cache_read.input_tokens`) and `cache_creation_input_tokens`
(`gen_ai.usage.cache_creation.input_tokens`, of which `cache_creation_1h_input_tokens` were
1-hour writes) are parts of it, each billed at its own rate, the rest at the input rate.
`output_tokens` includes reasoning (thinking) tokens, billed as output.

- OpenAI: `usage.prompt_tokens` (Chat Completions) and `usage.input_tokens` (Responses)
  already include `cached_tokens` and, where the SDK reports them, `cache_write_tokens`; pass
  them unchanged.
- Azure OpenAI (`azure.ai.openai`) is not in the shipped table: a deployment's price depends
  on its type (global, data zone, regional, provisioned), which a call does not reveal. A
  user file can price it under the provider `azure.ai.openai`, by the response's model name.
- Anthropic: `usage.input_tokens` excludes `cache_read_input_tokens` and
  `cache_creation_input_tokens`; convert it with `anthropic_input_tokens`.

Model names resolve, per provider, by: the exact name; an entry's `aliases`; then the name
without one trailing snapshot suffix (`-YYYY-MM-DD`, `-YYYYMMDD` or `-latest`), exactly
again. Never by a loose prefix: `gpt-4o` does not price `gpt-4o-mini`, nor `claude-sonnet-4`
`claude-sonnet-4-5-20250929`. Azure deployment names do not resolve; pass the response model.

Long-context tiers: an entry's `long_context` rates apply to every token of a call whose
total input exceeds its threshold (Anthropic's rule). Tiers a table does not list are not
modelled. Batch, priority, regional and data-residency prices are not modelled either.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

ENV_PRICES_FILE = "AGENTWATCH_PRICES_FILE"
_RATE_KEYS = ("input", "output", "cached_input", "cache_write", "cache_write_1h")
_TOP_KEYS = frozenset({"currency", "providers"})
_ENTRY_KEYS = frozenset({*_RATE_KEYS, "long_context", "aliases", "source", "note"})
_LONG_KEYS = frozenset({*_RATE_KEYS, "threshold_input_tokens"})
# Anchored and stripped once, so only a dated (or `-latest`) name of an entry finds it.
_SNAPSHOT = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8}|latest)$")
_warned: set[str] = set()


@dataclass(frozen=True)
class Rates:
    """USD per million tokens for each kind of token."""

    input: float
    output: float
    cached_input: float
    cache_write: float
    cache_write_1h: float


@dataclass(frozen=True)
class ModelPrice:
    """One model's rates, with an optional long-context tier."""

    rates: Rates
    long_context: Rates | None = None
    long_context_threshold: int = 0
    aliases: tuple[str, ...] = ()
    source: str | None = None
    note: str | None = None

    def rates_for(self, input_tokens: int) -> Rates:
        """The rates that bill a call with `input_tokens` total input tokens."""
        if self.long_context is not None and input_tokens > self.long_context_threshold:
            return self.long_context
        return self.rates


def anthropic_input_tokens(
    input_tokens: int, cache_read_input_tokens: int = 0, cache_creation_input_tokens: int = 0
) -> int:
    """Anthropic's uncached `input_tokens` turned into the total input `cost` expects."""
    return input_tokens + cache_read_input_tokens + cache_creation_input_tokens


class PriceTable:
    """Per-provider model prices, and the USD cost of a call."""

    def __init__(self, prices: Mapping[str, Mapping[str, ModelPrice]]) -> None:
        self._prices = {
            p.lower(): {m.lower(): v for m, v in ms.items()} for p, ms in prices.items()
        }
        self._aliases = {
            p: {a: name for name, price in ms.items() for a in price.aliases}
            for p, ms in self._prices.items()
        }

    @classmethod
    def load(cls, user_file: str | Path | None = None) -> PriceTable:
        """The shipped table, overridden and extended by the user file; ValueError if bad."""
        prices = _shipped()
        path = user_file if user_file is not None else os.environ.get(ENV_PRICES_FILE) or None
        if path is not None:
            # A user entry replaces the shipped entry of the same name as a whole.
            for provider, models in _parse(_read(Path(path)), str(path)).items():
                prices.setdefault(provider, {}).update(models)
        return cls(prices)

    @classmethod
    def load_or_default(cls, user_file: str | Path | None = None) -> PriceTable:
        """Like `load`, but a bad user file is logged once and the shipped table returned."""
        try:
            return cls.load(user_file)
        except ValueError as exc:
            # Instrumentation must not break the user's program over a price file.
            message = f"{exc}; using the shipped prices only"
            if message not in _warned:
                _warned.add(message)
                log.warning("%s", message)
            return cls(_shipped())

    def items(self) -> Iterator[tuple[str, str, ModelPrice]]:
        """Every (provider, model, price) in the table."""
        for provider, models in self._prices.items():
            for model, price in models.items():
                yield provider, model, price

    def resolve(self, provider: str, model: str) -> str | None:
        """The table entry that prices `model` of `provider`, or None."""
        models = self._prices.get(provider.strip().lower())
        if models is None:
            return None
        aliases = self._aliases[provider.strip().lower()]
        name = model.strip().lower()
        for candidate in dict.fromkeys((name, _SNAPSHOT.sub("", name))):
            if candidate in models:
                return candidate
            if candidate in aliases:
                return aliases[candidate]
        return None

    def lookup(self, provider: str, model: str) -> ModelPrice | None:
        """The price of `model` of `provider`, or None when the table has none."""
        entry = self.resolve(provider, model)
        return None if entry is None else self._prices[provider.strip().lower()][entry]

    def cost(
        self,
        provider: str,
        model: str,
        input_tokens: int,
        output_tokens: int,
        cached_input_tokens: int = 0,
        cache_creation_input_tokens: int = 0,
        cache_creation_1h_input_tokens: int = 0,
    ) -> float | None:
        """USD cost of one call (token contract in the module docstring), or None if unknown."""
        price = self.lookup(provider, model)
        uncached = input_tokens - cached_input_tokens - cache_creation_input_tokens
        counts = (output_tokens, cached_input_tokens, cache_creation_1h_input_tokens, uncached)
        writes_5m = cache_creation_input_tokens - cache_creation_1h_input_tokens
        # Counts that contradict each other give no cost rather than a wrong one.
        if price is None or min(*counts, writes_5m) < 0:
            return None
        rates = price.rates_for(input_tokens)
        return (
            uncached * rates.input
            + cached_input_tokens * rates.cached_input
            + writes_5m * rates.cache_write
            + cache_creation_1h_input_tokens * rates.cache_write_1h
            + output_tokens * rates.output
        ) / 1_000_000


def _shipped() -> dict[str, dict[str, ModelPrice]]:
    text = resources.files("agentwatch.instrumentation").joinpath("prices.yaml").read_text("utf-8")
    return _parse(_yaml(text, "shipped prices.yaml"), "shipped prices.yaml")


def _read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the price file: {exc.strerror or exc}") from None
    return _yaml(text, str(path))


def _yaml(text: str, where: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ValueError(f"{where}: not valid YAML{at}: {problem}") from None


def _error(where: str, key: str, problem: str) -> ValueError:
    return ValueError(f"{where}: {key}: {problem}")


def _mapping(
    value: Any, where: str, key: str, allowed: frozenset[str] | None = None
) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        problem = f"must be a mapping with string keys, got {value!r:.60}"
        raise _error(where, key or "(top level)", problem)
    for name in value:
        if allowed is not None and name not in allowed:
            expected = ", ".join(sorted(allowed))
            raise _error(
                where, f"{key}.{name}" if key else name, f"unknown key (expected {expected})"
            )
    return value


def _parse(doc: Any, where: str) -> dict[str, dict[str, ModelPrice]]:
    top = _mapping(doc, where, "", _TOP_KEYS)
    if top.get("currency") != "USD":
        raise _error(where, "currency", f"must be USD, got {top.get('currency')!r}")
    prices: dict[str, dict[str, ModelPrice]] = {}
    for provider, models in _mapping(top.get("providers"), where, "providers").items():
        key = f"providers.{provider}"
        prices[provider.lower()] = {
            model.lower(): _entry(spec, where, f"{key}.{model}")
            for model, spec in _mapping(models, where, key).items()
        }
    return prices


def _entry(spec: Any, where: str, key: str) -> ModelPrice:
    spec = _mapping(spec, where, key, _ENTRY_KEYS)
    long_rates, threshold = None, 0
    if "long_context" in spec:
        long_key = f"{key}.long_context"
        long = _mapping(spec["long_context"], where, long_key, _LONG_KEYS)
        limit = long.get("threshold_input_tokens")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
            problem = f"must be a positive integer, got {limit!r}"
            raise _error(where, f"{long_key}.threshold_input_tokens", problem)
        threshold = limit
        long_rates = _rates(long, where, long_key)
    aliases = spec.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise _error(where, f"{key}.aliases", f"must be a list of model names, got {aliases!r}")
    for text_key in ("source", "note"):
        if not isinstance(spec.get(text_key, ""), str):
            raise _error(where, f"{key}.{text_key}", f"must be a string, got {spec[text_key]!r}")
    return ModelPrice(
        _rates(spec, where, key),
        long_rates,
        threshold,
        tuple(a.lower() for a in aliases),
        spec.get("source"),
        spec.get("note"),
    )


def _rates(spec: dict[str, Any], where: str, key: str) -> Rates:
    def price(name: str, default: float | None = None) -> float:
        value = spec.get(name, default)
        if value is None:
            raise _error(where, f"{key}.{name}", "is required")
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or value < 0:
            raise _error(where, f"{key}.{name}", f"must be a non-negative number, got {value!r}")
        return float(value)

    base = price("input")
    write = price("cache_write", base)
    return Rates(
        base, price("output"), price("cached_input", base), write, price("cache_write_1h", write)
    )
