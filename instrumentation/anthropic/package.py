"""The Anthropic SDK versions this instrumentation supports.

0.18 is the first release with `messages.create` and `messages.stream` as they are wrapped
here; `count_tokens`, `parse` and the beta namespaces are wrapped where the installed release
has them. 2.x is the newest major tested.
"""

from __future__ import annotations

_instruments = ("anthropic >= 0.18, < 3",)
