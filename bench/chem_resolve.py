"""Benchmark chemistry.resolve() on >= 1,000 distinct structures and print the figures.

Measures, in one run and on the same inputs:
  * bare:     a loop of ChEMBL Structure Pipeline standardize_mol + get_parent_mol + InChIKey
              (the reference rate: resolve() should reach at least this);
  * uncached: chemistry.resolve() with an empty cache (standardise, key, library match, class,
              nearest analogue);
  * cached:   chemistry.resolve() on inputs already resolved (target >= 50,000/s);
  * name step: what the name rules cost a SMILES input, with the SMILES-only fast path
              (whole-text lookups only) and with every name rule (the path before it);
  * memory:   peak RSS of the process, and the growth while filling the cache.

Inputs are the library's structures plus deterministic ring-substituted analogues of them
(H -> F, Cl, CH3, OCH3 on aromatic CH), half of them written as hydrochloride salts, so the
set mixes known and novel structures like a real feed.

Run: .venv/bin/python bench/chem_resolve.py [--n 2000]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chembl_structure_pipeline import standardizer  # noqa: E402
from rdkit import Chem, rdBase  # noqa: E402

import chemistry  # noqa: E402
from chemistry.library import default_library  # noqa: E402
from chemistry.names import default_name_index  # noqa: E402
from chemistry.resolve import _Resolver, cache_clear  # noqa: E402

SUBSTITUENTS = ("F", "Cl", "C", "OC")


def distinct_inputs(n: int) -> list[str]:
    """At least ``n`` distinct SMILES: library structures and their ring-substituted analogues."""
    library = [s for s in default_library() if s.mol is not None]
    seen: set[str] = set()
    out: list[str] = []

    def add(smiles: str, salt: bool) -> None:
        if smiles not in seen:
            seen.add(smiles)
            out.append(smiles + ".Cl" if salt else smiles)

    for substance in library:
        add(substance.smiles, salt=False)
    aromatic_ch = Chem.MolFromSmarts("[cH]")
    for substituent in SUBSTITUENTS:
        for substance in library:
            for (index,) in substance.mol.GetSubstructMatches(aromatic_ch)[:3]:
                rw = Chem.RWMol(substance.mol)
                new = rw.AddAtom(Chem.Atom(6 if substituent in ("C", "OC") else 0))
                if substituent in ("F", "Cl"):
                    rw.GetAtomWithIdx(new).SetAtomicNum(9 if substituent == "F" else 17)
                rw.AddBond(index, new, Chem.BondType.SINGLE)
                if substituent == "OC":
                    rw.GetAtomWithIdx(new).SetAtomicNum(8)
                    methyl = rw.AddAtom(Chem.Atom(6))
                    rw.AddBond(new, methyl, Chem.BondType.SINGLE)
                try:
                    Chem.SanitizeMol(rw)
                except Exception:
                    continue
                add(Chem.MolToSmiles(rw), salt=len(out) % 2 == 0)
                if len(out) >= n:
                    return out
    return out


def bare_loop(inputs: list[str]) -> float:
    """Seconds for ChEMBL standardise + parent + InChIKey over the inputs."""
    start = time.perf_counter()
    with rdBase.BlockLogs():
        for smiles in inputs:
            mol = Chem.MolFromSmiles(smiles, sanitize=False)
            mol = standardizer.standardize_mol(mol)
            parent, _ = standardizer.get_parent_mol(mol)
            Chem.MolToInchiKey(parent)
    return time.perf_counter() - start


def timed_resolve(inputs: list[str]) -> float:
    start = time.perf_counter()
    for smiles in inputs:
        chemistry.resolve(smiles)
    return time.perf_counter() - start


def name_step_us(inputs: list[str]) -> tuple[float, float]:
    """Microseconds per input spent on name rules: fast path, and every rule."""
    resolver = _Resolver(default_library(), default_name_index())
    timings = []
    for step in (resolver._whole_name, resolver._exact_name):
        start = time.perf_counter()
        for text in inputs:
            step(text, text)
        timings.append((time.perf_counter() - start) / len(inputs) * 1e6)
    return timings[0], timings[1]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="distinct structures (>= 1000)")
    parser.add_argument("--cached-rounds", type=int, default=20)
    args = parser.parse_args()

    chemistry.resolve("warm-up: load library, rules and names")
    inputs = distinct_inputs(args.n)
    rss_before = rss_mb()

    bare = bare_loop(inputs)
    cache_clear()
    uncached = timed_resolve(inputs)
    rss_filled = rss_mb()
    cached = min(timed_resolve(inputs) for _ in range(args.cached_rounds))
    fast_name, all_names = name_step_us(inputs)

    resolutions = [chemistry.resolve(s) for s in inputs]
    errors = sum(1 for r in resolutions if r.error)
    novel = sum(1 for r in resolutions if r.novel)
    generic = sum(1 for r in resolutions if r.uk_generic)
    n = len(inputs)
    print(f"inputs: {n} distinct structures ({novel} novel, {errors} with errors,"
          f" {generic} under a UK generic definition)")
    print(f"bare ChEMBL standardise+parent+InChIKey: {n / bare:10.0f} /s")
    print(f"resolve(), uncached:                     {n / uncached:10.0f} /s"
          f"  ({uncached / bare:.2f}x the bare loop's time)")
    print(f"resolve(), cached:                       {n / cached:10.0f} /s")
    print(f"name step per SMILES input: {fast_name:.1f} us with the SMILES-only fast path,"
          f" {all_names:.1f} us with every name rule")
    print(f"memory: peak RSS {rss_filled:.0f} MB (library and inputs loaded: {rss_before:.0f} MB,"
          f" cache of {n} resolutions: +{rss_filled - rss_before:.0f} MB)")


if __name__ == "__main__":
    main()
