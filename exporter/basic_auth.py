"""HTTP basic auth against bcrypt hashes, as Prometheus's exporter-toolkit does it.

bcrypt is slow by design (~100 ms a check at cost 10), so verdicts, failures included, are cached:
a scrape with known credentials costs a dictionary look-up, and a flood of guesses costs one
bcrypt at a time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping

import bcrypt

BCRYPT_HASH = re.compile(rb"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")
"""A bcrypt hash as `htpasswd -B` writes it; group 1 is the cost."""
CACHE_SIZE = 100  # the toolkit's size too


def bcrypt_cost(hashed: bytes) -> int:
    """The cost of a bcrypt hash; raises ValueError if it is not one."""
    match = BCRYPT_HASH.fullmatch(hashed)
    if match is None:
        raise ValueError("not a bcrypt hash")
    return int(match.group(1))


def parse_basic(header: str | None) -> bytes | None:
    """The `user:password` bytes of a Basic Authorization header, or None if malformed."""
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        raw = base64.b64decode(token.strip(), validate=True)
        raw.partition(b":")[0].decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return None
    return raw if b":" in raw else None


class BasicAuth:
    """Checks `Authorization` headers against users' bcrypt hashes; no users lets all in."""

    def __init__(self, users: Mapping[str, bytes]) -> None:
        self._users = dict(users)
        self.cache = AuthCache()
        self._decoy = b""
        if self._users:
            # Unknown users are checked against a decoy of the same cost, so response times do
            # not reveal which user names exist (the toolkit uses a fixed decoy).
            cost = max(bcrypt_cost(h) for h in self._users.values())
            self._decoy = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds=cost))

    def check(self, header_value: str | None) -> bool:
        """Whether the header's credentials are allowed in."""
        if not self._users:
            return True
        credentials = parse_basic(header_value)
        if credentials is None:
            return False
        return self.cache.check(credentials, self._verify)

    def _verify(self, raw: bytes) -> bool:
        user_bytes, _, password = raw.partition(b":")
        hashed = self._users.get(user_bytes.decode("utf-8"))
        try:
            # checkpw compares in constant time; the decoy keeps unknown users as slow.
            ok = bcrypt.checkpw(password, hashed if hashed is not None else self._decoy)
        except ValueError:  # bcrypt >= 5 refuses passwords longer than 72 bytes
            return False
        return ok and hashed is not None


class AuthCache:
    """Bounded LRU of bcrypt verdicts, successes and failures alike, keyed by a MAC."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        # An HMAC under a per-process key rather than a bare sha256: the cache then holds
        # nothing an attacker who reads memory could brute-force faster than bcrypt, and
        # lookup timing says nothing about the password.
        self._key = secrets.token_bytes(32)
        self._size = size
        self._verdicts: OrderedDict[bytes, bool] = OrderedDict()
        self._lock = threading.Lock()
        self.bcrypt_lock = threading.Lock()  # one bcrypt at a time, as in the toolkit

    def check(self, raw: bytes, verify: Callable[[bytes], bool]) -> bool:
        """The cached verdict for `raw` credentials, else `verify(raw)`, cached."""
        key = hmac.new(self._key, raw, hashlib.sha256).digest()
        verdict = self._get(key)  # a hit never waits for the bcrypt lock, even under a flood
        if verdict is None:
            with self.bcrypt_lock:
                verdict = self._get(key)  # a burst of the same credentials hashes once
                if verdict is None:
                    verdict = verify(raw)
                    with self._lock:
                        self._verdicts[key] = verdict
                        while len(self._verdicts) > self._size:
                            self._verdicts.popitem(last=False)
        return verdict

    def _get(self, key: bytes) -> bool | None:
        with self._lock:
            verdict = self._verdicts.get(key)
            if verdict is not None:
                self._verdicts.move_to_end(key)
            return verdict
