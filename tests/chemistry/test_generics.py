"""UK generic definitions: what falls under the cathinone and third-generation cannabinoid clauses."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import chemistry
from chemistry.errors import ChemistryError
from chemistry.generics import GENERICS_FILE, falls_under, load_generics, uk_generic
from chemistry.library import default_library
from chemistry.standardise import parent_from_smiles

CATHINONE = "cathinone_generic"
CANNABINOID = "cannabinoid_generic_2016"
PLANTED_CANNABINOID = "COC(=O)[C@@H](NC(=O)c1nn(CCCCC=C)c2ccccc12)C(C)(C)C"


def generic_of(smiles: str) -> str | None:
    return uk_generic(parent_from_smiles(smiles).mols[0])


# --- flagged ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["mephedrone", "3-MMC", "alpha-PVP", "N-ethylpentylone", "MDPV", "methylone", "4-CMC"]
)
def test_known_cathinones_are_flagged_by_name_and_by_structure(name: str) -> None:
    by_name = chemistry.resolve(name)
    assert by_name.uk_generic == CATHINONE
    by_structure = chemistry.resolve(default_library().by_name[name].smiles_in_file + ".Cl")
    assert by_structure.name == name
    assert by_structure.uk_generic == CATHINONE


NOVEL_CATHINONES = [
    ("3,4-dimethylmethcathinone", "CNC(C)C(=O)c1ccc(C)c(C)c1"),  # (i) alkyl x2
    ("4-bromomethcathinone", "CNC(C)C(=O)c1ccc(Br)cc1"),  # (i) halide
    ("3-fluoro-alpha-PHP", "CCCCC(N1CCCC1)C(=O)c1cccc(F)c1"),  # (i) + (ii) + (iii) ring N
    ("4-methoxy-N-ethylpentedrone", "CCCC(NCC)C(=O)c1ccc(OC)cc1"),  # (i) alkoxy
    ("4-trifluoromethylmethcathinone", "CNC(C)C(=O)c1ccc(C(F)(F)F)cc1"),  # (i) haloalkyl
    ("ethylenedioxy-methcathinone", "CNC(C)C(=O)c1ccc2OCCOc2c1"),  # (i) alkylenedioxy
    (
        "3-methyl-4-nitromethcathinone",
        "CNC(C)C(=O)c1ccc([N+](=O)[O-])c(C)c1",
    ),  # (i) "further" group
    ("alpha-piperidinovalerophenone", "CCCC(N1CCCCC1)C(=O)c1ccccc1"),  # (iii) piperidine
    ("N,N-diethyl-4-chlorobuphedrone", "CCC(N(CC)CC)C(=O)c1ccc(Cl)cc1"),  # (iii) dialkyl
]


@pytest.mark.parametrize(
    ("description", "smiles"), NOVEL_CATHINONES, ids=[d for d, _ in NOVEL_CATHINONES]
)
def test_novel_ring_substituted_cathinones_are_flagged(description: str, smiles: str) -> None:
    resolution = chemistry.resolve(smiles)
    assert resolution.novel is True
    assert resolution.uk_generic == CATHINONE


@pytest.mark.parametrize(
    "text",
    [
        "MDMB-4en-PINACA",
        "ADB-BUTINACA",
        PLANTED_CANNABINOID,
        "5F-MDMB-PICA",
        "AB-FUBINACA",
        "CUMYL-4CN-BINACA",
        "APINACA",
    ],
)
def test_third_generation_cannabinoids_are_flagged(text: str) -> None:
    assert chemistry.resolve(text).uk_generic == CANNABINOID


NOVEL_CANNABINOIDS = [
    ("4-cyanobutyl MDMB-BINACA", "COC(=O)[C@@H](NC(=O)c1nn(CCCCC#N)c2ccccc12)C(C)(C)C"),
    ("ADB-HEXINACA", "NC(=O)[C@@H](NC(=O)c1nn(CCCCCC)c2ccccc12)C(C)(C)C"),
    ("5F-EMB-PICA", "CCOC(=O)[C@@H](NC(=O)c1cn(CCCCCF)c2ccccc12)C(C)C"),
    ("CUMYL-5F-P7AICA (7-azaindole)", "CC(C)(NC(=O)c1cn(CCCCCF)c2ncccc12)c1ccccc1"),
    ("5F-PCN (5-azaindole, naphthyl amide)", "O=C(Nc1cccc2ccccc12)c1cn(CCCCCF)c2ccncc12"),
    ("NM-2201 (naphthyl ester)", "O=C(Oc1cccc2ccccc12)c1cn(CCCCCF)c2ccccc12"),
    ("MDMB-4en-PINACA butanoic acid", "OC(=O)[C@@H](NC(=O)c1nn(CCCC=C)c2ccccc12)C(C)(C)C"),
    (
        "AB-THPINACA-like (tetrahydropyranylmethyl)",
        "NC(=O)[C@@H](NC(=O)c1nn(CC2CCOCC2)c2ccccc12)C(C)C",
    ),
    ("5-chloro ADB-BUTINACA", "CCCCn1nc(C(=O)N[C@H](C(N)=O)C(C)(C)C)c2cc(Cl)ccc21"),
]


@pytest.mark.parametrize(
    ("description", "smiles"), NOVEL_CANNABINOIDS, ids=[d for d, _ in NOVEL_CANNABINOIDS]
)
def test_novel_third_generation_analogues_are_flagged(description: str, smiles: str) -> None:
    assert generic_of(smiles) == CANNABINOID


# --- not flagged -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "MDMA",
        "amphetamine",
        "methamphetamine",
        "ephedrine",  # phenethylamines, no beta-keto
        "alprazolam",
        "etizolam",
        "bromazolam",
        "diazepam",  # benzodiazepines
        "fentanyl",
        "heroin",
        "morphine",
        "protonitazene",
        "tramadol",  # opioids
        "ketamine",
        "cocaine",
        "JWH-018",  # other classes; a 2009-generic ketone
    ],
)
def test_other_drugs_are_not_flagged(text: str) -> None:
    resolution = chemistry.resolve(text)
    assert resolution.error is None
    assert resolution.uk_generic is None


@pytest.mark.parametrize(
    ("description", "smiles"),
    [
        ("bupropion, racemate", "CC(NC(C)(C)C)C(=O)c1cccc(Cl)c1"),
        ("bupropion, (R) as the hydrochloride", "C[C@@H](NC(C)(C)C)C(=O)c1cccc(Cl)c1.Cl"),
        ("cathinone", "CC(N)C(=O)c1ccccc1"),
        ("diethylpropion", "CCN(CC)C(C)C(=O)c1ccccc1"),
        ("pyrovalerone", "CCCC(N1CCCC1)C(=O)c1ccc(C)cc1"),
    ],
)
def test_compounds_the_cathinone_clause_exempts_by_name_are_not_flagged(
    description: str, smiles: str
) -> None:
    assert chemistry.resolve(smiles).uk_generic is None


def test_bupropion_by_name_is_not_flagged() -> None:
    resolution = chemistry.resolve("bupropion")
    assert resolution.uk_status == "not controlled"
    assert resolution.uk_generic is None


@pytest.mark.parametrize(
    ("description", "smiles"),
    [
        # Limits documented in chemistry/generics.py: outside the words, or arguable.
        ("naphyrone: naphthyl is not ring substitution", "CCCC(N1CCCC1)C(=O)c1ccc2ccccc2c1"),
        ("alpha-PVT: thiophene, not phenyl", "CCCC(N1CCCC1)C(=O)c1cccs1"),
        ("indanyl-alpha-PVP: fused ring", "CCCC(N1CCCC1)C(=O)c1ccc2CCCc2c1"),
        ("BMDP: N-benzyl is not alkyl", "CC(NCc1ccccc1)C(=O)c1ccc2c(c1)OCO2"),
        ("N-cyclohexylmethylone: cycloalkyl is not alkyl", "CC(NC1CCCCC1)C(=O)c1ccc2c(c1)OCO2"),
        ("morpholino ring: read narrowly", "CCCC(N1CCOCC1)C(=O)c1ccccc1"),
        ("alpha,alpha-dimethyl: not a listed modification", "CNC(C)(C)C(=O)c1ccccc1"),
        ("4-nitromethcathinone: only an 'other' ring group", "CNC(C)C(=O)c1ccc([N+](=O)[O-])cc1"),
        ("N-acetyl mephedrone", "CC(=O)NC(C)C(=O)c1ccc(C)cc1"),
        (
            "pent-4-ynyl tail: alkynyl is not listed",
            "COC(=O)[C@@H](NC(=O)c1nn(CCCC#C)c2ccccc12)C(C)(C)C",
        ),
        (
            "5-hydroxypentyl tail: hydroxy is not listed",
            "COC(=O)[C@@H](NC(=O)c1nn(CCCCCO)c2ccccc12)C(C)(C)C",
        ),
        (
            "4-azaindole core: not among the listed cores",
            "COC(=O)[C@@H](NC(=O)c1cn(CCCCCF)c2cccnc12)C(C)(C)C",
        ),
        ("tertiary amide linker", "COC(=O)[C@@H](N(C)C(=O)c1nn(CCCCCF)c2ccccc12)C(C)(C)C"),
        ("MDMB-INACA: no tail", "COC(=O)[C@@H](NC(=O)c1n[nH]c2ccccc12)C(C)(C)C"),
        ("PB-22: quinolinyl head not encoded", "CCCCCn1cc(C(=O)Oc2cccc3cccnc23)c2ccccc21"),
        ("indometacin: exempt by name", "COc1ccc2n(C(=O)c3ccc(Cl)cc3)c(C)c(CC(=O)O)c2c1"),
        (
            "zafirlukast: exempt by name",
            "COc1cc(C(=O)NS(=O)(=O)c2ccccc2C)ccc1Cc1cn(C)c2ccc(NC(=O)OC3CCCC3)cc12",
        ),
    ],
)
def test_documented_limits_are_not_flagged(description: str, smiles: str) -> None:
    assert generic_of(smiles) is None


def test_only_cathinones_and_cannabinoids_in_the_library_are_flagged() -> None:
    flagged = {}
    for substance in default_library():
        if substance.mol is not None:
            label = uk_generic(substance.mol, substance.key)
            if label is not None:
                flagged[substance.name] = (substance.klass, label)
    assert {klass for klass, _ in flagged.values()} == {
        "synthetic_cathinone",
        "synthetic_cannabinoid",
    }
    assert all(
        label == (CATHINONE if klass == "synthetic_cathinone" else CANNABINOID)
        for klass, label in flagged.values()
    )
    assert len(flagged) >= 45


# --- stereo, salts, result type -------------------------------------------------------------------


def test_generic_ignores_stereo_and_salts() -> None:
    for smiles in (
        "C[C@H](NC)C(=O)c1ccc(C)cc1",
        "C[C@@H](NC)C(=O)c1ccc(C)cc1.Cl",
        "CNC(C)C(=O)c1ccc(C)cc1",
    ):
        assert chemistry.resolve(smiles).uk_generic == CATHINONE


def test_to_dict_emits_uk_generic_after_the_design_fields() -> None:
    data = chemistry.resolve(PLANTED_CANNABINOID).to_dict()
    fields = list(data)
    assert fields.index("uk_generic") > fields.index("error")
    assert data["uk_generic"] == CANNABINOID
    json.dumps(data)


def test_mixture_components_carry_their_own_generic() -> None:
    resolution = chemistry.resolve("CNC(C)C(=O)c1ccc(C)cc1.CNC(C)Cc1ccc2OCOc2c1")
    assert resolution.uk_generic is None
    assert sorted(str(c.uk_generic) for c in resolution.components) == ["None", CATHINONE]


def test_street_names_have_no_generic() -> None:
    assert chemistry.resolve("monkey dust").uk_generic is None


# --- the rules file ---------------------------------------------------------------------------------


def test_rules_file_loads_and_every_rule_cites_its_clause() -> None:
    definitions = load_generics()
    assert [d.label for d in definitions] == [CATHINONE, CANNABINOID]
    assert all(
        kind.comment for d in definitions for kinds in d.substituents.values() for kind in kinds
    )
    rows = [
        line.split("\t")
        for line in Path(GENERICS_FILE).read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#") and not line.startswith("generic\t")
    ]
    assert all(len(row) == 6 and row[5].strip() for row in rows)


def test_prefilter_never_changes_a_verdict() -> None:
    # The prefilter only saves time: it must be contained in every core of its generic.
    structures = [s.mol for s in default_library() if s.mol is not None]
    structures += [
        parent_from_smiles(smiles).mols[0] for _, smiles in NOVEL_CANNABINOIDS + NOVEL_CATHINONES
    ]
    for definition in load_generics():
        unfiltered = dataclasses.replace(definition, prefilter=None)
        for mol in structures:
            assert falls_under(mol, definition) == falls_under(mol, unfiltered)


@pytest.mark.parametrize(
    ("row", "phrase"),
    [
        ("g\tcore\t\t[c:1\t-\tbroken", "invalid SMARTS"),
        ("g\tcored\t\tc\t-\ttypo", "unknown part"),
        ("g\tcore\t\tc\t-\t", "needs a comment"),
        ("g\tcore\t\t[c:1]\t-\tcore\ng\tlisted\t2\t[#0]-C\t-\tno such site", "site 2"),
        ("g\tlisted\t1\t[#0]-C\t-\tno core", "no core row"),
    ],
)
def test_rules_file_errors_name_the_problem(tmp_path: Path, row: str, phrase: str) -> None:
    path = tmp_path / "rules.tsv"
    path.write_text("generic\tpart\tsite\tsmarts\textend\tcomment\n" + row + "\n", encoding="utf-8")
    with pytest.raises(ChemistryError, match=phrase):
        load_generics(str(path))
