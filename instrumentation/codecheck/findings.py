"""What `check-code` reports: one `Finding` per hallucinated API reference."""

from __future__ import annotations

from dataclasses import dataclass

MODULE = "module"
"""An import of a module that cannot be found, or that is not on the allow-list."""
ATTRIBUTE = "attribute"
"""An attribute that a module, a class or a freshly constructed object does not have."""
KEYWORD = "keyword"
"""A keyword argument that the callee's signature does not accept."""
NAME = "name"
"""A name that is never defined, imported, assigned or built in."""
KINDS = (MODULE, ATTRIBUTE, KEYWORD, NAME)
"""Every kind: a bounded metric attribute."""


@dataclass(frozen=True, order=True)
class Finding:
    """One reference to an API that does not exist, at a 1-based `line` and 0-based `col`."""

    line: int
    col: int
    name: str
    """The full dotted name: `os.path.joinn`, `collections.OrderedDict.move_to_endd`, `json`."""
    kind: str
    keyword: str | None
    """The rejected keyword of a `keyword` finding (whose `name` is the callee); else None."""
    message: str

    def as_dict(self, file: str | None = None) -> dict[str, object]:
        """The JSON form; `keyword` only on keyword findings, `file` when given."""
        out: dict[str, object] = {} if file is None else {"file": file}
        out.update(line=self.line, col=self.col, name=self.name, kind=self.kind)
        if self.kind == KEYWORD:
            out["keyword"] = self.keyword
        out["message"] = self.message
        return out
