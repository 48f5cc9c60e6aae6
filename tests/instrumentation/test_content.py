"""Content is recorded only on opt-in, capped and redacted; metric values are bounded."""

from __future__ import annotations

import threading

import pytest

from agentwatch.instrumentation.cardinality import OTHER, BoundedValues
from agentwatch.instrumentation.content import DEFAULT_MAX_LENGTH, ContentPolicy
from agentwatch.instrumentation.semconv import CAPTURE_CONTENT_ENV


@pytest.mark.parametrize(
    ("value", "enabled"),
    [
        (None, False),
        ("", False),
        ("false", False),
        ("NO_CONTENT", False),
        ("EVENT_ONLY", False),  # agentwatch emits no events: nothing to record into
        ("true", True),
        (" True ", True),
        ("1", True),
        ("SPAN_ONLY", True),
        ("span_and_event", True),
    ],
)
def test_capture_is_off_unless_the_variable_opts_in(value: str | None, enabled: bool) -> None:
    env = {} if value is None else {CAPTURE_CONTENT_ENV: value}
    assert ContentPolicy.from_env(env).enabled is enabled


def test_nothing_is_rendered_when_capture_is_off() -> None:
    assert ContentPolicy().render([{"role": "user", "content": "secret"}]) is None


def test_values_are_json_redacted_first_then_capped() -> None:
    seen: list[str] = []

    def redact(text: str) -> str:
        seen.append(text)
        return text.replace("alice@example.com", "<email>")

    policy = ContentPolicy(enabled=True, max_length=40, redact=redact)
    messages = [{"role": "user", "content": "mail alice@example.com about the report"}]
    rendered = policy.render(messages)
    assert seen == ['[{"role": "user", "content": "mail alice@example.com about the report"}]']
    redacted = '[{"role": "user", "content": "mail <email> about the report"}]'
    assert rendered == redacted[:40] + "…[truncated]"
    assert "alice" not in (rendered or "")
    assert policy.render("short") == "short"


def test_the_default_cap_applies() -> None:
    rendered = ContentPolicy(enabled=True).render("x" * (DEFAULT_MAX_LENGTH + 1))
    assert rendered is not None and rendered.startswith("x" * DEFAULT_MAX_LENGTH)
    assert rendered.endswith("…[truncated]") and len(rendered) == DEFAULT_MAX_LENGTH + 12


def test_bounded_values_keep_the_first_n_and_map_the_rest_to_other() -> None:
    bounded = BoundedValues(2)
    assert [bounded.get(v) for v in ("a", "b", "c", "a", "b", "d")] == [
        "a",
        "b",
        OTHER,
        "a",
        "b",
        OTHER,
    ]
    assert len(bounded) == 2
    with pytest.raises(ValueError):
        BoundedValues(0)


def test_bounded_values_admit_exactly_the_limit_under_contention() -> None:
    bounded = BoundedValues(50)
    barrier = threading.Barrier(8)
    admitted: list[str] = []
    lock = threading.Lock()

    def work(worker: int) -> None:
        barrier.wait()
        for i in range(100):
            value = bounded.get(f"model-{worker}-{i}")
            if value != OTHER:
                with lock:
                    admitted.append(value)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(admitted) == 50 == len(set(admitted)) == len(bounded)
