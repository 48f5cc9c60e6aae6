"""Hallucinated API references in generated Python code, found without running it.

`check_source(source)` returns a `Finding` for each import of a module that cannot be found (or is
not on the allow-list), attribute that a module, class or freshly constructed object does not
have, keyword argument that the callee's signature rejects, and name that is never defined.
`python_blocks(markdown)` extracts the ```python blocks of an LLM response to check them;
`agentwatch check-code FILE...` is the command line. See docs/check-code.md for the policy on
what is imported to be introspected (the standard library and already-imported modules).
"""

from __future__ import annotations

from agentwatch.instrumentation.codecheck.api import check_file, check_source
from agentwatch.instrumentation.codecheck.blocks import python_blocks
from agentwatch.instrumentation.codecheck.findings import (
    ATTRIBUTE,
    KEYWORD,
    KINDS,
    MODULE,
    NAME,
    Finding,
)
from agentwatch.instrumentation.codecheck.policy import Policy

__all__ = [
    "ATTRIBUTE",
    "KEYWORD",
    "KINDS",
    "MODULE",
    "NAME",
    "Finding",
    "Policy",
    "check_file",
    "check_source",
    "python_blocks",
]
