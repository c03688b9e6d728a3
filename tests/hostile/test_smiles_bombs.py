"""SMILES and InChI bombs: refused with their kind and a precise error, in bounded time and
memory (chemistry/standardise.py: MAX_INPUT_LENGTH, MAX_ATOMS, MAX_FRAGMENTS)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rdkit import Chem

from chemistry import resolve
from chemistry.resolve import cache_clear
from chemistry.standardise import MAX_ATOMS, MAX_FRAGMENTS, MAX_INPUT_LENGTH
from tests.hostile.strategies import cases

SECONDS = 5.0  # the worst seen on this machine is 0.7 s (a cage of 300 atoms); CI is shared


def _ring(atoms: int) -> str:
    return "C1" + "C" * (atoms - 2) + "C1"


def _inchi_of(smiles: str) -> str:
    return Chem.MolToInchi(Chem.MolFromSmiles(smiles))


BOMBS: dict[str, tuple[str, str, str]] = {
    # name: (input, kind, error)
    "huge ring": (_ring(2000), "smiles", f"SMILES has 2000 atoms; the limit is {MAX_ATOMS}"),
    "thousands of atoms": ("c1ccccc1" * 600, "smiles", f"SMILES has 3600 atoms; the limit is {MAX_ATOMS}"),
    "deeply nested branches": ("C(" * 1600 + "C" + ")" * 1600, "smiles",
                               f"SMILES has 1601 atoms; the limit is {MAX_ATOMS}"),
    "unclosed nested branches": ("C(" * 2400, "smiles", "invalid SMILES"),
    "many fragments": (".".join(["C"] * 2500), "smiles", f"SMILES has 2500 atoms; the limit is {MAX_ATOMS}"),
    "too many parts": (".".join(["CCN"] * 25), "smiles",
                       f"SMILES has 25 disconnected parts; the limit is {MAX_FRAGMENTS}"),
    "cages": ("C12C3C4C1C5C2C3C45" * 250, "smiles", f"SMILES has 2000 atoms; the limit is {MAX_ATOMS}"),
    "unclosed ring closures": ("".join(f"C%{n}" for n in range(10, 100)), "smiles", "invalid SMILES"),
    "explicit hydrogens": ("[H]" * 1500, "smiles", f"SMILES has 1500 atoms; the limit is {MAX_ATOMS}"),
    "too long": ("C" * (MAX_INPUT_LENGTH + 1), "unknown",
                 f"input is {MAX_INPUT_LENGTH + 1} characters long; the limit is {MAX_INPUT_LENGTH}"),
    "big InChI": (_inchi_of(_ring(400)), "inchi", f"InChI has 400 atoms; the limit is {MAX_ATOMS}"),
    "broken InChI": ("InChI=1S/" + "C" * 4990, "inchi", "invalid InChI"),
    "InChI of junk layers": ("InChI=1S/" + "/".join(["C6H6"] * 900), "inchi", "invalid InChI"),
    "control characters": ("CC\x00O", "unknown", "input contains control characters"),
}


@pytest.mark.parametrize("name", list(BOMBS))
def test_a_bomb_is_refused_with_its_kind_and_reason_in_bounded_time(name: str) -> None:
    text, kind, error = BOMBS[name]
    resolve("CCO")  # the library is loaded once, not on the bomb's clock
    cache_clear()
    started = time.perf_counter()
    result = resolve(text)
    elapsed = time.perf_counter() - started
    assert (result.kind, result.key) == (kind, None)
    assert result.error is not None and result.error.startswith(error), result.error
    assert elapsed < SECONDS, f"{name}: {elapsed:.2f} s"


@pytest.mark.parametrize("smiles", [_ring(MAX_ATOMS), "C(" * (MAX_ATOMS - 1) + "C" + ")" * (MAX_ATOMS - 1),
                                    "c1ccccc1" * (MAX_ATOMS // 6), ".".join(["c1ccccc1CCN(C)C"] * MAX_FRAGMENTS)],
                         ids=["ring", "branches", "phenyls", "parts"])
def test_structures_at_the_limits_still_resolve_in_bounded_time(smiles: str) -> None:
    resolve("CCO")
    cache_clear()
    started = time.perf_counter()
    result = resolve(smiles)
    assert result.error is None, result.error
    assert time.perf_counter() - started < SECONDS


_MEMORY_PROBE = """
import json, resource, sys
from chemistry import resolve
from chemistry.resolve import cache_clear
resolve("CCO")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for text in json.load(sys.stdin):
    cache_clear()
    resolve(text)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_kb": before, "after_kb": after}))
"""


def test_bombs_stay_within_bounded_memory() -> None:
    """Peak memory of a fresh process resolving every bomb, over one resolving nothing."""
    texts = [text for text, _, _ in BOMBS.values()]
    done = subprocess.run([sys.executable, "-c", _MEMORY_PROBE], input=json.dumps(texts), text=True,
                          capture_output=True, timeout=120, check=True)
    usage = json.loads(done.stdout.strip().splitlines()[-1])
    assert usage["after_kb"] - usage["before_kb"] < 100 * 1024, usage


smiles_alphabet = st.sampled_from(list("CNOSPFIcnos()[]=#@+-\\/%.0123456789H") + ["Cl", "Br", "[nH]", "C1", "c1"])


@cases(100)
@given(text=st.lists(smiles_alphabet, max_size=2500).map("".join)
       | st.lists(st.sampled_from(["C(", "c1ccccc1", ")", "C1", "CC1", "."]), max_size=1000).map("".join)
       | st.text(max_size=300).map(lambda t: "InChI=1S/" + t))
def test_any_structure_text_resolves_or_says_why_in_bounded_time(text: str) -> None:
    started = time.perf_counter()
    result = resolve(text)
    assert result.kind in ("smiles", "inchi", "name", "unknown")
    assert result.error is None or (result.error.strip() and not result.error.startswith("internal error"))
    assert time.perf_counter() - started < SECONDS
