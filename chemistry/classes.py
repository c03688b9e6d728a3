"""Class labels by substructure: the rules in ``data/class_rules.tsv``, in priority order."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

from rdkit import Chem

from chemistry.errors import ChemistryError
from chemistry.library import CLASS_LABELS, DATA_DIR

CLASS_RULES_FILE = os.path.join(DATA_DIR, "class_rules.tsv")


@dataclass(frozen=True)
class ClassRule:
    """One SMARTS rule: a structure matching ``pattern`` belongs to ``klass``."""

    klass: str
    smarts: str
    comment: str
    pattern: Chem.Mol


def load_class_rules(path: str = CLASS_RULES_FILE) -> tuple[ClassRule, ...]:
    """Rules in file order.

    Raises:
        ChemistryError: naming the line of an unknown class or an invalid SMARTS.
    """
    rules = []
    with open(path, encoding="utf-8") as handle:
        for n, line in enumerate(handle, start=1):
            if not line.strip() or line.startswith("#") or line.startswith("class\t"):
                continue
            cells = line.rstrip("\r\n").split("\t")
            if len(cells) != 3:
                raise ChemistryError(f"{path}:{n}: expected class, smarts, comment")
            klass, smarts, comment = cells
            if klass not in CLASS_LABELS:
                raise ChemistryError(f"{path}:{n}: unknown class {klass!r}")
            pattern = Chem.MolFromSmarts(smarts)
            if pattern is None:
                raise ChemistryError(f"{path}:{n}: invalid SMARTS {smarts!r}")
            rules.append(ClassRule(klass, smarts, comment, pattern))
    return tuple(rules)


@cache
def default_class_rules() -> tuple[ClassRule, ...]:
    """The packaged rules, loaded once per process."""
    return load_class_rules()


def class_by_rules(mol: Chem.Mol, rules: tuple[ClassRule, ...] | None = None) -> ClassRule | None:
    """The first rule the structure matches, or None."""
    for rule in rules if rules is not None else default_class_rules():
        if mol.HasSubstructMatch(rule.pattern):
            return rule
    return None
