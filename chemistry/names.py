"""Name resolution: exact lookup on normalised names, then typo tolerance with rapidfuzz.

Normalisation folds case, Greek letters and every character that is not a letter or a digit,
so "Alpha-PVP", "α-PVP" and "alpha pvp" are one name. Typo tolerance is deliberately narrow
because one character separates many real substances (clonazolam/clonazepam,
etizolam/metizolam, 3-MMC/4-MMC): a fuzzy match needs the same digits, the same first two
characters, and a Damerau-Levenshtein distance of 1 (one substitution, insertion, deletion or
transposition of neighbours); two candidates at that distance are ambiguous and rejected.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from functools import cache

from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

from chemistry.errors import ChemistryError
from chemistry.library import CLASS_LABELS, DATA_DIR, Library, Substance, default_library

STREET_NAMES_FILE = os.path.join(DATA_DIR, "street_names.tsv")
NAME_WORDS_FILE = os.path.join(DATA_DIR, "name_words.tsv")

MIN_FUZZY_LENGTH = 5
MAX_TYPO_EDITS = 1

_GREEK = {
    "α": "alpha",
    "β": "beta",
    "γ": "gamma",
    "δ": "delta",
    "ω": "omega",
    "µ": "mu",
    "μ": "mu",
}
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")
_DIGITS = re.compile(r"\d+")


def normalise_name(text: str) -> str:
    """Case-, space-, hyphen- and punctuation-insensitive form of a name."""
    if text.isascii():  # the same result, without the Unicode passes (most inputs)
        return _NOT_ALNUM.sub("", text.lower())
    folded = unicodedata.normalize("NFKC", text).casefold()
    folded = "".join(_GREEK.get(ch, ch) for ch in folded)
    folded = unicodedata.normalize("NFKD", folded)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return _NOT_ALNUM.sub("", folded)


@dataclass(frozen=True)
class StreetName:
    """A street name for a class and/or a set of candidate substances."""

    name: str
    klass: str | None
    candidates: tuple[str, ...]


@dataclass(frozen=True)
class NameMatch:
    """What a name points at: one substance, or a street name (class/candidates)."""

    written: str  # the name as the index holds it
    substance: Substance | None = None
    street: StreetName | None = None
    confidence: float = 1.0


class NameIndex:
    """Exact and fuzzy lookup over preferred names, synonyms and street names."""

    def __init__(self, library: Library, streets: list[StreetName]) -> None:
        self.exact: dict[str, NameMatch] = {}
        street_candidates: dict[str, list[str]] = {}
        # Preferred names first, then synonyms: a synonym never shadows a preferred name.
        for substance in library:
            self._add(substance.name, NameMatch(substance.name, substance=substance))
        for substance in library:
            for synonym in substance.synonyms:
                self._add(synonym, NameMatch(synonym, substance=substance))
        for substance in library:
            for street in substance.street_names:
                street_candidates.setdefault(street, []).append(substance.name)
        for street in streets:
            self._add(street.name, NameMatch(street.name, street=street))
        for street, names in street_candidates.items():
            klasses = {library.by_name[n].klass for n in names}
            entry = StreetName(street, klasses.pop() if len(klasses) == 1 else None, tuple(names))
            self._add(street, NameMatch(street, street=entry))
        self._fuzzy_keys = [k for k in self.exact if len(k) >= MIN_FUZZY_LENGTH - 1]

    def _add(self, written: str, match: NameMatch) -> None:
        key = normalise_name(written)
        if key:
            self.exact.setdefault(key, match)

    def lookup(self, text: str) -> NameMatch | None:
        """Exact lookup of a normalised name."""
        return self.exact.get(normalise_name(text))

    def fuzzy(self, text: str) -> tuple[NameMatch | None, str | None]:
        """Typo-tolerant lookup: (match, None) or (None, reason)."""
        query = normalise_name(text)
        if len(query) < MIN_FUZZY_LENGTH:
            return None, None
        budget = MAX_TYPO_EDITS
        hits = process.extract(
            query,
            self._fuzzy_keys,
            scorer=DamerauLevenshtein.distance,
            score_cutoff=budget,
            limit=8,
        )
        digits = _DIGITS.findall(query)
        plausible = [
            (key, int(distance))
            for key, distance, _ in hits
            if key[:2] == query[:2] and _DIGITS.findall(key) == digits
        ]
        if not plausible:
            return None, None
        best = min(distance for _, distance in plausible)
        closest = [key for key, distance in plausible if distance == best]
        targets = {self._target(self.exact[key]) for key in closest}
        if len(targets) > 1:
            names = sorted({self.exact[key].written for key in closest})
            return None, "ambiguous name: could be " + " or ".join(repr(n) for n in names)
        key = closest[0]
        confidence = round(DamerauLevenshtein.normalized_similarity(query, key), 3)
        match = self.exact[key]
        return NameMatch(match.written, match.substance, match.street, confidence), None

    @staticmethod
    def _target(match: NameMatch) -> str:
        if match.substance is not None:
            return "substance:" + match.substance.name
        assert match.street is not None
        return f"street:{match.street.klass}:{','.join(match.street.candidates)}"


def load_street_names(library: Library, path: str = STREET_NAMES_FILE) -> list[StreetName]:
    """Street names of the street-names file, validated against the library.

    Raises:
        ChemistryError: naming the line of an unknown class or candidate.
    """
    streets = []
    with open(path, encoding="utf-8") as handle:
        for n, line in enumerate(handle, start=1):
            if not line.strip() or line.startswith("#") or line.startswith("street_name\t"):
                continue
            cells = line.rstrip("\r\n").split("\t")
            if len(cells) != 3:
                raise ChemistryError(f"{path}:{n}: expected street_name, class, candidates")
            name, klass, candidates = cells
            if klass and klass not in CLASS_LABELS:
                raise ChemistryError(f"{path}:{n}: unknown class {klass!r}")
            names = tuple(c.strip() for c in candidates.split(";") if c.strip())
            for candidate in names:
                if candidate not in library.by_name:
                    raise ChemistryError(f"{path}:{n}: unknown candidate {candidate!r}")
            streets.append(StreetName(name, klass or None, names))
    return streets


def load_name_words(path: str = NAME_WORDS_FILE) -> tuple[str, ...]:
    """Qualifier words (salts, forms, stereo descriptors), longest first."""
    words = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.strip() or line.startswith("#") or line.startswith("word\t"):
                continue
            words.append(line.split("\t")[0].strip().casefold())
    return tuple(sorted(words, key=len, reverse=True))


@cache
def default_name_index() -> NameIndex:
    """Name index over the packaged library, built once per process."""
    library = default_library()
    return NameIndex(library, load_street_names(library))


@cache
def _qualifier_pattern() -> re.Pattern[str]:
    alternatives = "|".join(re.escape(w) for w in load_name_words())
    return re.compile(rf"(?<![\w(])(?:{alternatives})(?![\w)])\s*-?", re.IGNORECASE)


def strip_qualifiers(text: str) -> str:
    """The name without salt, form and stereo words ("d-methamphetamine HCl" -> "methamphetamine")."""
    stripped = _qualifier_pattern().sub(" ", text)
    return " ".join(stripped.split()).strip(" -,")
