"""UK generic definitions: does a structure fall under a Misuse of Drugs Act generic clause?

Schedule 2 of the Misuse of Drugs Act 1971 controls some families by a generic ("Markush")
clause instead of by name, so a new analogue can be controlled before anyone has seen it.
:func:`uk_generic` reports the clause a standardised parent falls under:

* ``"cathinone_generic"``: Sch. 2 Part II para 1(aa) (SI 2010/1207), Class B. Compounds
  derived from 2-amino-1-phenyl-1-propanone by ring substitution with alkyl, alkoxy,
  alkylenedioxy, haloalkyl or halide (then any other univalent ring substituents too), an
  alkyl group at the 3-position, and N-alkyl / N,N-dialkyl groups or an N-containing ring.
* ``"cannabinoid_generic_2016"``: Sch. 2 Part II para 1(ca) (SI 2016/1109, lead-in narrowed by
  SI 2019/1323), Class B: the "third-generation" synthetic cannabinoids.
* ``None``: no rule matched. That is not a legal opinion that the substance is uncontrolled:
  it may be controlled by name (see ``Resolution.uk_status``), by a clause not encoded here, or
  by the Psychoactive Substances Act 2016.

The clauses, quoted, and one rule per allowed modification with the clause it comes from are
in ``data/uk_generics.tsv``. A structure falls under a clause when it contains the clause's
core and every group hanging off the core is one the clause allows at that position (each
group is cut off and matched on its own: :func:`falls_under`). Stereo never matters (the Act
controls every stereoisomer, para 2) and salts are stripped before the check (para 3).

Policy: flag only what clearly falls within the words; where the reach of a clause is arguable
the rule stays narrower and the structure is not flagged. Known limits, on purpose:

* Cathinones. "Alkyl" is read in its IUPAC sense (acyclic): N-cyclohexyl (N-cyclohexyl-
  methylone), N-benzyl (BMDP), 3-cycloalkyl and fused-ring analogues (naphthyl: naphyrone,
  which was named separately in 2010 because the generic missed it; indanyl; thienyl) are not
  flagged. "A cyclic structure" at the nitrogen is read as a ring of saturated carbons
  (pyrrolidine, piperidine, azepane); morpholine or piperazine rings are not flagged. Ring
  alkylenedioxy is methylenedioxy or ethylenedioxy. The named exemptions (bupropion, cathinone,
  diethylpropion, pyrovalerone) are honoured by InChIKey skeleton. The proviso "or a compound
  specified in sub-paragraph (a)" is not: methcathinone, named in para 1(a), is flagged,
  because that proviso only avoids listing a Class B drug twice, while the named exemptions
  change the class (Class C, or uncontrolled for bupropion).
* Cannabinoids. Only the third-generation core is flagged: a secondary 3-carboxamide or a
  3-carboxylate on an indole, indazole, pyrrolo[2,3-b]pyridine, pyrazolo[3,4-b]pyridine or
  pyrrolo[3,2-c]pyridine, with an N1 tail from clause (ii) (alkyl or alkenyl, optionally with
  halide, cyano or alkoxy; benzyl; cycloalkylmethyl/-ethyl; the three named heterocyclic
  methyl/ethyl groups) and a head group from: 1-naphthyl (the JWH-018 ring itself), amino-acid
  amides and esters (1-amino- / 1-hydroxy-1-oxopropan-2-yl with alkyl groups: AB-, ADB-, MMB-,
  MDMB-), cumyl, 1-adamantyl. Item (iv), the list of replacements for the naphthyl ring, could
  not be read verbatim from a primary source while writing this: the head groups above are the
  ones the ACMD report was written to capture (its January 2016 addendum says CUMYL-5F-P7AICA
  fell outside only because of its core), and other heads (quinolin-8-yl esters such as PB-22,
  tetramethylcyclopropyl, 2-adamantyl, phenylalanine-derived heads) are not flagged. Ketones
  (JWH-018, UR-144: the 2009/2013 generics of para 1(c)), tertiary amides, pyrrole, pyrazole,
  imidazole, benzimidazole, indane and indene cores, alkynyl or hydroxylated tails are not
  flagged. The named medicines the clause exempts cannot match these cores. The proviso "or a
  compound specified in sub-paragraph (c)" (cannabinoids already controlled by name) is not
  applied, for the reason given for methcathinone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache

from rdkit import Chem

from chemistry.errors import ChemistryError
from chemistry.library import DATA_DIR
from chemistry.standardise import StructureError, inchikey, parent_from_smiles

GENERICS_FILE = os.path.join(DATA_DIR, "uk_generics.tsv")
PARTS = ("prefilter", "core", "listed", "further", "exclude")
_MAX_CORE_MATCHES = 64


@dataclass(frozen=True)
class Substituent:
    """One kind of group a clause allows at one site of its core."""

    site: int
    further: bool  # allowed only next to a listed group at the same site
    anchor: Chem.Mol
    extend: Chem.Mol | None  # one-atom query every atom outside the anchor must match
    attachments: int  # number of [#0] atoms in the anchor
    comment: str


@dataclass(frozen=True)
class GenericDefinition:
    """One generic clause: its cores, the groups allowed per site, its named exemptions."""

    label: str
    prefilter: Chem.Mol | None  # contained in every core: one cheap search rejects most inputs
    cores: tuple[Chem.Mol, ...]
    substituents: dict[int, tuple[Substituent, ...]] = field(compare=False)
    excluded_skeletons: frozenset[str]


def load_generics(path: str = GENERICS_FILE) -> tuple[GenericDefinition, ...]:
    """The generic definitions of the rules file, in file order.

    Raises:
        ChemistryError: naming the line of an unknown part, a bad SMARTS or SMILES, or a
            substituent row for a site no core of its generic has.
    """
    rows: dict[str, list[tuple[int, list[str]]]] = {}
    for n, cells in _rows(path):
        if cells[1] not in PARTS:
            raise ChemistryError(
                f"{path}:{n}: unknown part {cells[1]!r} (one of {', '.join(PARTS)})"
            )
        rows.setdefault(cells[0], []).append((n, cells))
    return tuple(_definition(path, label, label_rows) for label, label_rows in rows.items())


@cache
def default_generics() -> tuple[GenericDefinition, ...]:
    """The packaged rules, loaded once per process."""
    return load_generics()


def uk_generic(mol: Chem.Mol, key: str | None = None) -> str | None:
    """Label of the first UK generic definition the standardised parent falls under, or None.

    Args:
        mol: a standardised parent (one component, salts stripped).
        key: its InChIKey if already computed (used only to honour named exemptions).
    """
    mol = _without_h_atoms(mol)
    for definition in default_generics():
        if falls_under(mol, definition):
            skeleton = (key or _key_or_empty(mol))[:14]
            if skeleton not in definition.excluded_skeletons:
                return definition.label
    return None


def falls_under(mol: Chem.Mol, definition: GenericDefinition) -> bool:
    """Whether the structure is the core with only allowed groups (named exemptions aside)."""
    mol = _without_h_atoms(mol)
    if definition.prefilter is not None and not mol.HasSubstructMatch(definition.prefilter):
        return False
    for core in definition.cores:
        for sites in _core_matches(mol, core):
            if _groups_allowed(mol, core, sites, definition.substituents):
                return True
    return False


# --- matching -------------------------------------------------------------------------------


def _without_h_atoms(mol: Chem.Mol) -> Chem.Mol:
    """The structure without H atoms (standardisation keeps the ones that carry stereo)."""
    if mol.GetNumAtoms() == mol.GetNumHeavyAtoms():
        return mol
    mol = Chem.RemoveAllHs(mol, sanitize=False)
    mol.UpdatePropertyCache(strict=False)
    Chem.FastFindRings(mol)
    return mol


def _core_matches(mol: Chem.Mol, core: Chem.Mol) -> Iterator[dict[int, int]]:
    """Each distinct placement of the core: molecule atom index -> site (0: no groups allowed)."""
    seen = set()
    for match in mol.GetSubstructMatches(core, uniquify=False, maxMatches=_MAX_CORE_MATCHES):
        sites = {
            atom_index: core.GetAtomWithIdx(query_index).GetAtomMapNum()
            for query_index, atom_index in enumerate(match)
        }
        frozen = frozenset(sites.items())
        if frozen not in seen:
            seen.add(frozen)
            yield sites


def _groups_allowed(
    mol: Chem.Mol,
    core: Chem.Mol,
    sites: dict[int, int],
    allowed: dict[int, tuple[Substituent, ...]],
) -> bool:
    """Every group off the core is allowed at its site, and the core has no extra bonds."""
    core_bonds = []
    cut = []
    for atom_index in sites:
        for bond in mol.GetAtomWithIdx(atom_index).GetBonds():
            other = bond.GetOtherAtomIdx(atom_index)
            if other not in sites:
                cut.append((bond, atom_index))
            elif other > atom_index:
                core_bonds.append(bond)
    if len(core_bonds) != core.GetNumBonds():  # e.g. a ring closed between two core atoms
        return False
    listed_at: set[int] = set()
    further_at: set[int] = set()
    for group, attachments, site in _groups(mol, sites, cut):
        if site is None or site not in allowed:
            return False
        kinds = allowed[site]
        if any(not kind.further and _is_kind(group, attachments, kind) for kind in kinds):
            listed_at.add(site)
        elif any(kind.further and _is_kind(group, attachments, kind) for kind in kinds):
            further_at.add(site)
        else:
            return False
    return further_at <= listed_at


def _groups(
    mol: Chem.Mol, sites: dict[int, int], cut: list[tuple[Chem.Bond, int]]
) -> Iterator[tuple[Chem.Mol, set[int], int | None]]:
    """The groups hanging off the core, each cut off with [#0] atoms where it was attached.

    ``cut`` holds the bonds from a core atom to a non-core atom, with that core atom. Yields
    (group, indices of its [#0] atoms, site); the site is None when one group is attached at two different sites (a ring
    bridging, say, the nitrogen and the 3-position), which no clause here allows.
    """
    if not cut:
        return
    rw = Chem.RWMol(mol)
    for bond, core_atom in cut:
        outside = bond.GetOtherAtomIdx(core_atom)
        dummy = Chem.Atom(0)
        dummy.SetIsotope(sites[core_atom] + 1)  # 0 would read as "no isotope"
        dummy.SetNoImplicit(True)
        rw.AddBond(outside, rw.AddAtom(dummy), bond.GetBondType())
    for atom_index in sorted(sites, reverse=True):
        rw.RemoveAtom(atom_index)
    pieces = Chem.GetMolFrags(rw.GetMol(), asMols=True, sanitizeFrags=False)
    for piece in pieces:
        piece.UpdatePropertyCache(strict=False)
        Chem.FastFindRings(piece)
        dummies = [atom for atom in piece.GetAtoms() if atom.GetAtomicNum() == 0]
        labels = {atom.GetIsotope() - 1 for atom in dummies}
        yield (
            piece,
            {atom.GetIdx() for atom in dummies},
            (labels.pop() if len(labels) == 1 else None),
        )


def _is_kind(group: Chem.Mol, attachments: set[int], kind: Substituent) -> bool:
    """The group is the kind's anchor, every other atom matching the kind's ``extend``."""
    if len(attachments) != kind.attachments:
        return False
    matches = group.GetSubstructMatches(kind.anchor, uniquify=False, maxMatches=1000)
    if not matches:
        return False
    every = set(range(group.GetNumAtoms()))
    extendable: set[int] | None = None
    for match in matches:
        covered = set(match)
        if not attachments <= covered:
            continue
        rest = every - covered
        if not rest:
            return True
        if extendable is None:
            extendable = (
                {i for (i,) in group.GetSubstructMatches(kind.extend, maxMatches=len(every))}
                if kind.extend is not None
                else set()
            )
        if rest <= extendable:
            return True
    return False


# --- loading ----------------------------------------------------------------------------------


def _rows(path: str) -> Iterator[tuple[int, list[str]]]:
    with open(path, encoding="utf-8") as handle:
        for n, line in enumerate(handle, start=1):
            if not line.strip() or line.startswith(("#", "generic\t")):
                continue
            cells = line.rstrip("\r\n").split("\t")
            if len(cells) != 6:
                raise ChemistryError(
                    f"{path}:{n}: expected generic, part, site, smarts, extend, comment"
                )
            if not cells[5].strip():
                raise ChemistryError(f"{path}:{n}: every rule needs a comment citing its clause")
            yield n, cells


def _definition(path: str, label: str, rows: list[tuple[int, list[str]]]) -> GenericDefinition:
    cores: list[Chem.Mol] = []
    prefilter: Chem.Mol | None = None
    substituents: dict[int, list[Substituent]] = {}
    excluded: set[str] = set()
    for n, (_, part, site, smarts, extend, comment) in rows:
        where = f"{path}:{n}"
        if part == "exclude":
            try:
                parents = parent_from_smiles(smarts)
            except StructureError as exc:
                raise ChemistryError(f"{where}: {exc}") from None
            excluded.add(inchikey(parents.mols[0])[:14])
            continue
        pattern = _smarts(where, smarts)
        if part == "core":
            cores.append(pattern)
            continue
        if part == "prefilter":
            prefilter = pattern
            continue
        if not site.isdigit():
            raise ChemistryError(f"{where}: a {part} row needs a site number")
        attachments = smarts.count("[#0]")  # query atoms like [F,Cl] also report atomic number 0
        if attachments == 0:
            raise ChemistryError(f"{where}: the anchor must start at an attachment point [#0]")
        substituents.setdefault(int(site), []).append(
            Substituent(
                site=int(site),
                further=part == "further",
                anchor=pattern,
                extend=None if extend == "-" else _smarts(where, extend),
                attachments=attachments,
                comment=comment,
            )
        )
    if not cores:
        raise ChemistryError(f"{path}: generic {label!r} has no core row")
    core_sites = {atom.GetAtomMapNum() for core in cores for atom in core.GetAtoms()} - {0}
    for site in substituents:
        if site not in core_sites:
            raise ChemistryError(
                f"{path}: generic {label!r} has rules for site {site}, no core has it"
            )
    return GenericDefinition(
        label=label,
        prefilter=prefilter,
        cores=tuple(cores),
        substituents={site: tuple(kinds) for site, kinds in substituents.items()},
        excluded_skeletons=frozenset(excluded),
    )


def _smarts(where: str, smarts: str) -> Chem.Mol:
    pattern = Chem.MolFromSmarts(smarts)
    if pattern is None:
        raise ChemistryError(f"{where}: invalid SMARTS {smarts!r}")
    return pattern


def _key_or_empty(mol: Chem.Mol) -> str:
    try:
        return inchikey(mol)
    except StructureError:
        return ""
