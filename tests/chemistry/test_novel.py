"""Novel structures: not in the library, in the right class, with a sensible analogue."""

from __future__ import annotations

import pytest

import chemistry
from chemistry.library import default_library

PLANTED_CANNABINOID = "COC(=O)[C@@H](NC(=O)c1nn(CCCCC=C)c2ccccc12)C(C)(C)C"

# (description, SMILES, expected class). Each is a plausible new analogue of a known NPS.
NOVEL: list[tuple[str, str, str]] = [
    ("nitazene with a 2-methoxyethoxy group", "COCCOc1ccc(Cc2nc3cc([N+](=O)[O-])ccc3n2CCN(CC)CC)cc1", "nitazene"),
    ("nitazene with a cyclopropylmethoxy group", "O(CC1CC1)c1ccc(Cc2nc3cc([N+](=O)[O-])ccc3n2CCN(CC)CC)cc1", "nitazene"),
    ("N-morpholino etonitazene", "CCOc1ccc(Cc2nc3cc([N+](=O)[O-])ccc3n2CCN2CCOCC2)cc1", "nitazene"),
    ("pentoxy nitazene", "CCCCCOc1ccc(Cc2nc3cc([N+](=O)[O-])ccc3n2CCN(CC)CC)cc1", "nitazene"),
    ("hex-5-enyl MDMB-PINACA (planted)", PLANTED_CANNABINOID, "synthetic_cannabinoid"),
    ("4-cyanobutyl MDMB-BINACA", "COC(=O)[C@@H](NC(=O)c1nn(CCCCC#N)c2ccccc12)C(C)(C)C", "synthetic_cannabinoid"),
    ("ADB-HEXINACA", "NC(=O)[C@@H](NC(=O)c1nn(CCCCCC)c2ccccc12)C(C)(C)C", "synthetic_cannabinoid"),
    ("5F-EMB-PICA", "CCOC(=O)[C@@H](NC(=O)c1cn(CCCCCF)c2ccccc12)C(C)C", "synthetic_cannabinoid"),
    ("3,4-dimethylmethcathinone", "CNC(C)C(=O)c1ccc(C)c(C)c1", "synthetic_cathinone"),
    ("4-bromomethcathinone", "CNC(C)C(=O)c1ccc(Br)cc1", "synthetic_cathinone"),
    ("3-fluoro-alpha-PHP", "CCCCC(N1CCCC1)C(=O)c1cccc(F)c1", "synthetic_cathinone"),
    ("4-methoxy-N-ethylpentedrone", "CCCC(NCC)C(=O)c1ccc(OC)cc1", "synthetic_cathinone"),
    ("8-iodo alprazolam", "Cc1nnc2n1-c1ccc(I)cc1C(c1ccccc1)=NC2", "benzodiazepine"),
    ("1-ethyl flubromazolam", "CCc1nnc2n1-c1ccc(Br)cc1C(c1ccccc1F)=NC2", "benzodiazepine"),
    ("fonazepam (desmethylflunitrazepam)", "O=C1CN=C(c2ccccc2F)c2cc([N+](=O)[O-])ccc2N1", "benzodiazepine"),
    ("para-chlorovalerylfentanyl", "CCCCC(=O)N(c1ccc(Cl)cc1)C1CCN(CCc2ccccc2)CC1", "fentanyl_analogue"),
    ("ortho-fluorofuranylfentanyl", "O=C(c1ccco1)N(c1ccccc1F)C1CCN(CCc2ccccc2)CC1", "fentanyl_analogue"),
    ("3-MeO-PCPy", "COc1cccc(c1)C1(CCCCC1)N1CCCC1", "arylcyclohexylamine"),
    ("2-bromodeschloroketamine", "CNC1(CCCCC1=O)c1ccccc1Br", "arylcyclohexylamine"),
    ("25B-NBF", "Fc1ccccc1CNCCc1cc(OC)c(Br)cc1OC", "phenethylamine"),
    ("4-chloroamphetamine", "CC(N)Cc1ccc(Cl)cc1", "phenethylamine"),
    ("2C-T-4", "CC(C)Sc1cc(OC)c(CCN)cc1OC", "phenethylamine"),
    ("4-HO-MiPT", "CC(C)N(C)CCc1c[nH]c2cccc(O)c12", "tryptamine"),
    ("5-MeO-DALT", "C=CCN(CC=C)CCc1c[nH]c2ccc(OC)cc12", "tryptamine"),
    ("1cP-LSD", "O=C(C1CC1)n1cc2c3c(cccc31)C1=C[C@@H](C(=O)N(CC)CC)CN(C)[C@@H]1C2", "lysergamide"),
    ("ETH-LAD", "CCN1C[C@H](C(=O)N(CC)CC)C=C2c3cccc4[nH]cc(c34)C[C@H]21", "lysergamide"),
    ("5-methoxy-2-aminoindane", "COc1ccc2CC(N)Cc2c1", "aminoindane"),
    ("3,4-dichlorophenylpiperazine", "Clc1ccc(cc1Cl)N1CCNCC1", "piperazine"),
    ("4-chlorobenzylpiperazine", "Clc1ccc(CN2CCNCC2)cc1", "piperazine"),
    ("2,6-diethyl xylazine", "CCc1cccc(CC)c1NC1=NCCCS1", "xylazine_like"),
    ("3-fluoro medetomidine", "CC(c1c[nH]cn1)c1cccc(F)c1C", "xylazine_like"),
    ("cyclohexyl-GABA", "NCC(CC(=O)O)C1CCCCC1", "gabapentinoid"),
    ("3,4-difluoro U-47700", "CN(C)C1CCCCC1N(C)C(=O)c1ccc(F)c(F)c1", "other_opioid"),
    ("ethylmorphine", "CN1CC[C@]23[C@@H]4[C@H]1CC5=C2C(=C(C=C5)OCC)O[C@H]3[C@H](C=C4)O", "other_opioid"),
    ("chlorphine (4-chloro brorphine)", "CC(c1ccc(Cl)cc1)N1CCC(n2c(=O)[nH]c3ccccc32)CC1", "other_opioid"),
]


def test_novel_set_is_broad_enough() -> None:
    assert len(NOVEL) >= 25
    assert len({klass for _, _, klass in NOVEL}) >= 8


@pytest.mark.parametrize(("description", "smiles", "klass"), NOVEL, ids=[d for d, _, _ in NOVEL])
def test_novel_analogue_is_novel_in_the_right_class(description: str, smiles: str, klass: str) -> None:
    resolution = chemistry.resolve(smiles)
    assert resolution.error is None
    assert resolution.kind == "smiles"
    assert resolution.novel is True
    assert resolution.name is None
    assert resolution.klass == klass
    # a sensible analogue: a known substance of the same class
    assert resolution.analogue is not None
    analogue = default_library().by_name[resolution.analogue.name]
    assert analogue.klass == klass, resolution.analogue
    # Morgan bits cannot tell a pyrrolidine from a piperidine ring, so 1.0 can happen
    assert 0 < resolution.analogue.similarity <= 1


def test_planted_cannabinoid_is_a_novel_mdmb_4en_pinaca_analogue() -> None:
    resolution = chemistry.resolve(PLANTED_CANNABINOID)
    assert resolution.kind == "smiles"
    assert resolution.novel is True
    assert resolution.klass == "synthetic_cannabinoid"
    assert resolution.analogue.name == "MDMB-4en-PINACA"
    assert resolution.analogue.similarity > 0.8


def test_structure_unlike_anything_falls_back_to_other() -> None:
    resolution = chemistry.resolve("OC(=O)CCCCCCCCCCCCCCCCC")  # stearic acid
    assert resolution.novel is True
    assert resolution.klass == "other"
