"""The transformers versions this instrumentation supports.

4.38 is the first release whose text-generation pipeline takes chat messages (the `Chat`
input this module reads); `GenerationMixin.generate` has the shape wrapped here since long
before. 5.x is the newest major tested (5.24).
"""

from __future__ import annotations

_instruments = ("transformers >= 4.38, < 6",)
