"""resolve(): input kinds, bad input, names and street names, policies, cache, CLI."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

import chemistry
from chemistry import Analogue, Resolution, resolve, resolve_many
from chemistry.cli import resolve_command

DESIGN_FIELDS = ["input", "kind", "key", "smiles", "name", "class", "novel", "analogue", "error"]

# --- bad input ------------------------------------------------------------------------------

BAD_INPUTS: list[tuple[str, str, str]] = [
    # (input, expected kind, a phrase the error must contain)
    ("", "unknown", "empty input"),
    ("   ", "unknown", "empty input"),
    ("C" * 10_001, "unknown", "limit is 10000"),
    ("!!!???", "unknown", "not a SMILES, an InChI or a substance name"),
    ("12345", "unknown", "not a SMILES, an InChI or a substance name"),
    ("heroin\x00", "unknown", "control characters"),
    ("CC(C", "smiles", "extra open parentheses"),
    ("CC)C", "smiles", "extra close parentheses"),
    ("C1CC", "smiles", "unclosed ring"),
    ("C[N](C)(C)(C)C", "smiles", "valence"),
    ("CC(C)(C)(C)(C)C", "smiles", "valence"),
    ("c1cccc1", "smiles", "kekulize"),
    ("C[C@H](N)(O)(F)Cl", "smiles", "valence"),
    ("C=1CC", "smiles", "unclosed ring"),
    ("[Zz]CC", "smiles", "invalid SMILES"),
    ("CC[", "smiles", "invalid SMILES"),
    ("InChI=1S/garbage", "inchi", "invalid InChI"),
    ("InChI=1S/C2H6O/c1-2-3/h3H,2H2,1H3/q+9/zz", "inchi", "invalid InChI"),
    ("InChI=", "inchi", "invalid InChI"),
    ("InChI=1S/C9H13N/c1-8(10)7-9/h99", "inchi", "invalid InChI"),
    ("unobtainium", "name", "unknown substance name"),
    ("hello world", "name", "unknown substance name"),
    ("N-(acetyl)-thebaol", "name", "unknown substance name"),
    ("zzzzzzzzzzzzzzzzzz", "name", "unknown substance name"),
]


@pytest.mark.parametrize(("text", "kind", "phrase"), BAD_INPUTS, ids=range(len(BAD_INPUTS)))
def test_bad_input_gives_kind_and_precise_error(text: str, kind: str, phrase: str) -> None:
    resolution = resolve(text)
    assert resolution.kind == kind
    assert resolution.error is not None
    assert phrase.lower() in resolution.error.lower(), resolution.error
    assert resolution.key is None
    assert resolution.novel is False


def test_bad_inputs_make_no_rdkit_noise_on_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    chemistry.resolve.__globals__["_resolve_cached"].cache_clear()
    for text, _, _ in BAD_INPUTS:
        resolve(text)
    resolve("CCC(=O)N(c1ccccc1)C1CCN(CCc2ccccc2)CC1")
    resolve("C[C@H](N)Cc1ccccc1")  # stereo: InChI warnings must stay silent too
    captured = capfd.readouterr()
    assert captured.err == ""
    assert captured.out == ""


def test_non_text_input_is_reported_not_raised() -> None:
    resolution = resolve(None)  # type: ignore[arg-type]
    assert resolution.kind == "unknown"
    assert resolution.error == "input is not text"


# --- input kinds ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "name"),
    [
        ("PCP", "name", "phencyclidine"),  # would also parse as SMILES: the name wins
        ("NPP", "name", "NPP"),
        ("CBN", "name", "cannabinol"),
        ("CCO", "smiles", None),  # organic-subset capitals only: a SMILES
        ("CNO", "smiles", None),
        ("coke", "name", None),  # lower-case letters that are not aromatic atoms: a name
        ("Xanax", "name", "alprazolam"),
        ("InChI=1S/C9H13N/c1-8(10)7-9-5-3-2-4-6-9/h2-6,8H,7,10H2,1H3", "inchi", "amphetamine"),
        ("c1ccc2c(c1)c(CCN(C)C)c[nH]2", "smiles", "DMT"),
    ],
)
def test_input_kind_rule(text: str, kind: str, name: str | None) -> None:
    resolution = resolve(text)
    assert resolution.kind == kind
    assert resolution.name == name
    assert resolution.error is None


@pytest.mark.parametrize(
    ("text", "kind", "name"),
    [
        # Regression: "([H])" is a SMILES branch, not the street name "H" (heroin).
        ("C[C@@]([H])(N)Cc1ccccc1", "smiles", "amphetamine"),
        ("C([H])C", "smiles", None),
        ("C(PCP)", "smiles", None),  # a branch is never read as a name in parentheses
        # A SMILES-looking text that is a name as a whole stays a name.
        ("(PCP)", "name", "phencyclidine"),
        ("PCP.", "name", "phencyclidine"),
        ("(S)-PCP", "name", "phencyclidine"),
    ],
)
def test_input_kind_rule_smiles_only_text_is_a_name_only_as_a_whole(
    text: str, kind: str, name: str | None
) -> None:
    resolution = resolve(text)
    assert (resolution.kind, resolution.name, resolution.error) == (kind, name, None)
    assert resolution.candidates == ()


# --- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["MDMB-4en-PINACA", "mdmb 4en pinaca", "MDMB4ENPINACA", "mdmb-4EN-pinaca.", "(MDMB-4en-PINACA)"],
)
def test_names_are_case_space_hyphen_and_punctuation_insensitive(text: str) -> None:
    assert resolve(text).name == "MDMB-4en-PINACA"


@pytest.mark.parametrize(
    ("typo", "name"),
    [("fentanly", "fentanyl"), ("herion", "heroin"), ("ketamin", "ketamine"), ("cocain", "cocaine"),
     ("xylazene", "xylazine"), ("alprazolan", "alprazolam"), ("mephedron", "mephedrone"),
     ("protonitazine", "protonitazene"), ("bromazolem", "bromazolam")],
)
def test_typos_resolve_with_a_confidence_below_one(typo: str, name: str) -> None:
    resolution = resolve(typo)
    assert resolution.name == name
    assert resolution.error is None
    assert 0.7 <= resolution.confidence < 1.0
    assert resolution.match == "fuzzy"


@pytest.mark.parametrize(
    "text",
    ["fluclotizolam", "2C-Q", "4-MMX", "flubrotizolam", "clonazolamxx", "metizolan-2"],
)
def test_near_misses_that_are_other_substances_are_not_forced_onto_library_names(text: str) -> None:
    resolution = resolve(text)
    assert resolution.name is None
    assert resolution.error is not None and "unknown substance name" in resolution.error


def test_exact_names_have_confidence_one() -> None:
    assert resolve("fentanyl").confidence == 1.0


@pytest.mark.parametrize(
    ("street", "klass", "candidates"),
    [
        ("spice", "synthetic_cannabinoid", ()),
        ("Monkey Dust", "synthetic_cathinone", ("MDPV", "alpha-PVP", "alpha-PHP")),
        ("benzos", "benzodiazepine", ()),
        ("benzo", "benzodiazepine", ()),
        ("ecstasy", "phenethylamine", ("MDMA",)),
        ("molly", "phenethylamine", ("MDMA",)),
        ("mandy", "phenethylamine", ("MDMA",)),
        ("brown", "other_opioid", ("heroin",)),
        ("smack", "other_opioid", ("heroin",)),
        ("speed", "phenethylamine", ("amphetamine",)),
        ("coke", "other", ("cocaine",)),
        ("crack", "other", ("cocaine",)),
        ("cannabis", None, ("THC",)),
        ("tranq", "xylazine_like", ("xylazine",)),
        ("nitazenes", "nitazene", ()),
    ],
)
def test_street_names_map_to_class_or_candidates_with_key_null(
    street: str, klass: str | None, candidates: tuple[str, ...]
) -> None:
    resolution = resolve(street)
    assert resolution.kind == "name"
    assert resolution.key is None
    assert resolution.name is None
    assert resolution.klass == klass
    assert resolution.candidates == candidates
    assert resolution.novel is False
    assert resolution.error is None


@pytest.mark.parametrize("text", ["heroin + fentanyl", "heroin and fentanyl", "heroin/fentanyl"])
def test_mixture_names_give_components_and_no_key(text: str) -> None:
    resolution = resolve(text)
    assert resolution.key is None
    assert [c.name for c in resolution.components] == ["heroin", "fentanyl"]
    assert resolution.error is None


def test_mixture_smiles_gives_two_components() -> None:
    heroin_and_caffeine = (
        "CC(=O)O[C@H]1C=C[C@H]2[C@H]3Cc4ccc(OC(C)=O)c5c4[C@@]2(CCN3C)[C@H]1O5."
        "Cn1c(=O)c2c(ncn2C)n(C)c1=O.Cl"
    )
    resolution = resolve(heroin_and_caffeine)
    assert resolution.kind == "smiles"
    assert resolution.key is None
    assert sorted(c.name for c in resolution.components) == ["caffeine", "heroin"]


def test_salt_and_solvent_are_not_components() -> None:
    resolution = resolve("CNC(C)Cc1ccc2c(c1)OCO2.Cl.O.CCO")
    assert resolution.name == "MDMA"
    assert resolution.components == ()


def test_real_lab_names_resolve(real_names: list[dict[str, str]]) -> None:
    """Names exactly as the UNC Street Drug Analysis Lab writes them (MIT, Opioid Data Lab)."""
    substances = [row for row in real_names if row["category"] == "substance"]
    total = sum(int(row["count_any"]) for row in substances)
    resolved = sum(int(row["count_any"]) for row in substances if resolve(row["name"]).error is None)
    assert resolved / total >= 0.95
    top = sorted(substances, key=lambda row: -int(row["count_any"]))[:60]
    unresolved = [row["name"] for row in top if resolve(row["name"]).error is not None]
    assert unresolved == []


@pytest.fixture(scope="module")
def real_names() -> list[dict[str, str]]:
    path = Path(__file__).resolve().parents[3] / "shared" / "data" / "realworld" / "names.csv"
    if not path.exists():
        pytest.skip(f"{path} not present")
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# --- policies --------------------------------------------------------------------------------


def test_stereo_policy_racemate_and_enantiomers_are_one_substance_with_distinct_keys() -> None:
    racemate = resolve("CC(N)Cc1ccccc1")
    dextro = resolve("C[C@H](N)Cc1ccccc1")  # (S): dexamfetamine
    levo = resolve("C[C@@H](N)Cc1ccccc1")
    assert len({racemate.key, dextro.key, levo.key}) == 3
    assert {racemate.key[:14], dextro.key[:14], levo.key[:14]} == {"KWTSXDURSIMDCE"}
    for resolution in (racemate, dextro, levo):
        assert resolution.name == "amphetamine"
        assert resolution.klass == "phenethylamine"
        assert resolution.novel is False
    assert (racemate.match, dextro.match, levo.match) == ("exact", "stereoisomer", "stereoisomer")


def test_stereo_policy_listed_stereoisomers_stay_apart() -> None:
    ephedrine = resolve("C[C@@H]([C@@H](c1ccccc1)O)NC")
    pseudoephedrine = resolve("C[C@@H]([C@H](c1ccccc1)O)NC")
    assert (ephedrine.name, pseudoephedrine.name) == ("ephedrine", "pseudoephedrine")
    dextro = resolve("COc1ccc2c(c1)[C@]13CCCC[C@@H]1[C@H](C2)N(C)CC3")
    levo = resolve("COc1ccc2c(c1)[C@@]13CCCC[C@H]1[C@@H](C2)N(C)CC3")
    assert (dextro.name, levo.name) == ("dextromethorphan", "levomethorphan")
    assert levo.uk_status == "Class A"
    unspecified = resolve("COc1ccc2c(c1)C13CCCCC1C(C2)N(C)CC3")
    assert unspecified.name is None
    assert unspecified.candidates == ("dextromethorphan", "levomethorphan")
    assert unspecified.novel is False


def test_stereo_policy_enantiomers_drawn_together_are_the_racemate() -> None:
    resolution = resolve("C[C@H](N)Cc1ccccc1.C[C@@H](N)Cc1ccccc1")
    assert resolution.components == ()
    assert resolution.key == "KWTSXDURSIMDCE-UHFFFAOYSA-N"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Oc1ccccn1", "O=c1cccc[nH]1"),  # 2-hydroxypyridine / 2-pyridone
        ("Cc1cccc(C)c1NC1=NCCCS1", "Cc1cccc(C)c1N=C1NCCCS1"),  # xylazine amino / imino
        ("Clc1cccc(Cl)c1NC1=NCCN1", "Clc1cccc(Cl)c1N=C1NCCN1"),  # clonidine
        ("Cc1cccc(C(C)c2c[nH]cn2)c1C", "Cc1cccc(C(C)c2cnc[nH]2)c1C"),  # medetomidine imidazole H
        ("[O-][N+](=O)c1ccc2[nH]cnc2c1", "[O-][N+](=O)c1ccc2nc[nH]c2c1"),  # 5-/6-nitrobenzimidazole
        ("CC(O)=Nc1ccc(O)cc1", "CC(=O)Nc1ccc(O)cc1"),  # paracetamol imidic acid / amide
    ],
)
def test_tautomer_policy_mobile_h_tautomers_share_a_key(first: str, second: str) -> None:
    assert resolve(first).key == resolve(second).key


def test_tautomer_policy_keto_and_enol_forms_are_different_keys() -> None:
    # Standard InChI does not merge keto-enol tautomers, and we run no canonicaliser.
    assert resolve("CC(C)=O").key != resolve("CC(O)=C").key


def test_tautomer_policy_keeps_stereo_next_to_a_carbonyl() -> None:
    # RDKit's tautomer canonicaliser would drop this centre (the reason DESIGN rules it out).
    resolution = resolve("COC(=O)[C@@H](NC(=O)c1nn(CCCC=C)c2ccccc12)C(C)(C)C")
    assert resolution.key == "LWOCBHBFWNGPGM-QGZVFWFLSA-N"
    assert resolution.name == "MDMB-4en-PINACA"


def test_library_substance_analogue_is_its_nearest_other_entry() -> None:
    resolution = resolve("fentanyl")
    assert resolution.analogue is not None
    assert resolution.analogue.name != "fentanyl"
    assert resolution.analogue.key != resolution.key


# --- result type, cache, many, CLI -----------------------------------------------------------


def test_to_dict_has_the_design_fields_first() -> None:
    data = resolve("COC(=O)[C@@H](NC(=O)c1nn(CCCCC=C)c2ccccc12)C(C)(C)C").to_dict()
    assert list(data)[: len(DESIGN_FIELDS)] == DESIGN_FIELDS
    assert set(data["analogue"]) == {"name", "key", "similarity"}
    json.dumps(data)


def test_resolution_is_frozen() -> None:
    resolution = resolve("heroin")
    with pytest.raises(AttributeError):
        resolution.name = "x"  # type: ignore[misc]
    assert isinstance(resolution, Resolution)
    assert isinstance(resolution.analogue, Analogue)


def test_cache_returns_the_same_object() -> None:
    assert resolve("MDMA") is resolve("MDMA")


def test_resolve_many_keeps_input_order() -> None:
    texts = ["heroin", "CC(C", "spice", "CCO"]
    assert [r.input for r in resolve_many(texts)] == texts


def test_cli_json_lines_in_input_order() -> None:
    out = io.StringIO()
    status = resolve_command(["heroin", "CC(C", "spice"], as_json=True, out=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert status == 0
    assert [line["input"] for line in lines] == ["heroin", "CC(C", "spice"]
    assert all(list(line)[: len(DESIGN_FIELDS)] == DESIGN_FIELDS for line in lines)
    assert lines[1]["error"].startswith("invalid SMILES")


def test_cli_table_has_a_row_per_input_and_exit_zero() -> None:
    out = io.StringIO()
    assert resolve_command(["heroin", "", "monkey dust"], as_json=False, out=out) == 0
    rows = out.getvalue().splitlines()
    assert rows[0].split()[:3] == ["input", "kind", "name"]
    assert len(rows) == 2 + 3
    assert "one of: MDPV" in out.getvalue()
