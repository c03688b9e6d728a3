"""Variant sets: every way of writing one substance resolves to one key."""

from __future__ import annotations

import pytest
from rdkit import Chem

import chemistry
from chemistry.library import default_library

LIBRARY = default_library()

# Hand-written sets: salts as sold, protonated and zwitterionic forms, odd drawings.
HAND_WRITTEN: dict[str, list[str]] = {
    "cocaine": [
        "COC(=O)[C@H]1[C@@H](OC(=O)c2ccccc2)C[C@@H]2CC[C@H]1N2C.Cl",
        "C[NH+]1[C@H]2CC[C@@H]1[C@H]([C@H](C2)OC(=O)c1ccccc1)C(=O)OC.[Cl-]",
        "Cocaine HCl",
        "COCAINE",
        "cocaine hydrochloride",
    ],
    "fentanyl": [
        "CCC(=O)N(c1ccccc1)C1CCN(CCc2ccccc2)CC1.OC(=O)CC(O)(CC(=O)O)C(=O)O",
        "CCC(=O)N(C1CC[NH+](CCC2=CC=CC=C2)CC1)C1=CC=CC=C1",
        "fentanyl citrate",
        "Fentanyl",
    ],
    "amphetamine": [
        "CC(N)Cc1ccccc1.CC(N)Cc1ccccc1.OS(=O)(=O)O",
        "C[C@H]([NH3+])Cc1ccccc1.[O-]S(=O)(=O)[O-].C[C@@H]([NH3+])Cc1ccccc1",
        "amphetamine sulfate",
        "InChI=1S/C9H13N/c1-8(10)7-9-5-3-2-4-6-9/h2-6,8H,7,10H2,1H3",
    ],
    "MDMA": [
        "CNC(C)CC1=CC2=C(OCO2)C=C1.Cl",
        "C[NH2+]C(C)Cc1ccc2OCOc2c1",
        "3,4-MDMA",
        "mdma hcl",
    ],
    "heroin": [
        "CC(=O)O[C@H]1C=C[C@H]2[C@H]3CC4=C5C(=C(OC(C)=O)C=C4)O[C@@H]1[C@]25CC[NH+]3C.[Cl-]",
        "diamorphine hydrochloride",
        "Diacetylmorphine",
    ],
    "pregabalin": [
        "CC(C)C[C@H](C[NH3+])CC([O-])=O",
        "CC(C)C[C@@H](CC(O)=O)CN",
    ],
    "gabapentin": [
        "[NH3+]CC1(CC([O-])=O)CCCCC1",
        "OC(=O)CC1(CN)CCCCC1",
        "[K+].[O-]C(=O)CC1(CN)CCCCC1",  # the anion is neutralised once K+ is stripped
    ],
    "GHB": ["OCCCC(=O)[O-].[Na+]", "sodium oxybate", "gamma-hydroxybutyric acid"],
    "clonazepam": [
        "O=C1CN=C(c2ccccc2Cl)c2cc(N(=O)=O)ccc2N1",  # pentavalent nitro, as some tools draw it
        "[O-][N+](=O)C1=CC2=C(NC(=O)CN=C2C2=CC=CC=C2Cl)C=C1",
    ],
    "psilocybin": [
        "C[NH+](C)CCc1c[nH]c2cccc(OP(=O)([O-])O)c12",
        "CN(C)CCc1c[nH]c2cccc(OP(O)(O)=O)c12",
    ],
    "methamphetamine": [
        "[2H]C([2H])([2H])NC(C)Cc1ccccc1",  # deuterated internal standard
        "CNC(C)CC1=CC=CC=C1.Cl",
        "d-methamphetamine HCl",
    ],
    "ketamine": ["CNC1(CCCCC1=O)c1ccccc1Cl.Cl", "ketamine hydrochloride", "KETAMINE"],
    "xylazine": [
        "Cc1cccc(C)c1N=C1NCCCS1",  # imino tautomer
        "CC1=C(NC2=NCCCS2)C(C)=CC=C1.Cl",
    ],
    "medetomidine": ["Cc1cccc(C(C)c2cnc[nH]2)c1C", "Cc1cccc(C(C)c2c[nH]cn2)c1C.Cl"],
}


def _protonated(mol: Chem.Mol) -> str | None:
    """SMILES with the most basic-looking amine protonated and a chloride added."""
    pattern = Chem.MolFromSmarts("[NX3;H0,H1,H2;!$(N-[#6,#16]=[#8,#16,#7]);!$(N-a);!$(N#*);!$(N=*)]")
    matches = mol.GetSubstructMatches(pattern)
    if not matches:
        return None
    rw = Chem.RWMol(mol)
    atom = rw.GetAtomWithIdx(matches[0][0])
    atom.SetFormalCharge(1)
    atom.SetNumExplicitHs(atom.GetTotalNumHs() + 1)
    atom.SetNoImplicit(True)
    Chem.SanitizeMol(rw)
    return Chem.MolToSmiles(rw) + ".[Cl-]"


def generated_variants(name: str) -> list[str]:
    substance = LIBRARY.by_name[name]
    mol = Chem.MolFromSmiles(substance.smiles_in_file)
    kekule = Chem.Mol(mol)
    Chem.Kekulize(kekule, clearAromaticFlags=True)
    variants = [
        substance.smiles_in_file,
        Chem.MolToSmiles(kekule, kekuleSmiles=True),
        *Chem.MolToRandomSmilesVect(mol, 2, randomSeed=7),
        Chem.MolToSmiles(Chem.AddHs(mol)),  # every H drawn as a "[H]" branch
        Chem.MolToSmiles(mol, allHsExplicit=True),
        Chem.MolToInchi(mol),
        substance.smiles_in_file + ".Cl",
        substance.smiles_in_file + ".O",  # a hydrate
        substance.name.upper(),
        f"  {substance.name.lower()} ",
        substance.name.replace("-", " "),
    ]
    protonated = _protonated(mol)
    if protonated:
        variants.append(protonated)
    return variants


GENERATED = [
    s.name
    for s in LIBRARY
    if s.smiles_in_file and s.category in {"nps", "controlled_drug"} and s.mol.GetNumHeavyAtoms() > 8
]


def test_enough_variant_sets() -> None:
    assert len(HAND_WRITTEN) + len(GENERATED) >= 60


@pytest.mark.parametrize("name", sorted(HAND_WRITTEN))
def test_hand_written_variants_resolve_to_one_key(name: str) -> None:
    expected = LIBRARY.by_name[name]
    for text in HAND_WRITTEN[name]:
        resolution = chemistry.resolve(text)
        assert resolution.error is None, text
        assert resolution.name == expected.name, text
        if resolution.kind != "name":
            # same skeleton always; same full key unless the variant drew other stereo
            assert resolution.key[:14] == expected.key[:14], text


@pytest.mark.parametrize("name", GENERATED)
def test_generated_variants_resolve_to_one_key(name: str) -> None:
    expected = LIBRARY.by_name[name]
    keys = set()
    for text in generated_variants(name):
        resolution = chemistry.resolve(text)
        assert resolution.error is None, text
        assert resolution.name == expected.name, text
        keys.add(resolution.key)
    assert keys == {expected.key}
