"""The price table: costs computed by hand, snapshot resolution, user files and their errors."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from agentwatch.instrumentation.pricing import (
    ENV_PRICES_FILE,
    ModelPrice,
    PriceTable,
    Rates,
    anthropic_input_tokens,
)


@pytest.fixture(autouse=True)
def _no_user_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_PRICES_FILE, raising=False)


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return PriceTable.load()


def _flat(price: float) -> ModelPrice:
    return ModelPrice(Rates(price, price, price, price, price))


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "prices.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# Every expected value is worked out from prices.yaml: tokens x USD per million / 1e6.
@pytest.mark.parametrize(
    ("provider", "model", "usage", "expected"),
    [
        # 800 uncached x 0.15 + 200 cached x 0.075 + 500 out x 0.60
        ("openai", "gpt-4o-mini", (1000, 500, 200, 0), 435e-6),
        ("openai", "gpt-4o", (1_000_000, 1_000_000, 0, 0), 12.5),
        # 2000 x 2.00 + 8000 cached x 0.50 + 1000 out x 8.00
        ("openai", "gpt-4.1", (10_000, 1000, 8000, 0), 0.016),
        # the first GPT-4o snapshot keeps its own $5/$15, not gpt-4o's $2.50/$10
        ("openai", "gpt-4o-2024-05-13", (1000, 1000, 0, 0), 0.02),
        ("openai", "text-embedding-3-small", (1_000_000, 0, 0, 0), 0.02),
        # 100 uncached x 3 + 20000 read x 0.30 + 5000 written x 3.75 + 400 out x 15
        ("anthropic", "claude-sonnet-4-5", (25_100, 400, 20_000, 5000), 0.03105),
        ("anthropic", "claude-3-5-haiku", (2000, 1000, 1000, 0), (1000 * 0.8 + 80 + 4000) / 1e6),
    ],
    ids=[
        "openai-cached-part-of-prompt",
        "openai-one-million-each",
        "openai-gpt-4.1-cache-discount",
        "openai-old-snapshot-own-price",
        "openai-embedding-input-only",
        "anthropic-read-and-write",
        "anthropic-haiku-3.5-read",
    ],
)
def test_cost_matches_the_table_by_hand(
    table: PriceTable,
    provider: str,
    model: str,
    usage: tuple[int, int, int, int],
    expected: float,
) -> None:
    assert table.cost(provider, model, *usage) == pytest.approx(expected, rel=1e-12)


def test_anthropic_usage_is_converted_to_the_total_input_before_costing(table: PriceTable) -> None:
    # Anthropic's input_tokens (100) excludes the cache read (20000) and write (5000).
    total = anthropic_input_tokens(
        100, cache_read_input_tokens=20_000, cache_creation_input_tokens=5000
    )
    assert total == 25_100
    assert table.cost("anthropic", "claude-sonnet-4-5-20250929", total, 400, 20_000, 5000) == (
        pytest.approx(0.03105, rel=1e-12)
    )


def test_one_hour_cache_writes_bill_at_their_own_rate(table: PriceTable) -> None:
    # 6000 five-minute writes x 6.25 + 4000 one-hour writes x 10.00
    cost = table.cost("anthropic", "claude-opus-4-5", 10_000, 0, 0, 10_000, 4000)
    assert cost == pytest.approx(0.0775, rel=1e-12)


@pytest.mark.parametrize(
    ("input_tokens", "cache_read", "expected"),
    [
        (200_000, 0, (200_000 * 3 + 1000 * 15) / 1e6),
        (210_000, 60_000, (150_000 * 6 + 60_000 * 0.6 + 1000 * 22.5) / 1e6),
    ],
    ids=["at-threshold-base-rates", "above-threshold-every-token-long-rates"],
)
def test_long_context_tier_bills_every_token_above_the_threshold(
    table: PriceTable, input_tokens: int, cache_read: int, expected: float
) -> None:
    cost = table.cost("anthropic", "claude-sonnet-4", input_tokens, 1000, cache_read)
    assert cost == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("provider", "model", "entry"),
    [
        ("openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("openai", "gpt-4o-2024-08-06", "gpt-4o"),
        ("openai", "gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),
        ("openai", "gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),
        ("openai", "gpt-5-mini-2025-08-07", "gpt-5-mini"),
        ("openai", "o3-mini-2025-01-31", "o3-mini"),
        ("OpenAI", " GPT-4o ", "gpt-4o"),
        ("anthropic", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("anthropic", "claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("anthropic", "claude-opus-4-0", "claude-opus-4"),
        ("anthropic", "claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("anthropic", "claude-3-haiku-20240307", "claude-3-haiku"),
    ],
    ids=[
        "openai-dated-mini",
        "openai-dated-4o",
        "openai-snapshot-with-own-entry",
        "openai-dated-4.1-mini",
        "openai-dated-5-mini",
        "openai-dated-o3-mini",
        "case-and-space-insensitive",
        "anthropic-dated-sonnet-4.5",
        "anthropic-dated-sonnet-4",
        "anthropic-alias",
        "anthropic-latest",
        "anthropic-dated-haiku-3",
    ],
)
def test_snapshot_names_resolve_to_their_base_entry(
    table: PriceTable, provider: str, model: str, entry: str
) -> None:
    assert table.resolve(provider, model) == entry


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "gpt-4"),
        ("openai", "gpt-4o-mini-search-preview"),
        ("openai", "o3-pro"),
        ("openai", "chatgpt-4o-latest"),
        ("openai", "gpt-4o-mini-2024"),
        ("openai", "my-gpt4o-deployment"),
        ("anthropic", "gpt-4o"),
        ("anthropic", "anthropic.claude-sonnet-4-5-20250929-v1:0"),
        ("azure.ai.openai", "gpt-4o"),
        ("mistral_ai", "mistral-large-latest"),
    ],
    ids=[
        "base-of-a-family-not-listed",
        "variant-with-own-price",
        "pro-is-not-o3",
        "chatgpt-latest-is-another-model",
        "partial-date",
        "azure-deployment-name",
        "wrong-provider",
        "bedrock-model-id",
        "provider-not-in-table",
        "unknown-provider",
    ],
)
def test_unknown_models_get_no_cost(table: PriceTable, provider: str, model: str) -> None:
    assert table.resolve(provider, model) is None
    assert table.lookup(provider, model) is None
    assert table.cost(provider, model, 1000, 1000) is None


@pytest.mark.parametrize(
    ("entries", "model"),
    [
        (("gpt-4o",), "gpt-4o-mini"),
        (("gpt-4o",), "gpt-4o-mini-2024-07-18"),
        (("gpt-4",), "gpt-4o"),
        (("gpt-4.1",), "gpt-4.1-mini"),
        (("claude-sonnet-4",), "claude-sonnet-4-5"),
        (("claude-sonnet-4",), "claude-sonnet-4-5-20250929"),
    ],
    ids=[
        "4o-does-not-price-4o-mini",
        "4o-does-not-price-dated-4o-mini",
        "4-does-not-price-4o",
        "4.1-does-not-price-4.1-mini",
        "sonnet-4-does-not-price-4.5",
        "sonnet-4-does-not-price-dated-4.5",
    ],
)
def test_a_shorter_entry_never_prices_a_longer_name(entries: tuple[str, ...], model: str) -> None:
    table = PriceTable({"p": {name: _flat(1.0) for name in entries}})
    assert table.resolve("p", model) is None


@pytest.mark.parametrize(
    "usage",
    [
        (100, 10, 200, 0),
        (100, 10, 0, 200),
        (100, 10, 50, 60),
        (100, 10, 0, 10, 20),
        (100, -1, 0, 0),
    ],
    ids=[
        "cached-above-total",
        "writes-above-total",
        "read-plus-write-above-total",
        "one-hour-above-writes",
        "negative-output",
    ],
)
def test_counts_that_contradict_each_other_get_no_cost(
    table: PriceTable, usage: tuple[int, ...]
) -> None:
    assert table.cost("anthropic", "claude-sonnet-4-5", *usage) is None


USER_FILE = """\
currency: USD
providers:
  openai:
    gpt-4o:
      input: 2.0
      output: 8.0
      source: "negotiated, 2026-11-01"
  mistral_ai:
    mistral-large:
      input: 2.0
      output: 6.0
"""


def test_user_file_overrides_and_adds_models(tmp_path: Path) -> None:
    table = PriceTable.load(_write(tmp_path, USER_FILE))
    # the override replaces the whole entry: no cached rate given, so cached bills as input
    assert table.cost("openai", "gpt-4o-2024-08-06", 1000, 1000, 500) == pytest.approx(0.01)
    assert table.cost("mistral_ai", "mistral-large", 1_000_000, 1_000_000) == pytest.approx(8.0)
    # entries the user file does not name keep their shipped price
    assert table.cost("openai", "gpt-4o-mini", 1_000_000, 0) == pytest.approx(0.15)


def test_user_file_is_read_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_PRICES_FILE, str(_write(tmp_path, USER_FILE)))
    assert PriceTable.load().lookup("mistral_ai", "mistral-large") is not None
    # an explicit argument wins over the environment
    other = tmp_path / "other.yaml"
    other.write_text("currency: USD\nproviders: {}\n", encoding="utf-8")
    assert PriceTable.load(other).lookup("mistral_ai", "mistral-large") is None


ENTRY = "currency: USD\nproviders:\n  openai:\n    gpt-4o:\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("currency: USD\nproviders: [\n", "not valid YAML at line"),
        (ENTRY + "      input: -1\n      output: 1\n", "providers.openai.gpt-4o.input"),
        (
            ENTRY + "      input: 1\n      output: 1\n      inptu: 2\n",
            "providers.openai.gpt-4o.inptu",
        ),
        (ENTRY + "      input: cheap\n      output: 1\n", "providers.openai.gpt-4o.input"),
        (ENTRY + "      input: 1\n", "providers.openai.gpt-4o.output"),
        ("currency: EUR\nproviders: {}\n", "currency"),
        ("currency: USD\nproviders: {}\nmodels: {}\n", "models"),
        ("", "(top level)"),
        (
            ENTRY
            + "      input: 1\n      output: 1\n      long_context: {threshold_input_tokens: 0,"
            " input: 2, output: 2}\n",
            "providers.openai.gpt-4o.long_context.threshold_input_tokens",
        ),
        (ENTRY + "      input: 1\n      output: 1\n      aliases: gpt-4o-x\n", "gpt-4o.aliases"),
    ],
    ids=[
        "bad-yaml",
        "negative-price",
        "unknown-key",
        "wrong-type",
        "missing-price",
        "not-usd",
        "unknown-top-level-key",
        "empty-file",
        "bad-threshold",
        "aliases-not-a-list",
    ],
)
def test_malformed_user_file_names_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ValueError) as caught:
        PriceTable.load(path)
    text_of_error = str(caught.value)
    assert text_of_error.startswith(f"{path}: ")
    assert message in text_of_error
    assert "\n" not in text_of_error


def test_missing_user_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ValueError, match=re.escape(f"{path}: cannot read the price file")):
        PriceTable.load(path)


def test_load_or_default_logs_once_and_falls_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _write(tmp_path, ENTRY + "      input: -1\n      output: 1\n")
    with caplog.at_level(logging.WARNING, logger="agentwatch.instrumentation.pricing"):
        first = PriceTable.load_or_default(path)
        second = PriceTable.load_or_default(path)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(path) in warnings[0].getMessage()
    assert "providers.openai.gpt-4o.input" in warnings[0].getMessage()
    for fallback in (first, second):
        assert fallback.cost("openai", "gpt-4o", 1_000_000, 0) == pytest.approx(2.5)


DATE = re.compile(r"\b20\d{2}-\d{2}-\d{2}\b")


def test_shipped_table_validates_and_every_entry_is_sourced_and_dated(table: PriceTable) -> None:
    entries = list(table.items())
    assert {provider for provider, _, _ in entries} == {"openai", "anthropic"}
    for provider, model, price in entries:
        assert price.source is not None and DATE.search(price.source), (provider, model)
        assert price.source.startswith("https://"), (provider, model)
        rates = [price.rates] + ([price.long_context] if price.long_context else [])
        for tier in rates:
            # a cache read is never dearer than plain input, a cache write never cheaper
            assert tier.cached_input <= tier.input <= tier.cache_write <= tier.cache_write_1h


def test_shipped_table_covers_the_models_in_common_use(table: PriceTable) -> None:
    for provider, model in [
        ("openai", "gpt-4o"),
        ("openai", "gpt-4o-mini"),
        ("openai", "gpt-4.1"),
        ("openai", "gpt-5"),
        ("openai", "text-embedding-3-large"),
        ("anthropic", "claude-sonnet-4-5"),
        ("anthropic", "claude-haiku-4-5"),
        ("anthropic", "claude-opus-4-1"),
    ]:
        assert table.lookup(provider, model) is not None, (provider, model)
