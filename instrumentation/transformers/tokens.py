"""Token counts of a `generate()` call, from the model's own tensors (no tokenizer involved).

- input tokens: the prompt's real tokens, `attention_mask.sum()` when a mask is given; without
  one, the tokens that are not padding as `generate` itself infers the mask (ids equal to
  `pad_token_id` are padding, unless the pad token is also an EOS token); for `inputs_embeds`,
  batch x length.
- output tokens, per returned row: the generated part of `sequences` (after the prompt for
  decoder-only models; after the decoder start token for encoder-decoder ones) up to and
  including its first EOS token; a row without EOS that ends in `pad_token_id`s stopped early
  (a stop string, a stopping criterion) and its trailing padding is not counted.
  `num_return_sequences` rows each count.
- finish reasons, per row: `stop` (EOS or stopped early) or `length` (ran to the limit).

Only tensor methods are used (no `import torch`). A small result (at most `HOST_LIMIT` ids, the
usual chat-sized generation) is moved to the host in one `tolist()` and scanned there: each
tensor operation costs about a microsecond of dispatch even on a handful of ids, and the
vectorised count takes a dozen of them. A larger one is counted with those vectorised
operations on the `rows x new_tokens` tensor and one transfer of `rows` integers to the host.
Both give the same counts (tests/instrumentation/transformers/test_tokens.py checks it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentwatch.instrumentation.values import as_int

HOST_LIMIT = 1024
"""Results of at most this many ids are counted on the host: one `tolist()` (about 10 ns an
id) and list scans cost less than the vectorised count's dozen tensor operations (15 us
on a CPU tensor, 25 us with EOS ids to find, and a kernel launch each on a GPU)."""


def _small_rows(tensor: Any) -> list[list[Any]] | None:
    """A 2-D tensor of at most `HOST_LIMIT` values as lists of rows; None otherwise."""
    shape = getattr(tensor, "shape", None)
    if shape is None or len(shape) != 2 or int(shape[0]) * int(shape[1]) > HOST_LIMIT:
        return None
    tolist = getattr(tensor, "tolist", None)
    return tolist() if callable(tolist) else None


def _ids(value: Any) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, int) and not isinstance(v, bool)]
    tolist = getattr(value, "tolist", None)  # a tensor of ids
    return _ids(tolist()) if callable(tolist) else []


def special_ids(model: Any, kwargs: Mapping[str, Any]) -> tuple[list[int], int | None]:
    """(EOS ids, pad id) of this call: its keyword arguments, its config, the model's."""
    configs = (kwargs.get("generation_config"), getattr(model, "generation_config", None))
    eos = _ids(kwargs.get("eos_token_id"))
    pad = as_int(kwargs.get("pad_token_id"))
    for config in configs:
        if config is None:
            continue
        if not eos:
            eos = _ids(getattr(config, "eos_token_id", None))
        if pad is None:
            pad = as_int(getattr(config, "pad_token_id", None))
    return eos, pad


def input_tokens(
    input_ids: Any, attention_mask: Any, embeds: Any, eos: list[int], pad: int | None
) -> int | None:
    """The prompt's tokens over the batch; None when no input tensor is known."""
    if attention_mask is not None and hasattr(attention_mask, "sum"):
        rows = _small_rows(attention_mask)
        if rows is not None:
            return int(sum(map(sum, rows)))
        return int(attention_mask.sum().item())
    if input_ids is not None and hasattr(input_ids, "numel"):
        if pad is not None and pad not in eos:
            rows = _small_rows(input_ids)
            if rows is not None:
                return sum(len(row) - row.count(pad) for row in rows)
            return int((input_ids != pad).sum().item())
        return int(input_ids.numel())
    shape = getattr(embeds, "shape", None)
    if shape is not None and len(shape) >= 2:
        return int(shape[0]) * int(shape[1])
    return None


def output_tokens(
    sequences: Any, prompt_length: int, eos: list[int], pad: int | None
) -> tuple[int, list[str]] | None:
    """(generated tokens over the rows, finish reason per row); None for an unknown shape."""
    shape = getattr(sequences, "shape", None)
    if shape is None or len(shape) != 2:
        return None
    rows, total = int(shape[0]), int(shape[1])
    width = max(total - prompt_length, 0)
    if rows == 0 or width == 0:
        return 0, ["length"] * rows
    if rows * total <= HOST_LIMIT and callable(getattr(sequences, "tolist", None)):
        # One transfer of the whole (small) result; the prompt is cut off on the host.
        return on_host([row[prompt_length:] for row in sequences.tolist()], eos, pad)
    new = sequences[:, prompt_length:]
    if rows * width <= HOST_LIMIT and callable(getattr(new, "tolist", None)):
        return on_host(new.tolist(), eos, pad)
    return on_device(new, eos, pad)


def _row(row: list[Any], eos: list[int], pad: int | None) -> tuple[int, bool]:
    """(tokens counted, stopped) of one row of generated ids."""
    if eos:
        first = len(row)
        for token in eos:
            try:
                first = row.index(token, 0, first)  # only an earlier EOS can be the first
            except ValueError:
                continue
        if first < len(row):
            return first + 1, True  # up to and including the first EOS
    if pad is None:
        return len(row), False
    end = len(row)
    while end and row[end - 1] == pad:  # trailing padding: the row stopped early
        end -= 1
    return end, end < len(row)


def on_host(new: list[list[Any]], eos: list[int], pad: int | None) -> tuple[int, list[str]]:
    """`output_tokens` of the generated ids as lists (rows of ids after the prompt)."""
    total = 0
    reasons: list[str] = []
    for row in new:
        count, stopped = _row(row, eos, pad)
        total += count
        reasons.append("stop" if stopped else "length")
    return total, reasons


def on_device(new: Any, eos: list[int], pad: int | None) -> tuple[int, list[str]]:
    """`output_tokens` of the generated ids as a `rows x new_tokens` tensor, vectorised."""
    rows, width = int(new.shape[0]), int(new.shape[1])
    if rows == 0 or width == 0:
        return 0, ["length"] * rows
    counts = new.new_full((rows,), width)
    stopped = counts != counts  # all False, same device
    if pad is not None:
        # Trailing padding: the run of pad ids at the end of a row that stopped early.
        trailing = (new == pad).flip(1).long().cumprod(dim=1).sum(dim=1)
        counts = counts - trailing
        stopped = stopped | (trailing > 0)
    if eos:
        is_eos = new == eos[0]
        for other in eos[1:]:
            is_eos = is_eos | (new == other)
        has_eos = is_eos.any(dim=1)
        first = is_eos.long().argmax(dim=1) + 1  # up to and including the first EOS
        counts = counts.where(~has_eos, first)
        stopped = stopped | has_eos
    per_row = counts.tolist()
    reasons = ["stop" if s else "length" for s in stopped.tolist()]
    return int(sum(per_row)), reasons
