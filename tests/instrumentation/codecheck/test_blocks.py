"""Python code blocks of a Markdown response."""

from __future__ import annotations

from agentwatch.instrumentation.codecheck import python_blocks

RESPONSE = """Here is the code:

```python
import os
print(os.getcwd())
```

And a shell step, and an unlabelled block:

```bash
pip install foo
```

```
not python
```

~~~py
x = 1
~~~

  ```Python3 title="demo.py"
  def f():
      return 1
  ```
"""


def test_only_python_labelled_blocks_are_extracted_in_order() -> None:
    assert python_blocks(RESPONSE) == [
        "import os\nprint(os.getcwd())\n",
        "x = 1\n",
        "def f():\n    return 1\n",
    ]


def test_an_unclosed_block_runs_to_the_end_of_the_text() -> None:
    assert python_blocks("text\n```python\nimport json\njson.loads('1')") == [
        "import json\njson.loads('1')"
    ]


def test_a_longer_fence_holds_a_shorter_one() -> None:
    text = "````python\ns = '''\n```\n'''\n````\n"
    assert python_blocks(text) == ["s = '''\n```\n'''\n"]


def test_no_blocks() -> None:
    assert python_blocks("no code here, only `inline` code") == []
