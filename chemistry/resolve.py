"""resolve(): one text (SMILES, InChI or name) to one substance identity.

Every policy of the package is written down here, once; each is pinned by tests in
tests/chemistry (the stereo and tautomer tests are named ``test_stereo_policy_*`` and
``test_tautomer_policy_*``).

* Input kinds, decided in this order:

  1. A text starting ``InChI=`` is an InChI.
  2. A text that is, as a whole, an exact name, synonym or street name is a name, even when
     it would also parse as SMILES ("PCP", "NPP", "CBN", "(PCP)"). Names are compared after
     normalisation (case, spaces, hyphens, punctuation and Greek letters folded: names.py),
     then again without salt, form and stereo words ("cocaine HCl", "(S)-amphetamine").
  3. A text without whitespace is tried as SMILES when, outside brackets, its only letters
     are organic-subset element symbols (B C N O P S F Cl Br I, aromatic b c n o s p) and,
     if it is made of letters only, they are all capitals ("CCO", "CNO"); so "coke",
     "Xanax" or "ketamin" are never read as SMILES. When it also has syntax no name has
     (branches, brackets, bond symbols, a ring-closure digit after an atom, a dot), it can
     only be SMILES: a parse failure is reported as a SMILES error, and the name rules of
     step 4 are skipped. That is the fast path, and it also keeps a SMILES branch such as
     ``([H])`` from being read as the street name "H".
  4. Otherwise, in order: a name in or around parentheses ("Xanax (alprazolam)"), a mixture
     of names ("heroin + fentanyl", "heroin/fentanyl"), a typo of a name (one edit: names.py).

* Standardisation: the recipe in standardise.py (salts and solvents stripped, charges
  neutralised, isotopes dropped, ChEMBL's normalisation of non-standard drawings). Distinct
  drug-sized components make a mixture: key null, one resolution per component.
* Tautomers. No tautomer canonicaliser runs before the key (DESIGN.md: RDKit's drops stereo
  next to carbonyls and rewrites some benzodiazepines). The standard InChI's mobile-H layer is
  the policy: prototropic tautomers (2-pyridone and 2-hydroxypyridine, amidine and imidazole
  H shifts, amide and imidic acid) share a key; keto and enol forms do not (standard InChI
  does not merge them); stereo next to a carbonyl is kept.
* Stereo. The key is the standard InChIKey of the input's own parent and keeps its stereo
  layer, so a racemate and each enantiomer have different keys. All of them resolve to the
  same library substance (name, class, novel=False; match "stereoisomer") when the library
  lists that skeleton: UK law controls a drug's stereoisomers with it. Where the library lists
  only stereo-specific entries of a skeleton (dextromethorphan, levomethorphan), the exact key
  wins and a structure drawn without stereo gets both as candidates, name null. Two
  enantiomers drawn side by side ("A.B") are the racemate: one structure without stereo.
* Novelty: novel is True when neither the key nor its skeleton is in the library.
* Analogue: the most similar library entry with a different skeleton (Morgan radius 2, 2048
  bits, Tanimoto), reported when the similarity is at least ANALOGUE_MIN; for a library
  substance it is its nearest other entry.
* Class of a novel structure: the first substructure rule that matches; else the class of
  the nearest library entry when the similarity is at least NEAREST_NEIGHBOUR_MIN; else
  "other". Library entries carry their own class.
* UK generic definitions: ``uk_generic`` names the Misuse of Drugs Act generic clause a
  structure falls under ("cathinone_generic", "cannabinoid_generic_2016"), for novel and known
  structures alike, or None. Only what clearly falls within a clause's words is flagged; the
  clauses, the rules and their limits are in generics.py and data/uk_generics.tsv.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

from rdkit import Chem

from chemistry.classes import class_by_rules
from chemistry.generics import uk_generic
from chemistry.library import Library, Substance, default_library, fingerprint
from chemistry.names import NameIndex, NameMatch, default_name_index, strip_qualifiers
from chemistry.standardise import (
    MAX_INPUT_LENGTH,
    Parents,
    StructureError,
    canonical_smiles,
    inchikey,
    parent_from_inchi,
    parent_from_smiles,
)

ANALOGUE_MIN = 0.25
NEAREST_NEIGHBOUR_MIN = 0.40
CACHE_SIZE = 100_000

_LETTERS_ONLY = re.compile(r"[A-Za-z]+")
_ORGANIC_CAPITALS = re.compile(r"(?:Cl|Br|[BCNOSPFI])+")
_SMILES_ALPHABET = re.compile(r"[A-Za-z0-9@+\-\[\]\(\)=#$:/\\%.*]+")
_SMILES_ONLY_CHARS = re.compile(r"[()\[\]=#@\\/%.]|(?:Cl|Br|[BCNOSPFIcnosp])\d")
_BRACKET_ATOM = re.compile(r"\[[^\]]*\]")
_BARE_ATOM_LETTERS = set("BCNOSPFIcnosp")
_MIXTURE_SEPARATORS = re.compile(r"\s+\+\s+|\s*\+\s*(?=\D)|\s+and\s+|\s*&\s*|\s*;\s*|\s+with\s+|\s*/\s*|,\s+")
_PARENTHESISED = re.compile(r"^(?P<outer>.*?)\s*\((?P<inner>[^()]*)\)\s*(?P<rest>.*)$")


@dataclass(frozen=True)
class Analogue:
    """The nearest known substance to a structure."""

    name: str
    key: str
    similarity: float

    def to_dict(self) -> dict[str, Any]:
        """``{name, key, similarity}`` as in DESIGN.md."""
        return {"name": self.name, "key": self.key, "similarity": self.similarity}


@dataclass(frozen=True)
class Resolution:
    """What one input text is: the fields of ``ews chem resolve --json``."""

    input: str
    kind: str  # smiles | inchi | name | unknown
    key: str | None = None
    smiles: str | None = None
    name: str | None = None
    klass: str | None = None  # serialised as "class"
    novel: bool = False
    analogue: Analogue | None = None
    error: str | None = None
    confidence: float = 1.0
    candidates: tuple[str, ...] = ()
    components: tuple[Resolution, ...] = ()
    uk_status: str | None = None
    uk_generic: str | None = None  # "cathinone_generic" | "cannabinoid_generic_2016" | None
    category: str | None = None
    match: str | None = None  # exact | stereoisomer | synonym | street_name | fuzzy | ...
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The DESIGN JSON fields in order, then the extra fields."""
        return {
            "input": self.input,
            "kind": self.kind,
            "key": self.key,
            "smiles": self.smiles,
            "name": self.name,
            "class": self.klass,
            "novel": self.novel,
            "analogue": self.analogue.to_dict() if self.analogue else None,
            "error": self.error,
            "confidence": self.confidence,
            "candidates": list(self.candidates),
            "components": [c.to_dict() for c in self.components],
            "uk_status": self.uk_status,
            "uk_generic": self.uk_generic,
            "category": self.category,
            "match": self.match,
        }


def resolve(text: str) -> Resolution:
    """Resolve one SMILES, InChI or name; never raises (bad input gives ``error``)."""
    if not isinstance(text, str):
        return Resolution(input=repr(text), kind="unknown", error="input is not text")
    try:
        return _resolve_cached(text)
    except Exception as exc:  # a bug must not take the pipeline down: report it
        return Resolution(input=text, kind="unknown", error=f"internal error: {exc!r}")


def resolve_many(texts: Iterable[str]) -> list[Resolution]:
    """Resolve each text, in input order."""
    return [resolve(text) for text in texts]


def cache_clear() -> None:
    """Forget cached resolutions (after the library changes)."""
    _resolve_cached.cache_clear()


@lru_cache(maxsize=CACHE_SIZE)
def _resolve_cached(text: str) -> Resolution:
    return _Resolver(default_library(), default_name_index()).resolve(text)


class _Resolver:
    def __init__(self, library: Library, names: NameIndex) -> None:
        self.library = library
        self.names = names

    # --- dispatch --------------------------------------------------------------------

    def resolve(self, text: str) -> Resolution:
        stripped = text.strip()
        if not stripped:
            return Resolution(input=text, kind="unknown", error="empty input")
        if len(stripped) > MAX_INPUT_LENGTH:
            return Resolution(
                input=text,
                kind="unknown",
                error=f"input is {len(stripped)} characters long; the limit is {MAX_INPUT_LENGTH}",
            )
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in stripped):
            return Resolution(input=text, kind="unknown", error="input contains control characters")
        if stripped.startswith("InChI="):
            return self._from_structure(text, "inchi", lambda: parent_from_inchi(stripped))
        may_be_smiles = self._try_as_smiles(stripped)
        smiles_only = may_be_smiles and self._looks_like_smiles(stripped)
        # Fast path: a text that can only be SMILES is looked up as a whole name (two dict
        # lookups), never split into parts ("([H])" is a branch, not the street name "H").
        by_name = (
            self._whole_name(text, stripped) if smiles_only else self._exact_name(text, stripped)
        )
        if by_name is not None:
            return by_name
        if may_be_smiles:
            result = self._from_structure(text, "smiles", lambda: parent_from_smiles(stripped))
            if result.error is None or smiles_only:
                return result
        mixture = self._mixture_name(text, stripped)
        if mixture is not None:
            return mixture
        match, ambiguity = self.names.fuzzy(stripped)
        if match is not None:
            return self._from_name_match(text, match, "fuzzy")
        if not any(ch.isalpha() for ch in stripped):
            return Resolution(
                input=text, kind="unknown", error="not a SMILES, an InChI or a substance name"
            )
        if ambiguity:
            return Resolution(input=text, kind="name", error=f"{ambiguity} ({stripped!r})")
        return Resolution(input=text, kind="name", error=f"unknown substance name {stripped!r}")

    @staticmethod
    def _try_as_smiles(text: str) -> bool:
        """Could this text be a SMILES at all? (The input-kind rule in the module docstring.)

        Outside brackets a SMILES has no letters but organic-subset element symbols, so a
        text with any other letter ("coke", "N-(acetyl)-thebaol") is a name.
        """
        if any(ch.isspace() for ch in text) or not _SMILES_ALPHABET.fullmatch(text):
            return False
        if _LETTERS_ONLY.fullmatch(text):
            return bool(_ORGANIC_CAPITALS.fullmatch(text))
        bare = _BRACKET_ATOM.sub("", text).replace("Cl", "").replace("Br", "")
        return all(ch in _BARE_ATOM_LETTERS for ch in bare if ch.isalpha())

    @staticmethod
    def _looks_like_smiles(text: str) -> bool:
        """Characters no name has: a parse failure is then reported as a SMILES error."""
        return bool(_SMILES_ONLY_CHARS.search(text))

    # --- names -------------------------------------------------------------------------

    def _whole_name(self, text: str, stripped: str) -> Resolution | None:
        """The text as a whole is a name: as written, else without qualifier words."""
        match = self.names.lookup(stripped)
        if match is not None:
            return self._from_name_match(text, match, "name")
        unqualified = strip_qualifiers(stripped)
        if unqualified and unqualified != stripped:
            match = self.names.lookup(unqualified)
            if match is not None:
                return self._from_name_match(text, match, "name_without_qualifiers")
        return None

    def _exact_name(self, text: str, stripped: str) -> Resolution | None:
        """A whole name, else a name in or around parentheses ("Xanax (alprazolam)")."""
        whole = self._whole_name(text, stripped)
        if whole is not None:
            return whole
        parts = _PARENTHESISED.match(stripped)
        if parts:
            for candidate in (parts["outer"], parts["inner"], f"{parts['outer']} {parts['rest']}"):
                if candidate.strip():
                    match = self.names.lookup(candidate) or self.names.lookup(
                        strip_qualifiers(candidate)
                    )
                    if match is not None:
                        return self._from_name_match(text, match, "name_in_parentheses")
        return None

    def _mixture_name(self, text: str, stripped: str) -> Resolution | None:
        parts = [p for p in _MIXTURE_SEPARATORS.split(stripped) if p.strip()]
        if len(parts) < 2:
            return None
        components = []
        for part in parts:
            found = self._exact_name(part, part.strip())
            if found is None:
                match, _ = self.names.fuzzy(part)
                found = self._from_name_match(part, match, "fuzzy") if match else None
            if found is None:
                return None
            components.append(found)
        return self._mixture(text, "name", tuple(components))

    def _from_name_match(self, text: str, match: NameMatch, how: str) -> Resolution:
        if match.substance is not None:
            substance = match.substance
            return Resolution(
                input=text,
                kind="name",
                key=substance.key or None,
                smiles=substance.smiles or None,
                name=substance.name,
                klass=substance.klass,
                novel=False,
                analogue=self._analogue_of_substance(substance),
                confidence=match.confidence,
                uk_status=substance.uk_status or None,
                uk_generic=_generic_of_substance(self.library, substance.name),
                category=substance.category,
                match=how,
            )
        street = match.street
        assert street is not None
        return Resolution(
            input=text,
            kind="name",
            klass=street.klass,
            novel=False,
            confidence=match.confidence,
            candidates=street.candidates,
            match="street_name" if how == "name" else how,
        )

    # --- structures ----------------------------------------------------------------------

    def _from_structure(self, text: str, kind: str, parse: Any) -> Resolution:
        try:
            parents: Parents = parse()
        except StructureError as exc:
            return Resolution(input=text, kind=kind, error=str(exc))
        if len(parents.mols) == 1:
            return self._from_parent(text, kind, parents.mols[0])
        components = tuple(self._from_parent(text, kind, mol) for mol in parents.mols)
        failed = [c.error for c in components if c.error]
        if failed:
            return Resolution(input=text, kind=kind, error=failed[0])
        return self._mixture(text, kind, components)

    def _from_parent(self, text: str, kind: str, mol: Chem.Mol) -> Resolution:
        try:
            key = inchikey(mol)
        except StructureError as exc:
            return Resolution(input=text, kind=kind, error=str(exc))
        smiles = canonical_smiles(mol)
        matches = self.library.find_structure(key)
        if len(matches) > 1:  # stereo-specific entries only, and the input is none of them
            klasses = {m.klass for m in matches}
            return Resolution(
                input=text,
                kind=kind,
                key=key,
                smiles=smiles,
                klass=klasses.pop() if len(klasses) == 1 else None,
                novel=False,
                candidates=tuple(m.name for m in matches),
                uk_generic=_generic_of_substance(self.library, matches[0].name),
                match="stereoisomer_ambiguous",
            )
        if matches:
            known = matches[0]
            return Resolution(
                input=text,
                kind=kind,
                key=key,
                smiles=smiles,
                name=known.name,
                klass=known.klass,
                novel=False,
                analogue=self._analogue_of_substance(known),
                uk_status=known.uk_status or None,
                uk_generic=_generic_of_substance(self.library, known.name),
                category=known.category,
                match="exact" if known.key == key else "stereoisomer",
            )
        fp = fingerprint(mol)
        nearest = self.library.nearest(fp)
        return Resolution(
            input=text,
            kind=kind,
            key=key,
            smiles=smiles,
            klass=self._classify(mol, nearest),
            novel=True,
            analogue=self._analogue(nearest),
            uk_generic=uk_generic(mol, key),
            match="novel",
        )

    def _classify(self, mol: Chem.Mol, nearest: tuple[Substance, float] | None) -> str:
        rule = class_by_rules(mol)
        if rule is not None:
            return rule.klass
        if nearest is not None and nearest[1] >= NEAREST_NEIGHBOUR_MIN:
            return nearest[0].klass
        return "other"

    def _analogue_of_substance(self, substance: Substance) -> Analogue | None:
        if substance.fp is None:
            return None
        return _nearest_other(self.library, substance.name)

    @staticmethod
    def _analogue(nearest: tuple[Substance, float] | None) -> Analogue | None:
        if nearest is None or nearest[1] < ANALOGUE_MIN:
            return None
        substance, similarity = nearest
        return Analogue(substance.name, substance.key, round(similarity, 3))

    def _mixture(self, text: str, kind: str, components: tuple[Resolution, ...]) -> Resolution:
        klasses = {c.klass for c in components}
        smiles = [c.smiles for c in components]
        return Resolution(
            input=text,
            kind=kind,
            key=None,
            smiles=".".join(s for s in smiles if s) if all(smiles) else None,
            klass=klasses.pop() if len(klasses) == 1 else None,
            novel=any(c.novel for c in components),
            components=components,
            match="mixture",
        )


@cache
def _generic_of_substance(library: Library, name: str) -> str | None:
    """A library entry's generic; its stereoisomers share it (generics ignore stereo)."""
    substance = library.by_name[name]
    return uk_generic(substance.mol, substance.key) if substance.mol is not None else None


@lru_cache(maxsize=None)
def _nearest_other(library: Library, name: str) -> Analogue | None:
    substance = library.by_name[name]
    assert substance.fp is not None
    nearest = library.nearest(substance.fp, exclude_connectivity=substance.connectivity)
    return _Resolver._analogue(nearest)
