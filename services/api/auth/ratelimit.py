"""Rate limits: requests per API token or account, and failed sign-ins per client address.

Token buckets held in the API process: a bucket holds up to `per_minute` requests and refills
at `per_minute` a minute, so a client may spend a minute's allowance at once, then one request
every 60/`per_minute` seconds. Each API replica counts on its own (a replica set of N allows up
to N times as much); the limits are there to stop a leaked token from scraping everything and a
guesser from trying passwords, not to share capacity out exactly.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from fastapi import HTTPException

# Buckets untouched this long are full again, and are dropped to bound memory.
_IDLE_S = 120.0


class RateLimited(HTTPException):
    """429 with Retry-After: the caller has spent its allowance."""

    def __init__(self, retry_after: float, what: str) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(429, f"too many {what}: try again in {seconds} s",
                         headers={"Retry-After": str(seconds)})
        self.retry_after = seconds


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets by key; `per_minute` 0 (or less) means no limit."""

    def __init__(self, per_minute: int, *, clock=time.monotonic) -> None:
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()
        self._swept = clock()

    def _bucket(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.per_minute), now)
        else:
            bucket.tokens = min(float(self.per_minute),
                                bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
        if now - self._swept > _IDLE_S:
            self._swept = now
            for stale in [k for k, b in self._buckets.items() if now - b.updated > _IDLE_S]:
                del self._buckets[stale]
        return bucket

    def wait(self, key: str) -> float:
        """Seconds until `key` may be spent again (0: now), without spending anything."""
        if self.per_minute <= 0:
            return 0.0
        with self._lock:
            bucket = self._bucket(key, self._clock())
            return 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / self._rate

    def spend(self, key: str) -> float:
        """Spend one request of `key`'s allowance; 0, or the seconds to wait when none is left."""
        if self.per_minute <= 0:
            return 0.0
        with self._lock:
            bucket = self._bucket(key, self._clock())
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return (1 - bucket.tokens) / self._rate

    def check(self, key: str, what: str) -> None:
        """Spend one, or raise `RateLimited` (429 with Retry-After)."""
        wait = self.spend(key)
        if wait > 0:
            raise RateLimited(wait, what)

    def reset(self, key: str) -> None:
        with self._lock:
            self._buckets.pop(key, None)
