"""Sampling: the first calls of each model always, then an even share; NVML's budget."""

from __future__ import annotations

import logging

import pytest

from agentwatch.instrumentation.local.sampling import (
    DEFAULT_RATE,
    RATE_ENV,
    Sampler,
    TokenBucket,
    rate_from_env,
)


def test_the_first_calls_of_each_model_are_always_measured() -> None:
    sampler = Sampler(rate=0.0, first=3)
    assert [sampler.sampled("a") for _ in range(5)] == [True, True, True, False, False]
    assert [sampler.sampled("b") for _ in range(4)] == [True, True, True, False]


def test_after_them_exactly_the_rate_evenly_spaced() -> None:
    sampler = Sampler(rate=0.25, first=0)
    picks = [sampler.sampled("m") for _ in range(40)]
    assert sum(picks) == 10
    assert [i for i, p in enumerate(picks) if p][:3] == [3, 7, 11]
    always = Sampler(rate=1.0, first=0)
    assert all(always.sampled("m") for _ in range(10))
    tenth = Sampler(rate=0.1, first=0)
    assert sum(tenth.sampled("m") for _ in range(1000)) == 100


def test_models_past_the_bound_share_one_count() -> None:
    sampler = Sampler(rate=0.0, first=1, max_models=2)
    assert sampler.sampled("a") and sampler.sampled("b")
    assert sampler.sampled("c")  # the shared count's first call
    assert not sampler.sampled("d")


@pytest.mark.parametrize(
    ("value", "rate"),
    [("", DEFAULT_RATE), ("0.5", 0.5), ("0", 0.0), ("1", 1.0)],
    ids=["unset", "half", "zero", "one"],
)
def test_the_rate_comes_from_the_environment(value: str, rate: float) -> None:
    assert rate_from_env({RATE_ENV: value}) == rate


@pytest.mark.parametrize("value", ["2", "-0.1", "often", "nan"])
def test_a_bad_rate_is_logged_and_the_default_used(
    value: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "agentwatch.instrumentation"):
        assert rate_from_env({RATE_ENV: value}) == DEFAULT_RATE
    assert RATE_ENV in caplog.text


def test_a_sampler_reads_the_environment_unless_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RATE_ENV, "0.5")
    assert Sampler().rate == 0.5
    assert Sampler(rate=0.2).rate == 0.2
    with pytest.raises(ValueError):
        Sampler(rate=1.5)


def test_the_bucket_allows_a_burst_then_its_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(per_second=2.0, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] = 0.5  # one token back
    assert [bucket.take() for _ in range(2)] == [True, False]
    now[0] = 100.0  # never more than the burst
    assert sum(bucket.take() for _ in range(10)) == 3
