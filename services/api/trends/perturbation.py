"""Cell-key perturbation of trend counts, so that no combination of queries pins down a count.

Trends are a flexible table builder: any grouping, any filter, any date range. Suppressing the
small cells of each table protects that table alone; a total of one query minus a count of
another (an area's reports, and the same area's nitazene reports; two date ranges a day apart)
isolates the few reports between them. As ONS (Census 2021) and ABS TableBuilder do for the
same reason, every published count is perturbed by noise that is a function of exactly which
reports it counts:

- each report has a secret record key, a keyed hash of its report key;
- a count's cell key is the sum of its reports' record keys (mod 2**64), so the same reports
  give the same cell key in every query and every table: asking again, or asking for the same
  reports another way, gives the same number, and averaging repeated answers gains nothing;
- the noise is drawn from the cell key, two-sided geometric (P(n) proportional to ALPHA**|n|).
  Its support is unbounded, so no published number bounds the true count: differencing two
  numbers gives a guess (right about a third of the time, and never known to be), not a fact.

A zero is published as 0 (an empty cell hides nobody); a count whose perturbed value is under 5
is shown as "<5". So the only exact facts a table states are which counts are zero.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass

THRESHOLD = 5
ALPHA = 0.3  # P(0) = 0.54, P(|n| = 1) = 0.32, P(|n| = 2) = 0.10, P(|n| >= 3) = 0.04
_MASK = (1 << 64) - 1
_P_ZERO = (1 - ALPHA) / (1 + ALPHA)


class Perturber:
    """Record keys and noise under one secret (the API's signing key, through its own label)."""

    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, b"ews trends cell-key perturbation v1", hashlib.sha256).digest()

    def record_key(self, report_key: str) -> int:
        digest = hashlib.blake2b(report_key.encode("utf-8", "surrogatepass"), key=self._key,
                                 digest_size=8, person=b"record").digest()
        return int.from_bytes(digest, "big")

    def cell_key(self, report_keys: list[str] | set[str]) -> int:
        return sum(self.record_key(key) for key in report_keys) & _MASK

    def noise(self, cell_key: int) -> int:
        digest = hashlib.blake2b(cell_key.to_bytes(8, "big"), key=self._key, digest_size=16,
                                 person=b"noise").digest()
        first, second = int.from_bytes(digest[:8], "big"), int.from_bytes(digest[8:], "big")
        if (first + 0.5) / 2**64 < _P_ZERO:
            return 0
        # |n| >= 1 is geometric: P(|n| = k) = (1 - ALPHA) ALPHA**(k - 1); the low bit is the sign.
        uniform = ((second >> 1) + 0.5) / 2**63
        size = 1 + int(math.log(uniform) / math.log(ALPHA))
        return size if second & 1 else -size


@dataclass(frozen=True)
class Published:
    """One published count: what is shown, and the perturbed value (None when "<5")."""

    count: int | None
    display: str

    def as_dict(self) -> dict[str, object]:
        return {"count": self.count, "display": self.display,
                "suppressed": "small" if self.display == "<5" else None}


def publish(true_count: int, cell_key: int, perturber: Perturber) -> Published:
    """The count as published: 0 for none; "<5" when small after perturbation; else perturbed."""
    if true_count == 0:
        return Published(0, "0")
    value = true_count + perturber.noise(cell_key)
    if value < THRESHOLD:
        return Published(None, "<5")
    return Published(value, str(value))
