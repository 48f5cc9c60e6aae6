"""Token counting: the host scan of small results agrees with the vectorised count of large ones."""

from __future__ import annotations

import random
from typing import Any

import pytest
import torch
import transformers

from agentwatch.instrumentation.transformers import tokens
from agentwatch.instrumentation.transformers.patch import config_value, model_name

PAD, EOS, OTHER_EOS = 0, 2, 5


def expected(rows: list[list[int]], eos: list[int], pad: int | None) -> tuple[int, list[str]]:
    """The rule, written plainly: up to the first EOS, else without the trailing padding."""
    total, reasons = 0, list[str]()
    for row in rows:
        hits = [i for i, token in enumerate(row) if token in eos]
        if hits:
            total, reasons = total + hits[0] + 1, [*reasons, "stop"]
            continue
        end = len(row)
        while pad is not None and end and row[end - 1] == pad:
            end -= 1
        total, reasons = total + end, [*reasons, "stop" if end < len(row) else "length"]
    return total, reasons


def random_rows(rng: random.Random, rows: int, width: int) -> list[list[int]]:
    out = []
    for _ in range(rows):
        row = [rng.choice([PAD, EOS, OTHER_EOS, 3, 4, 7]) for _ in range(width)]
        if rng.random() < 0.5:  # a row that stopped early: padding to the end
            cut = rng.randrange(width + 1)
            row[cut:] = [PAD] * (width - cut)
        out.append(row)
    return out


@pytest.mark.parametrize(
    ("eos", "pad"), [([], PAD), ([EOS], PAD), ([EOS, OTHER_EOS], None), ([PAD], PAD), ([], None)]
)
def test_host_and_vectorised_counts_agree_with_the_rule(eos: list[int], pad: int | None) -> None:
    rng = random.Random(7)
    for _ in range(200):
        rows = random_rows(rng, rng.randrange(1, 4), rng.randrange(1, 9))
        want = expected(rows, eos, pad)
        assert tokens.on_host(rows, eos, pad) == want
        assert tokens.on_device(torch.tensor(rows), eos, pad) == want


def test_output_tokens_takes_the_host_path_when_small_and_the_vectorised_one_when_large(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prompt = [[9, 9, 9]]
    rows = [[3, 4, EOS, PAD], [3, 4, 7, 7]]
    small = torch.tensor([p + r for p, r in zip(prompt * 2, rows, strict=True)])
    want = expected(rows, [EOS], PAD)
    assert tokens.output_tokens(small, 3, [EOS], PAD) == want == (3 + 4, ["stop", "length"])
    seen: list[str] = []

    def on_device(*args: Any) -> tuple[int, list[str]]:
        seen.append("device")
        return want

    monkeypatch.setattr(tokens, "on_device", on_device)
    big_width = tokens.HOST_LIMIT  # 2 rows of it: over the limit
    big = torch.full((2, 3 + big_width), 3)
    tokens.output_tokens(big, 3, [EOS], PAD)
    assert seen == ["device"]
    assert tokens.output_tokens(small, 3, [EOS], PAD) == want and seen == ["device"]


def test_output_tokens_of_an_empty_or_odd_result() -> None:
    assert tokens.output_tokens(torch.tensor([[1, 2]]), 2, [EOS], PAD) == (0, ["length"])
    assert tokens.output_tokens(torch.tensor([[1, 2]]), 5, [EOS], PAD) == (0, ["length"])
    assert tokens.output_tokens(torch.tensor([1, 2]), 0, [EOS], PAD) is None
    assert tokens.output_tokens("not a tensor", 0, [EOS], PAD) is None


@pytest.mark.parametrize("size", [4, tokens.HOST_LIMIT + 1])
def test_input_tokens_small_and_large_are_the_tensor_sums(size: int) -> None:
    ids = torch.tensor([[PAD, 3] * (size // 2 + 1)])[:, :size]
    mask = (ids != PAD).long()
    assert tokens.input_tokens(ids, mask, None, [EOS], PAD) == int(mask.sum())
    assert tokens.input_tokens(ids, mask.bool(), None, [EOS], PAD) == int(mask.sum())
    assert tokens.input_tokens(ids, None, None, [EOS], PAD) == int((ids != PAD).sum())
    assert tokens.input_tokens(ids, None, None, [PAD], PAD) == size  # pad is EOS: all count


def test_config_values_are_those_attribute_access_gives() -> None:
    config = transformers.GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=32)
    config.name_or_path = "some/model"
    assert config_value(config, "name_or_path", "_name_or_path") == config.name_or_path
    assert config_value(config, "is_encoder_decoder") is config.is_encoder_decoder is False
    # A name the config's attribute_map renames is read through it, not from __dict__.
    assert config_value(config, "hidden_size") == config.hidden_size == 16
    assert config_value(config, "absent") is None
    assert config_value(None, "name_or_path", "_name_or_path") is None

    class Plain:
        name_or_path = "plain/model"  # a class attribute: read the ordinary way

    model: Any = type("M", (), {"config": Plain()})()
    assert model_name(model) == "plain/model"
