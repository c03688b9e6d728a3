"""Reference library of known substances, loaded from ``data/substances.tsv``."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache

from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

from chemistry.errors import ChemistryError
from chemistry.standardise import StructureError, canonical_smiles, inchikey, parent_from_smiles

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
SUBSTANCES_FILE = os.path.join(DATA_DIR, "substances.tsv")

CLASS_LABELS = (
    "synthetic_cannabinoid",
    "synthetic_cathinone",
    "phenethylamine",
    "tryptamine",
    "arylcyclohexylamine",
    "benzodiazepine",
    "nitazene",
    "fentanyl_analogue",
    "other_opioid",
    "piperazine",
    "aminoindane",
    "lysergamide",
    "gabapentinoid",
    "xylazine_like",
    "other",
)
CATEGORIES = ("nps", "controlled_drug", "medicine", "adulterant", "precursor", "other")
UK_STATUSES = ("Class A", "Class B", "Class C", "PSA 2016", "not controlled", "")
COLUMNS = (
    "name",
    "synonyms",
    "street_names",
    "smiles",
    "formula",
    "class",
    "category",
    "uk_status",
    "source",
)

_MORGAN = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)


def fingerprint(mol: Chem.Mol) -> DataStructs.ExplicitBitVect:
    """Morgan fingerprint, radius 2, 2048 bits: the similarity measure of the package."""
    return _MORGAN.GetFingerprint(mol)


@dataclass(frozen=True)
class Substance:
    """One reference library entry, with its standardised parent computed at load time."""

    name: str
    synonyms: tuple[str, ...]
    street_names: tuple[str, ...]
    smiles_in_file: str
    formula: str
    klass: str
    category: str
    uk_status: str
    source: str
    line: int
    key: str = ""
    smiles: str = ""
    mol: Chem.Mol | None = field(default=None, compare=False, repr=False)
    fp: DataStructs.ExplicitBitVect | None = field(default=None, compare=False, repr=False)

    @property
    def connectivity(self) -> str:
        """First block of the InChIKey: the skeleton without stereo or protonation."""
        return self.key[:14]


class Library:
    """The loaded library: entries, indexes by key and connectivity, fingerprints."""

    def __init__(self, substances: list[Substance]) -> None:
        self.substances: tuple[Substance, ...] = tuple(substances)
        self.by_name: dict[str, Substance] = {s.name: s for s in substances}
        self.by_key: dict[str, Substance] = {}
        self.by_connectivity: dict[str, list[Substance]] = {}
        for substance in substances:
            if substance.key:
                self.by_key.setdefault(substance.key, substance)
                self.by_connectivity.setdefault(substance.connectivity, []).append(substance)
        self.structures: tuple[Substance, ...] = tuple(s for s in substances if s.fp is not None)
        self._fps = [s.fp for s in self.structures]

    def __iter__(self) -> Iterator[Substance]:
        return iter(self.substances)

    def __len__(self) -> int:
        return len(self.substances)

    def find_structure(self, key: str) -> list[Substance]:
        """Library entries for a key: the exact key, else the entries of the same skeleton.

        A skeleton match (first InChIKey block) is a stereoisomer, racemate or enantiomer of
        a listed substance. When the skeleton has an entry without stereo, that one entry is
        the answer; when it only has stereo-specific entries (dextromethorphan and
        levomethorphan), all of them are returned and the caller cannot pick one.
        """
        exact = self.by_key.get(key)
        if exact is not None:
            return [exact]
        same_skeleton = self.by_connectivity.get(key[:14], [])
        flat = [s for s in same_skeleton if s.key.endswith("-UHFFFAOYSA-N")]
        return flat[:1] or list(same_skeleton)

    def nearest(
        self, fp: DataStructs.ExplicitBitVect, exclude_connectivity: str | None = None
    ) -> tuple[Substance, float] | None:
        """Most similar library entry (Tanimoto), optionally skipping one skeleton."""
        if not self._fps:
            return None
        scores = DataStructs.BulkTanimotoSimilarity(fp, self._fps)
        order = sorted(range(len(scores)), key=scores.__getitem__, reverse=True)
        for index in order:
            substance = self.structures[index]
            if exclude_connectivity and substance.connectivity == exclude_connectivity:
                continue
            return substance, scores[index]
        return None


def _split(cell: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in cell.split(";") if part.strip())


def read_rows(path: str = SUBSTANCES_FILE) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of the substances file with their line numbers; comments skipped."""
    with open(path, encoding="utf-8", newline="") as handle:
        lines = [(n, line) for n, line in enumerate(handle, start=1)]
    body = [(n, line) for n, line in lines if line.strip() and not line.startswith("#")]
    if not body:
        raise ChemistryError(f"{path}: no header row")
    header_line, header = body[0]
    columns = header.rstrip("\r\n").split("\t")
    if tuple(columns) != COLUMNS:
        expected = "<TAB>".join(COLUMNS)
        raise ChemistryError(f"{path}:{header_line}: header must be {expected}")
    for n, line in body[1:]:
        cells = next(csv.reader([line.rstrip("\r\n")], delimiter="\t", quoting=csv.QUOTE_NONE))
        if len(cells) != len(COLUMNS):
            raise ChemistryError(
                f"{path}:{n}: expected {len(COLUMNS)} tab-separated columns, got {len(cells)}"
            )
        yield n, dict(zip(COLUMNS, cells))


def load_library(path: str = SUBSTANCES_FILE) -> Library:
    """Parse, validate and standardise every row of the substances file.

    Raises:
        ChemistryError: naming the file and line of the first invalid row.
    """
    substances = []
    for line, row in read_rows(path):
        where = f"{path}:{line} ({row['name']})"
        if row["class"] not in CLASS_LABELS:
            raise ChemistryError(f"{where}: unknown class {row['class']!r}")
        if row["category"] not in CATEGORIES:
            raise ChemistryError(f"{where}: unknown category {row['category']!r}")
        if row["uk_status"] not in UK_STATUSES:
            raise ChemistryError(f"{where}: unknown uk_status {row['uk_status']!r}")
        key = smiles = ""
        mol = fp = None
        if row["smiles"]:
            try:
                parents = parent_from_smiles(row["smiles"])
            except StructureError as exc:
                raise ChemistryError(f"{where}: {exc}") from None
            if len(parents.mols) != 1:
                raise ChemistryError(f"{where}: SMILES is a mixture")
            mol = parents.mols[0]
            key, smiles, fp = inchikey(mol), canonical_smiles(mol), fingerprint(mol)
        substances.append(
            Substance(
                name=row["name"],
                synonyms=_split(row["synonyms"]),
                street_names=_split(row["street_names"]),
                smiles_in_file=row["smiles"],
                formula=row["formula"],
                klass=row["class"],
                category=row["category"],
                uk_status=row["uk_status"],
                source=row["source"],
                line=line,
                key=key,
                smiles=smiles,
                mol=mol,
                fp=fp,
            )
        )
    return Library(substances)


@cache
def default_library() -> Library:
    """The packaged library, loaded once per process."""
    return load_library()
