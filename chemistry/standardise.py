"""Standardisation recipe: from a parsed molecule to the parent structure(s) that get a key.

:func:`standardise` is the recipe, one small Mol -> Mol step per line, each a ChEMBL
Structure Pipeline step or RDKit call. In words: fix valences, drop S-groups, kekulise, drop
explicit H atoms, apply ChEMBL's normalisation transforms (charge-separated nitro and
N-oxides, azides, imidic acid to amide), neutralise, drop tartaric acid's stereo, sanitise,
drop isotope labels, strip the fragments on ChEMBL's salt and solvent lists, then keep either
the one drug-sized fragment (the parent) or each distinct drug-sized fragment (a mixture).
The thin wrappers :func:`parent_from_smiles` and :func:`parent_from_inchi` parse and then run
the recipe; :func:`inchikey` gives the key of a parent.

No tautomer canonicaliser is part of the recipe, on purpose. The tautomer and stereo policies
(what shares a key and what does not) are written down once, in ``chemistry/resolve.py``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cache

from chembl_structure_pipeline import standardizer as chembl
from rdkit import Chem
from rdkit.Chem import rdinchi

from chemistry._rdkit import quiet

MAX_INPUT_LENGTH = 10_000
# What one structure may cost. The largest substance in the reference library has 34 heavy atoms
# and a street sample a handful of fragments, while a 5,000-character SMILES can hold thousands
# of atoms: a 2,000-atom ring took 2.5 s and 2,500 fragments 11 s to standardise and key. So a
# structure past these bounds (hydrogens drawn explicitly count as atoms) is refused as parsed,
# before any of that work.
MAX_ATOMS = 300
MAX_FRAGMENTS = 20
# A fragment left after salt/solvent stripping counts as a component of a mixture when it
# has at least this many heavy atoms and contains carbon (smaller organic leftovers are
# counter-ions the ChEMBL lists do not name, e.g. unusual acids).
MIN_COMPONENT_HEAVY_ATOMS = 6


class StructureError(ValueError):
    """A structure that cannot be parsed or standardised; the message says why."""


@dataclass(frozen=True)
class Parents:
    """The standardised parent(s) of one input: one Mol for a substance, more for a mixture."""

    mols: tuple[Chem.Mol, ...]


# --- the recipe --------------------------------------------------------------------------


def standardise(mol: Chem.Mol) -> Parents:
    """Parent structure(s) of a parsed, unsanitised molecule.

    Each step is a ChEMBL Structure Pipeline step (or RDKit call), skipped when it cannot
    change this molecule: ChEMBL's own loop re-reads its salt lists on every call, which
    made it the slowest part of a resolution.

    Raises:
        StructureError: when the molecule cannot be sanitised (valence, kekulisation, ...).
    """
    mol = chembl.update_mol_valences(mol)
    mol = remove_substance_groups(mol)
    mol = kekulise(mol)
    mol = remove_explicit_hydrogens(mol)
    mol = normalise_groups(mol)  # ChEMBL's transforms: nitro, N-oxides, azides, imidic acids
    mol = neutralise(mol)
    mol = flatten_tartrate(mol)
    mol = sanitise(mol)
    mol = strip_isotopes(mol)
    mol = strip_salts_and_solvents(mol)
    fragments = split_components(mol)
    # Neutralised again per component: an anion balanced by a cation that cannot be
    # neutralised (K+, a quaternary ammonium) keeps its charge until that cation is gone.
    return Parents(tuple(neutralise(fragment) for fragment in fragments))


def remove_substance_groups(mol: Chem.Mol) -> Chem.Mol:
    """S-groups (brackets, polymer annotations from molfiles) dropped."""
    if not Chem.GetMolSubstanceGroups(mol):
        return mol
    return chembl.remove_sgroups_from_mol(mol)


def kekulise(mol: Chem.Mol) -> Chem.Mol:
    """Kekulé form, as ChEMBL's transforms expect; an impossible aromatic system is an error."""
    try:
        return chembl.kekulize_mol(mol)
    except Exception as exc:  # KekulizeException, AtomValenceException, ...
        raise StructureError(_sanitise_message(exc)) from None


def remove_explicit_hydrogens(mol: Chem.Mol) -> Chem.Mol:
    """Explicit H atoms removed (ChEMBL keeps the ones that carry stereo)."""
    if not mol.HasSubstructMatch(_HYDROGEN_ATOM):
        return mol
    return chembl.remove_hs_from_mol(mol)


def normalise_groups(mol: Chem.Mol) -> Chem.Mol:
    """ChEMBL's normalisation transforms (nitro as N+(O-)=O, odd azides, amide tautomers, ...)."""
    try:
        return chembl.normalize_mol(mol)
    except Exception as exc:
        raise StructureError(_sanitise_message(exc)) from None


def neutralise(mol: Chem.Mol) -> Chem.Mol:
    """Charges removed where a neutral form exists (quaternary N stays charged)."""
    if not mol.HasSubstructMatch(_CHARGED_ATOM):
        return mol
    return chembl.uncharge_mol(mol)


def flatten_tartrate(mol: Chem.Mol) -> Chem.Mol:
    """Tartaric acid's stereo dropped (ChEMBL's rule for the counter-ion)."""
    if not mol.HasSubstructMatch(_TARTRATE):
        return mol
    return chembl.flatten_tartrate_mol(mol)


def sanitise(mol: Chem.Mol) -> Chem.Mol:
    """RDKit sanitisation (valences, aromaticity, rings); a failure is a StructureError."""
    mol = Chem.Mol(mol)
    try:
        Chem.SanitizeMol(mol)
    except Exception as exc:
        raise StructureError(_sanitise_message(exc)) from None
    return mol


def strip_isotopes(mol: Chem.Mol) -> Chem.Mol:
    """Isotope labels removed (a deuterated standard is the same substance)."""
    if not mol.HasSubstructMatch(_ISOTOPE):
        return mol
    return sanitise(chembl.get_isotope_parent_mol(mol))


def strip_salts_and_solvents(mol: Chem.Mol) -> Chem.Mol:
    """Fragments on ChEMBL's solvent and salt lists removed, unless nothing else is left.

    The lists and the matching rule (same atom and bond counts, then a substructure match)
    are ChEMBL's (``get_fragment_parent_mol``); the lists are read once per process.
    """
    fragments = Chem.GetMolFrags(mol, asMols=True)
    if len(fragments) == 1:
        return mol
    for patterns in _chembl_fragment_lists():
        kept = [f for f in fragments if not _on_list(f, patterns)]
        if kept:
            fragments = kept
    combined = fragments[0]
    for fragment in fragments[1:]:
        combined = Chem.CombineMols(combined, fragment)
    return combined


def split_components(mol: Chem.Mol) -> list[Chem.Mol]:
    """Distinct drug-sized fragments (a mixture), else the largest organic fragment."""
    fragments = Chem.GetMolFrags(mol, asMols=True)
    if len(fragments) == 1:
        return [mol]
    distinct: dict[str, Chem.Mol] = {}
    for fragment in fragments:
        distinct.setdefault(Chem.MolToSmiles(fragment), fragment)
    ranked = sorted(distinct.values(), key=_heavy_organic_size, reverse=True)
    components = [f for f in ranked if _is_component(f)]
    skeletons = {Chem.MolToSmiles(f, isomericSmiles=False) for f in components}
    if len(components) >= 2 and len(skeletons) == 1:
        # stereoisomers of one substance drawn side by side: a racemate (stereo policy)
        racemate = Chem.Mol(components[0])
        Chem.RemoveStereochemistry(racemate)
        return [racemate]
    if len(components) >= 2:
        return components
    return ranked[:1]


_HYDROGEN_ATOM = Chem.MolFromSmarts("[#1]")
_CHARGED_ATOM = Chem.MolFromSmarts("[!+0]")
_ISOTOPE = Chem.MolFromSmarts("[!0*]")
_TARTRATE = Chem.MolFromSmarts("OC(=O)C(O)C(O)C(=O)O")


@cache
def _chembl_fragment_lists() -> tuple[tuple[Chem.Mol, ...], tuple[Chem.Mol, ...]]:
    """ChEMBL's solvent list and salt list, as compiled SMARTS."""
    data = os.path.join(os.path.dirname(os.path.abspath(chembl.__file__)), "data")
    lists = []
    for name in ("solvents.smi", "salts.smi"):
        patterns = []
        with open(os.path.join(data, name), encoding="utf-8") as handle:
            for line in handle:
                cells = line.strip().split("\t")
                if not line.startswith("#") and len(cells) == 2:
                    pattern = Chem.MolFromSmarts(cells[1])
                    if pattern is not None:
                        patterns.append(pattern)
        lists.append(tuple(patterns))
    return lists[0], lists[1]


def _on_list(fragment: Chem.Mol, patterns: tuple[Chem.Mol, ...]) -> bool:
    atoms, bonds = fragment.GetNumAtoms(), fragment.GetNumBonds()
    return any(
        p.GetNumAtoms() == atoms and p.GetNumBonds() == bonds and fragment.HasSubstructMatch(p)
        for p in patterns
    )


# --- keys and representations ------------------------------------------------------------


def inchikey(mol: Chem.Mol) -> str:
    """Standard InChIKey of a standardised parent."""
    with quiet():
        key = Chem.MolToInchiKey(mol)
    if not key:
        raise StructureError("no InChI could be computed for this structure")
    return key


def canonical_smiles(mol: Chem.Mol) -> str:
    """RDKit canonical isomeric SMILES."""
    return Chem.MolToSmiles(mol)


# --- thin wrappers named by representation ------------------------------------------------


def parent_from_smiles(smiles: str) -> Parents:
    """Standardised parent(s) of a SMILES string.

    Raises:
        StructureError: with RDKit's reason when the SMILES is invalid.
    """
    _check_length(smiles)
    with quiet() as log:
        mol = Chem.MolFromSmiles(smiles, sanitize=False)
        if mol is None:
            raise StructureError(_smiles_message(log.lines(), smiles))
        if mol.GetNumAtoms() == 0:
            raise StructureError("SMILES has no atoms")
        _check_size(mol, "SMILES")
        return standardise(mol)


def parent_from_inchi(inchi: str) -> Parents:
    """Standardised parent(s) of an InChI string.

    Raises:
        StructureError: with the InChI library's reason when the InChI is invalid.
    """
    _check_length(inchi)
    with quiet():
        result = rdinchi.InchiToMol(inchi, True, True)
    mol, retcode, message, log = result[0], result[1], result[2], result[3]
    if mol is None or retcode not in (0, 1):  # 1 = warning, still a structure
        raise StructureError(_inchi_message(retcode, message, log))
    _check_size(mol, "InChI")
    with quiet():
        return standardise(Chem.Mol(mol))


# --- helpers -------------------------------------------------------------------------------


def _check_length(text: str) -> None:
    if len(text) > MAX_INPUT_LENGTH:
        raise StructureError(
            f"input is {len(text)} characters long; the limit is {MAX_INPUT_LENGTH}"
        )


def _check_size(mol: Chem.Mol, kind: str) -> None:
    atoms = mol.GetNumAtoms()
    if atoms > MAX_ATOMS:
        raise StructureError(f"{kind} has {atoms} atoms; the limit is {MAX_ATOMS}")
    fragments = len(Chem.GetMolFrags(mol))
    if fragments > MAX_FRAGMENTS:
        raise StructureError(f"{kind} has {fragments} disconnected parts; the limit is "
                             f"{MAX_FRAGMENTS}")


def _heavy_organic_size(mol: Chem.Mol) -> tuple[int, int]:
    has_carbon = any(atom.GetAtomicNum() == 6 for atom in mol.GetAtoms())
    return (int(has_carbon), mol.GetNumHeavyAtoms())


def _is_component(mol: Chem.Mol) -> bool:
    has_carbon, heavy = _heavy_organic_size(mol)
    return bool(has_carbon) and heavy >= MIN_COMPONENT_HEAVY_ATOMS


def _sanitise_message(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    if text.lower().startswith("explicit valence"):
        return f"invalid valence: {text}"
    if "kekulize" in text.lower():
        return f"invalid aromatic system: {text}"
    return f"invalid structure: {text}"


def _smiles_message(lines: list[str], smiles: str) -> str:
    reasons = [
        line.removeprefix("SMILES Parse Error:").strip()
        for line in lines
        if line.startswith("SMILES Parse Error:") and "Failed parsing SMILES" not in line
    ]
    reasons = [r for r in reasons if not r.startswith("check for mistakes")]
    position = next(
        (line.split("position", 1)[1].strip(" :") for line in lines if "position" in line),
        None,
    )
    reason = reasons[0] if reasons else "syntax error"
    reason = re.sub(r"\s*(while parsing:|for input:).*$", "", reason).strip()
    if position:
        return f"invalid SMILES: {reason} (at position {position})"
    return f"invalid SMILES: {reason}"


def _inchi_message(retcode: int, message: str, log: str) -> str:
    detail = message.strip() or next(
        (line.strip() for line in reversed(log.splitlines()) if line.strip()), ""
    )
    if detail.startswith("Structure:"):
        detail = detail.split(":", 1)[1].strip()
    if not detail:
        detail = "not a valid InChI string"
    return f"invalid InChI: {detail}"
