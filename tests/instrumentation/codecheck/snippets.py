"""The labelled set: code snippets like an LLM writes, correct or with 1-3 hallucinations.

Each label is (line, name, kind, keyword); test_labels.py checks every label against the
running interpreter (the module truly cannot be found, the attribute or keyword truly does not
exist, the name is truly unbound) and that every correct snippet's imports and module
attributes truly resolve.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass


@dataclass(frozen=True)
class Label:
    line: int
    name: str
    kind: str
    keyword: str | None = None


@dataclass(frozen=True)
class Snippet:
    id: str
    source: str
    labels: tuple[Label, ...]


def _s(id: str, source: str, *labels: Label) -> Snippet:
    return Snippet(id, textwrap.dedent(source).lstrip("\n"), labels)


def M(line: int, name: str) -> Label:
    return Label(line, name, "module")


def A(line: int, name: str) -> Label:
    return Label(line, name, "attribute")


def K(line: int, name: str, keyword: str) -> Label:
    return Label(line, name, "keyword", keyword)


def N(line: int, name: str) -> Label:
    return Label(line, name, "name")


CORRECT = [
    _s(
        "json_roundtrip",
        """
        import json

        def save(data, path):
            with open(path, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2, sort_keys=True)

        def load(path):
            with open(path, encoding="utf-8") as fh:
                return json.load(fh)
        """,
    ),
    _s(
        "word_count",
        """
        import collections
        import re

        def top_words(text, n=10):
            words = re.findall(r"[a-z']+", text.lower())
            counts = collections.Counter(words)
            return counts.most_common(n)
        """,
    ),
    _s(
        "ordered_cache",
        """
        from collections import OrderedDict

        class LRU:
            def __init__(self, size):
                self.size = size
                self.data = OrderedDict()

            def get(self, key):
                if key in self.data:
                    self.data.move_to_end(key)
                return self.data.get(key)

            def put(self, key, value):
                self.data[key] = value
                self.data.move_to_end(key, last=True)
                if len(self.data) > self.size:
                    self.data.popitem(last=False)
        """,
    ),
    _s(
        "paths",
        """
        import os
        import os.path
        from pathlib import Path

        def find_py(root):
            out = []
            for dirpath, _dirs, files in os.walk(root):
                out += [os.path.join(dirpath, f) for f in files if f.endswith(".py")]
            return sorted(out, key=os.path.basename)

        def ensure(path):
            os.makedirs(path, exist_ok=True)
            return Path(path).resolve()
        """,
    ),
    _s(
        "dates",
        """
        import datetime

        def next_monday(day=None):
            day = day or datetime.date.today()
            ahead = (7 - day.weekday()) % 7 or 7
            return day + datetime.timedelta(days=ahead)

        start = datetime.date(2024, 1, 1)
        print(start.isoformat(), start.strftime("%A"), next_monday(start))
        """,
    ),
    _s(
        "itertools_chunks",
        """
        import itertools

        def chunks(iterable, size):
            it = iter(iterable)
            while chunk := list(itertools.islice(it, size)):
                yield chunk

        pairs = list(itertools.combinations("abc", 2))
        flat = list(itertools.chain.from_iterable([[1], [2, 3]]))
        grouped = {k: list(g) for k, g in itertools.groupby(sorted("aabbc"))}
        """,
    ),
    _s(
        "dataclass_model",
        """
        from dataclasses import dataclass, field, asdict

        @dataclass
        class Order:
            id: int
            items: list = field(default_factory=list)
            total: float = 0.0

            def add(self, price):
                self.items.append(price)
                self.total += price

        order = Order(id=1)
        order.add(9.5)
        print(asdict(order), order.total, order.items)
        """,
    ),
    _s(
        "stats",
        """
        import math
        import statistics

        def summary(xs):
            mean = statistics.mean(xs)
            sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
            return {"mean": mean, "sd": sd, "median": statistics.median(xs),
                    "ok": math.isclose(mean, round(mean, 2), rel_tol=1e-3)}
        """,
    ),
    _s(
        "subprocess_run",
        """
        import shlex
        import subprocess

        def run(command):
            done = subprocess.run(shlex.split(command), capture_output=True, text=True, check=False)
            return done.returncode, done.stdout.strip()
        """,
    ),
    _s(
        "argparse_cli",
        """
        import argparse
        import sys

        def main(argv=None):
            parser = argparse.ArgumentParser(description="Greets people.")
            parser.add_argument("name")
            parser.add_argument("--shout", action="store_true")
            args = parser.parse_args(argv)
            text = f"hello {args.name}"
            print(text.upper() if args.shout else text, file=sys.stdout)
            return 0
        """,
    ),
    _s(
        "asyncio_gather",
        """
        import asyncio

        async def fetch(i):
            await asyncio.sleep(0)
            return i * 2

        async def main():
            results = await asyncio.gather(*(fetch(i) for i in range(3)))
            queue = asyncio.Queue()
            await queue.put(results)
            return await asyncio.wait_for(queue.get(), timeout=1)

        if __name__ == "__main__":
            print(asyncio.run(main()))
        """,
    ),
    _s(
        "optional_dependency",
        """
        try:
            import ujson as json_impl
        except ImportError:
            import json as json_impl

        try:
            from yaml import CSafeLoader as Loader
        except ImportError:
            Loader = None

        def dumps(obj):
            return json_impl.dumps(obj)
        """,
    ),
    _s(
        "type_checking_imports",
        """
        from __future__ import annotations

        from typing import TYPE_CHECKING

        if TYPE_CHECKING:
            from _typeshed import SupportsRead
            from collections.abc import Iterator

        def lines(fh: SupportsRead[str]) -> Iterator[str]:
            yield from fh.read().splitlines()
        """,
    ),
    _s(
        "scopes_nonlocal_global",
        """
        TOTAL = 0

        def make_counter():
            count = 0
            def increment(step=1):
                nonlocal count
                count += step
                return count
            return increment

        def bump():
            global TOTAL, SEEN
            TOTAL += 1
            SEEN = True

        bump()
        print(TOTAL, SEEN, make_counter()())
        """,
    ),
    _s(
        "match_statement",
        """
        def describe(command):
            match command.split():
                case ["go", direction]:
                    return f"going {direction}"
                case ["drop", *objects]:
                    return f"dropping {len(objects)}"
                case {"action": action, **rest}:
                    return action, rest
                case [first, *_] if first.startswith("#"):
                    return "comment"
                case _:
                    return "unknown"
        """,
    ),
    _s(
        "class_scopes",
        """
        class Config:
            defaults = {"debug": False}
            keys = list(defaults)

            def __init__(self, **overrides):
                self.values = {**self.defaults, **overrides}

            def __getitem__(self, key):
                return self.values[key]

            @classmethod
            def from_env(cls, environ):
                return cls(**{k: environ[k] for k in cls.keys if k in environ})

            @staticmethod
            def names():
                return sorted(Config.defaults)
        """,
    ),
    _s(
        "exceptions",
        """
        import errno
        import logging

        log = logging.getLogger(__name__)

        def read(path):
            try:
                with open(path) as fh:
                    return fh.read()
            except FileNotFoundError as exc:
                log.warning("missing %s: %s", path, exc)
            except OSError as exc:
                if exc.errno != errno.EACCES:
                    raise
            return None
        """,
    ),
    _s(
        "string_methods",
        """
        def slugify(title):
            cleaned = "".join(c if c.isalnum() else " " for c in title.strip().lower())
            words = cleaned.split()
            return "-".join(words).removesuffix("-")

        name = "Report 2024.txt"
        print(name.rsplit(".", 1)[0].title(), name.encode("utf-8", errors="strict"))
        print("a,b".split(sep=","), b"abc".hex(), f"{name!r}".center(40, "*"))
        """,
    ),
    _s(
        "list_dict_methods",
        """
        stack = []
        stack.append(1)
        stack.extend([2, 3])
        stack.sort(key=lambda x: -x, reverse=True)
        top = stack.pop()

        index = {}
        index.setdefault("a", []).append(top)
        merged = index | {"b": []}
        print(merged.get("a"), list(index.items()), {1, 2}.union({3}), (1, 2).index(2))
        """,
    ),
    _s(
        "functools_cache",
        """
        import functools

        @functools.lru_cache(maxsize=256)
        def fib(n):
            return n if n < 2 else fib(n - 1) + fib(n - 2)

        def timed(fn):
            @functools.wraps(fn)
            def wrapper(*args, **kwargs):
                return fn(*args, **kwargs)
            return wrapper

        @timed
        def add(a, b):
            return a + b

        print(fib(30), fib.cache_info(), add(a=1, b=2), functools.reduce(add, [1, 2, 3]))
        """,
    ),
    _s(
        "threads",
        """
        import queue
        import threading

        results = queue.Queue()

        def work(n):
            results.put(n * n)

        threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=5)
        lock = threading.Lock()
        with lock:
            print(sorted(results.get() for _ in range(4)))
        """,
    ),
    _s(
        "urllib_parse",
        """
        from urllib.parse import urlencode, urljoin, urlparse

        def build(base, path, **params):
            url = urljoin(base, path)
            if params:
                url += "?" + urlencode(params, doseq=True)
            parts = urlparse(url)
            return parts.scheme, parts.netloc, parts.path, parts.query
        """,
    ),
    _s(
        "random_sampling",
        """
        import random

        rng = random.Random(42)
        deck = [(rank, suit) for rank in range(1, 14) for suit in "SHDC"]
        rng.shuffle(deck)
        hand = random.sample(deck, k=5)
        print(rng.choice(deck), random.randint(1, 6), random.choices(deck, k=2), hand)
        """,
    ),
    _s(
        "typing_generics",
        """
        import typing
        from typing import Dict, List, Optional

        T = typing.TypeVar("T")

        def first(items: List[T], default: Optional[T] = None) -> Optional[T]:
            return items[0] if items else default

        def invert(mapping: Dict[str, int]) -> Dict[int, str]:
            return {v: k for k, v in mapping.items()}

        print(typing.cast(int, first([1, 2])), invert({"a": 1}))
        """,
    ),
    _s(
        "platform_guard",
        """
        import os
        import sys

        def open_file(path):
            if sys.platform == "win32":
                import winreg
                os.startfile(path)
            elif hasattr(os, "posix_spawn"):
                os.posix_spawn("/usr/bin/xdg-open", ["xdg-open", path], os.environ)
            return winreg if sys.platform == "win32" else None
        """,
    ),
    _s(
        "version_guard",
        """
        import itertools
        import sys

        if sys.version_info >= (3, 12):
            batched = itertools.batched
        else:
            def batched(iterable, n):
                it = iter(iterable)
                while chunk := tuple(itertools.islice(it, n)):
                    yield chunk

        print(list(batched(range(5), 2)))
        """,
    ),
    _s(
        "dynamic_getattr_class",
        """
        class Record:
            def __init__(self, **fields):
                self._fields = fields

            def __getattr__(self, name):
                try:
                    return self._fields[name]
                except KeyError:
                    raise AttributeError(name) from None

        r = Record(title="x", year=2024)
        print(r.title, r.year)
        """,
    ),
    _s(
        "simple_namespace",
        """
        import types
        from argparse import Namespace

        settings = types.SimpleNamespace(host="localhost", port=8080)
        args = Namespace(verbose=True)
        print(settings.host, settings.port, args.verbose)
        """,
    ),
    _s(
        "star_import",
        """
        from math import *

        def hypotenuse(a, b):
            return sqrt(a ** 2 + b ** 2)

        print(hypotenuse(3, 4), pi, floor(2.5))
        """,
    ),
    _s(
        "csv_io",
        """
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["name", "age"])
        writer.writeheader()
        writer.writerow({"name": "ada", "age": 36})
        buffer.seek(0)
        rows = list(csv.DictReader(buffer))
        print(rows, buffer.getvalue())
        """,
    ),
    _s(
        "enum_usage",
        """
        import enum

        class Color(enum.Enum):
            RED = 1
            GREEN = 2

            @property
            def hex(self):
                return {1: "#f00", 2: "#0f0"}[self.value]

        print(Color.RED.name, Color.GREEN.hex, Color(1), list(Color), Color["RED"])
        """,
    ),
    _s(
        "hash_and_encode",
        """
        import base64
        import hashlib
        import hmac

        def sign(key: bytes, message: bytes) -> str:
            digest = hmac.new(key, message, hashlib.sha256).digest()
            return base64.urlsafe_b64encode(digest).decode("ascii")

        print(hashlib.sha256(b"x").hexdigest(), sign(b"k", b"m"))
        """,
    ),
    _s(
        "comprehension_scopes",
        """
        matrix = [[1, 2], [3, 4]]
        flat = [x for row in matrix for x in row if x % 2 == 0]
        squares = {n: n * n for n in range(5)}
        seen = set()
        unique = [seen.add(v) or v for v in [1, 1, 2] if v not in seen]
        total = sum(value for value in squares.values())
        if any((found := v) > 3 for v in flat):
            print(found, unique, total)
        """,
    ),
    _s(
        "local_helpers_keywords",
        """
        def connect(host, port=5432, *, timeout=10.0, **options):
            return host, port, timeout, options

        def greet(name, greeting="hello"):
            return f"{greeting}, {name}"

        class Point:
            def __init__(self, x, y=0):
                self.x, self.y = x, y

        print(connect("db", port=1, timeout=2, sslmode="require"), greet("ada", greeting="hi"))
        print(Point(1, y=2).x)
        """,
    ),
    _s(
        "context_managers",
        """
        import contextlib
        import tempfile
        import shutil

        @contextlib.contextmanager
        def workdir():
            path = tempfile.mkdtemp(prefix="job-")
            try:
                yield path
            finally:
                shutil.rmtree(path, ignore_errors=True)

        with workdir() as d, contextlib.suppress(FileNotFoundError):
            print(d)
        """,
    ),
    _s(
        "heapq_bisect",
        """
        import bisect
        import heapq

        scores = [5, 1, 9, 3]
        heapq.heapify(scores)
        heapq.heappush(scores, 4)
        best = heapq.nlargest(2, scores, key=lambda s: s)
        ordered = sorted(scores)
        bisect.insort(ordered, 6)
        print(best, bisect.bisect_left(ordered, 5), heapq.heappop(scores))
        """,
    ),
    _s(
        "deque_defaultdict",
        """
        from collections import defaultdict, deque, namedtuple

        graph = defaultdict(list)
        graph["a"].append("b")
        Edge = namedtuple("Edge", ["src", "dst"])
        todo = deque(["a"], maxlen=100)
        todo.appendleft("z")
        todo.rotate(1)
        print(todo.popleft(), Edge("a", "b")._asdict(), dict(graph))
        """,
    ),
]

HALLUCINATED = [
    _s(
        "missing_module",
        """
        import json
        import fastjsonlib

        def parse(text):
            return fastjsonlib.loads(text) or json.loads(text)
        """,
        M(2, "fastjsonlib"),
    ),
    _s(
        "missing_submodule",
        """
        import os.pathutils
        from xml.etree import ElementTree
        from http.serverless import Handler

        root = ElementTree.fromstring("<a/>")
        """,
        M(1, "os.pathutils"),
        M(3, "http.serverless"),
    ),
    _s(
        "path_join_typo",
        """
        import os

        def under_home(*parts):
            home = os.path.expanduser("~")
            return os.path.joinpath(home, *parts)
        """,
        A(5, "os.path.joinpath"),
    ),
    _s(
        "json_parse",
        """
        import json

        def read_config(text):
            config = json.parse(text)
            return json.stringify(config)
        """,
        A(4, "json.parse"),
        A(5, "json.stringify"),
    ),
    _s(
        "ordereddict_methods",
        """
        import collections

        cache = collections.OrderedDict()
        cache["a"] = 1
        cache.move_to_front("a")
        cache.move_to_end("a", first=True)
        """,
        A(5, "collections.OrderedDict.move_to_front"),
        K(6, "collections.OrderedDict.move_to_end", "first"),
    ),
    _s(
        "itertools_flatten",
        """
        import itertools

        nested = [[1, 2], [3]]
        flat = list(itertools.flatten(nested))
        pairs = itertools.pairwise(flat)
        """,
        A(4, "itertools.flatten"),
    ),
    _s(
        "re_matchall",
        """
        import re

        def emails(text):
            return re.matchall(r"\\S+@\\S+", text, flag=re.I)
        """,
        A(4, "re.matchall"),
    ),
    _s(
        "re_sub_flag",
        """
        import re

        def squash(text):
            return re.sub(r"\\s+", " ", text, flag=re.MULTILINE)
        """,
        K(4, "re.sub", "flag"),
    ),
    _s(
        "math_clamp",
        """
        import math

        def normalise(x, lo, hi):
            return math.clamp((x - lo) / (hi - lo), 0.0, 1.0)
        """,
        A(4, "math.clamp"),
    ),
    _s(
        "statistics_average",
        """
        import statistics

        values = [1, 2, 3]
        avg = statistics.average(values)
        mean = statistics.mean(values, weights=[1, 1, 2])
        """,
        A(4, "statistics.average"),
        K(5, "statistics.mean", "weights"),
    ),
    _s(
        "time_now",
        """
        import time

        started = time.now()
        time.sleep(0.1)
        elapsed = time.now() - started
        """,
        A(3, "time.now"),
        A(5, "time.now"),
    ),
    _s(
        "sorted_reversed",
        """
        def rank(scores):
            return sorted(scores.items(), key=lambda kv: kv[1], reversed=True)
        """,
        K(2, "sorted", "reversed"),
    ),
    _s(
        "print_separator",
        """
        names = ["a", "b"]
        print(*names, separator=", ")
        print("done", end="\\n", flushed=True)
        """,
        K(2, "print", "separator"),
        K(3, "print", "flushed"),
    ),
    _s(
        "open_encode",
        """
        def read_text(path):
            with open(path, "r", encode="utf-8") as fh:
                return fh.read()
        """,
        K(2, "open", "encode"),
    ),
    _s(
        "makedirs_exists_ok",
        """
        import os
        import shutil

        def reset(path):
            shutil.rmtree(path, ignore_error=True)
            os.makedirs(path, exists_ok=True)
        """,
        K(5, "shutil.rmtree", "ignore_error"),
        K(6, "os.makedirs", "exists_ok"),
    ),
    _s(
        "numpy_without_import",
        """
        def normalise(values):
            arr = np.asarray(values, dtype=float)
            return (arr - arr.mean()) / arr.std()
        """,
        N(2, "np"),
    ),
    _s(
        "requests_without_import",
        """
        import json

        def fetch(url):
            response = requests.get(url, timeout=10)
            return json.loads(response.text)
        """,
        N(4, "requests"),
    ),
    _s(
        "undefined_helper",
        """
        def load_settings(path):
            raw = read_yaml_file(path)
            return validate_settings(raw)
        """,
        N(2, "read_yaml_file"),
        N(3, "validate_settings"),
    ),
    _s(
        "missing_imports",
        """
        import os

        def latest(folder):
            files = [Path(folder) / f for f in os.listdir(folder)]
            by_ext = defaultdict(list)
            for f in files:
                by_ext[f.suffix].append(f)
            return max(files, key=lambda f: f.stat().st_mtime)
        """,
        N(4, "Path"),
        N(5, "defaultdict"),
    ),
    _s(
        "python2_names",
        """
        def ask():
            answer = raw_input("? ")
            for i in xrange(3):
                print(unicode(answer), i)
        """,
        N(2, "raw_input"),
        N(3, "xrange"),
        N(4, "unicode"),
    ),
    _s(
        "removed_collections_abc",
        """
        from collections import Mapping, OrderedDict

        def is_mapping(x):
            return isinstance(x, Mapping)
        """,
        A(1, "collections.Mapping"),
    ),
    _s(
        "typing_json",
        """
        from typing import Any, JSON

        def handle(payload: JSON) -> Any:
            return payload
        """,
        A(1, "typing.JSON"),
    ),
    _s(
        "str_methods",
        """
        title = "Hello World"
        if title.contains("World"):
            print(title.to_lower())
        print("a,b".split(separator=","))
        """,
        A(2, "str.contains"),
        A(3, "str.to_lower"),
        K(4, "str.split", "separator"),
    ),
    _s(
        "list_push_dict_has_key",
        """
        stack = []
        stack.push(1)
        seen = {}
        if seen.has_key("a"):
            print(seen)
        """,
        A(2, "list.push"),
        A(4, "dict.has_key"),
    ),
    _s(
        "counter_most_frequent",
        """
        from collections import Counter

        letters = Counter("mississippi")
        print(letters.most_frequent(2))
        print(letters.most_common(count=2))
        """,
        A(4, "collections.Counter.most_frequent"),
        K(5, "collections.Counter.most_common", "count"),
    ),
    _s(
        "sys_maxint_getcwdu",
        """
        import os
        import sys

        big = sys.maxint
        here = os.getcwdu()
        """,
        A(4, "sys.maxint"),
        A(5, "os.getcwdu"),
    ),
    _s(
        "logging_typo",
        """
        import logging

        log = logging.getLoger(__name__)
        logging.basicConfig(level=logging.INFO)
        """,
        A(3, "logging.getLoger"),
    ),
    _s(
        "functools_memoize",
        """
        import functools

        @functools.memoize
        def slow(n):
            return n

        @functools.lru_cache(max_size=32)
        def other(n):
            return n
        """,
        A(3, "functools.memoize"),
        K(7, "functools.lru_cache", "max_size"),
    ),
    _s(
        "random_api",
        """
        import random

        coin = random.randbool()
        card = random.choice(["a", "b"], k=1)
        hand = random.sample(range(10), count=3)
        """,
        A(3, "random.randbool"),
        K(4, "random.choice", "k"),
        K(5, "random.sample", "count"),
    ),
    _s(
        "datetime_api",
        """
        import datetime

        now = datetime.datetime.utcnow_iso()
        day = datetime.date(2024, 5, 1)
        print(day.to_string())
        """,
        A(3, "datetime.datetime.utcnow_iso"),
        A(5, "datetime.date.to_string"),
    ),
    _s(
        "asyncio_api",
        """
        import asyncio

        async def job():
            await asyncio.sleep(0)

        asyncio.run_until_complete(job())
        """,
        A(6, "asyncio.run_until_complete"),
    ),
    _s(
        "thread_arguments",
        """
        import threading

        def work(n):
            return n

        worker = threading.Thread(target=work, arguments=(1,))
        worker.begin()
        """,
        K(6, "threading.Thread", "arguments"),
        A(7, "threading.Thread.begin"),
    ),
    _s(
        "local_function_keyword",
        """
        def greet(name, greeting="hello"):
            return f"{greeting}, {name}"

        def area(width, height):
            return width * height

        print(greet("ada", salutation="hi"), area(width=2, depth=3))
        """,
        K(7, "greet", "salutation"),
        K(7, "area", "depth"),
    ),
    _s(
        "mixed_kinds",
        """
        import shutil
        import zipfile_plus

        def archive(src, dest):
            shutil.copy_tree(src, dest)
            return compress_folder(dest, level=9)
        """,
        M(2, "zipfile_plus"),
        A(5, "shutil.copy_tree"),
        N(6, "compress_folder"),
    ),
    _s(
        "urlencode_keyword",
        """
        from urllib.parse import urlencode, quote

        query = urlencode({"q": "a b"}, safe_chars="/")
        path = quote("a b", safe="/")
        """,
        K(3, "urllib.parse.urlencode", "safe_chars"),
    ),
    _s(
        "enumerate_round_isclose",
        """
        import math

        for i, item in enumerate(["a", "b"], begin=1):
            print(i, item, round(2.5, digits=0))
        print(math.isclose(1.0, 1.0001, tolerance=1e-3))
        """,
        K(3, "enumerate", "begin"),
        K(4, "round", "digits"),
        K(5, "math.isclose", "tolerance"),
    ),
    _s(
        "invented_packages",
        """
        import csv
        from dataframe_tools import read_table
        import textcleanerlib as tc

        rows = list(csv.reader(open("data.csv")))
        table = read_table(rows)
        """,
        M(2, "dataframe_tools"),
        M(3, "textcleanerlib"),
    ),
    _s(
        "invented_stdlib_submodules",
        """
        import asyncio.helpers
        from json.tools import pretty_print

        asyncio.helpers.run(pretty_print({}))
        """,
        M(1, "asyncio.helpers"),
        M(2, "json.tools"),
    ),
]

ALL = CORRECT + HALLUCINATED
