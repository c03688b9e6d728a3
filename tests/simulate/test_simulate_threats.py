"""The planted threats are where the ground truth says, and the background holds none of them."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

import pytest

from chemistry.library import CLASS_LABELS
from services.geography import load_geography
from services.simulate import simulate

END = dt.date(2026, 10, 31)
SOURCES = ("ridr", "forensic", "market", "death")
THREATS = {
    "nitazene_as_heroin": ("nitazene", "protonitazene", "heroin"),
    "novel_synthetic_cannabinoid_prisons": ("synthetic_cannabinoid", None, None),
    "high_purity_mdma_festival": ("phenethylamine", "MDMA", None),
    "xylazine_in_heroin": ("xylazine_like", "xylazine", "heroin"),
    "bromazolam_as_diazepam": ("benzodiazepine", "bromazolam", "diazepam"),
}
# The class labels of DESIGN.md, as the chemistry package defines them.
CLASSES = set(CLASS_LABELS)
NOVEL_SMILES = "COC(=O)[C@@H](NC(=O)c1nn(CCCCC=C)c2ccccc12)C(C)(C)C"
CUTS = {"caffeine", "paracetamol", "lidocaine", "benzocaine", "levamisole", "phenacetin"}
# What a sample sold under a (street) name may contain besides cuts.
SOLD_AS_CONTENTS = {
    "ecstasy": {"MDMA"},
    "crack": {"cocaine"},
    "speed": {"amphetamine"},
    "cannabis": {"THC"},
    "spice": {"MDMB-4en-PINACA", "ADB-BUTINACA", "5F-MDMB-PICA"},
}
PLANTED_ONLY = {"protonitazene", "xylazine", "bromazolam"}
OPIOIDS = {
    "heroin",
    "morphine",
    "methadone",
    "buprenorphine",
    "oxycodone",
    "tramadol",
    "codeine",
    "fentanyl",
    "protonitazene",
}
EVENT_DATE = {
    "ridr": "event_date",
    "forensic": "collected_on",
    "market": "collected_on",
    "death": "date_of_death",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict[str, dict[str, dict]]]:
    out: Path = tmp_path_factory.mktemp("threats")
    simulate(out, seed=7, months=12, end=END, scale=1.0)
    truth = json.loads((out / "ground_truth.json").read_text())
    by_id: dict[str, dict[str, dict]] = {}
    for source in SOURCES:
        with open(out / f"{source}.ndjson", encoding="utf-8") as handle:
            by_id[source] = {row["report_id"]: row for row in map(json.loads, handle)}
    return truth, by_id


def threat(truth: dict, threat_id: str) -> dict:
    return next(t for t in truth["threats"] if t["id"] == threat_id)


def planted(truth: dict, by_id: dict, threat_id: str, source: str) -> list[dict]:
    return [by_id[source][rid] for rid in threat(truth, threat_id)["report_ids"].get(source, [])]


def planted_ids(truth: dict) -> dict[str, set[str]]:
    ids: dict[str, set[str]] = {source: set() for source in SOURCES}
    for t in truth["threats"]:
        for source, report_ids in t["report_ids"].items():
            ids[source] |= set(report_ids)
    return ids


def names(row: dict) -> set[str]:
    return {m.get("name") for m in row.get("substances", row.get("components", []))} - {None}


def monday(day: str) -> dt.date:
    d = dt.date.fromisoformat(day)
    return d - dt.timedelta(days=d.weekday())


def test_ground_truth_lists_the_five_threats(run: tuple[dict, dict]) -> None:
    truth, _ = run
    assert {t["id"] for t in truth["threats"]} == set(THREATS)
    areas = load_geography().areas
    starts = set()
    for t in truth["threats"]:
        klass, name, sold_as = THREATS[t["id"]]
        assert t["substance_class"] == klass and t["substance_class"] in CLASSES
        assert t["substance_smiles"]
        if name:
            assert t["substance_name"] == name
        assert t["sold_as"] == (sold_as or t["sold_as"])
        assert t["description"] and t["kind"]
        assert all(code in areas for code in t["area_codes"])
        start, end = dt.date.fromisoformat(t["start"]), dt.date.fromisoformat(t["end"])
        assert END - dt.timedelta(days=130) <= start <= end <= END - dt.timedelta(days=14)
        assert (end - start).days <= 42
        starts.add(start)
        assert set(t["sources"]) == set(t["report_ids"]) and len(t["sources"]) >= 2
    assert len(starts) == 5
    assert threat(truth, "novel_synthetic_cannabinoid_prisons")["substance_smiles"] == NOVEL_SMILES
    assert truth["background"]["streams"] and truth["background"]["dangerous_mis_selling"] == 0


def test_every_planted_record_is_in_the_files_in_its_place_and_time(run: tuple[dict, dict]) -> None:
    truth, by_id = run
    for t in truth["threats"]:
        for source, report_ids in t["report_ids"].items():
            assert len(report_ids) == t["counts"][source] > 0
            for rid in report_ids:
                row = by_id[source][rid]
                assert row["area_code"] in t["area_codes"]
                assert t["start"] <= row[EVENT_DATE[source]] <= t["end"]


def test_planted_structures_parse() -> None:
    chem = pytest.importorskip("rdkit.Chem")
    from services.simulate.catalogue import (
        BROMAZOLAM_SMILES,
        MDMA_SMILES,
        NOVEL_CANNABINOID_SMILES,
        PROTONITAZENE_SMILES,
        XYLAZINE_SMILES,
    )

    formulas = {
        PROTONITAZENE_SMILES: "C23H30N4O3",
        XYLAZINE_SMILES: "C12H16N2S",
        BROMAZOLAM_SMILES: "C17H13BrN4",
        MDMA_SMILES: "C11H15NO2",
        NOVEL_CANNABINOID_SMILES: "C21H29N3O3",  # MDMB-4en-PINACA (C20H27N3O3) + CH2
    }
    from rdkit.Chem.rdMolDescriptors import CalcMolFormula

    for smiles, formula in formulas.items():
        assert CalcMolFormula(chem.MolFromSmiles(smiles)) == formula


def test_nitazene_sold_as_heroin_in_birmingham(run: tuple[dict, dict]) -> None:
    truth, by_id = run
    t = threat(truth, "nitazene_as_heroin")
    assert t["area_codes"][0] == "E08000025"
    assert set(t["area_codes"][1:]) == set(load_geography().neighbours["E08000025"])
    for row in planted(truth, by_id, t["id"], "forensic"):
        assert row["sold_as"] == "heroin" and {"heroin", "protonitazene"} <= names(row)
    harms = planted(truth, by_id, t["id"], "ridr")
    for row in harms:
        assert {"reduced_consciousness", "respiratory_depression"} <= set(row["clinical_features"])
        assert row["naloxone_given"] is True and row["naloxone_response"] in ("partial", "none")
        assert row["severity"] in ("severe", "life_threatening")
        assert any(m["name"] == "heroin" and not m["confirmed"] for m in row["substances"])
    assert sum(r["naloxone_response"] == "partial" for r in harms) > 0.7 * len(harms)
    assert any(
        m["name"] == "protonitazene" and m["confirmed"] for r in harms for m in r["substances"]
    )
    assert all(
        {"heroin", "protonitazene"} <= names(r) for r in planted(truth, by_id, t["id"], "death")
    )
    # The city's weekly count of opioid harms, planted and background together, stands out.
    weekly = Counter(
        monday(r["event_date"])
        for r in by_id["ridr"].values()
        if r["area_code"] == "E08000025" and names(r) & OPIOIDS
    )
    start = dt.date.fromisoformat(t["start"])
    before = [weekly.get(start - dt.timedelta(weeks=w), 0) for w in range(1, 27)]
    usual = sum(before) / len(before)
    peak = max(weekly.get(start + dt.timedelta(weeks=w), 0) for w in range(4))
    assert peak >= 3 * usual


def test_novel_cannabinoid_spreads_through_one_regions_prisons(run: tuple[dict, dict]) -> None:
    truth, by_id = run
    t = threat(truth, "novel_synthetic_cannabinoid_prisons")
    geography = load_geography()
    prison_areas = {p.area_code for p in geography.prisons}
    assert len({geography.region_of(code) for code in t["area_codes"]}) == 1
    assert set(t["area_codes"]) <= prison_areas
    samples = planted(truth, by_id, t["id"], "forensic")
    for row in samples:
        assert row["setting"] == "prison" and row["form"] in ("paper", "herbal")
        assert row.get("sold_as") in (None, "spice")
        assert [c.get("smiles") for c in row["components"]] == [NOVEL_SMILES]
    first_seen: dict[str, str] = {}
    for row in sorted(samples, key=lambda r: r["collected_on"]):
        first_seen.setdefault(row["area_code"], row["collected_on"])
    weeks = sorted({monday(day) for day in first_seen.values()})
    assert len(first_seen) == len(t["area_codes"]) >= 4 and len(weeks) == len(first_seen)
    assert min(first_seen, key=first_seen.__getitem__) == t["area_codes"][0]
    for row in planted(truth, by_id, t["id"], "ridr"):
        assert row["setting"] == "prison" and row["reporter_role"] == "prison_healthcare"
        assert names(row) == {"spice"} and "seizure" in row["clinical_features"]
    # The structure is never seen outside the threat.
    for row in by_id["forensic"].values():
        if row["report_id"] not in t["report_ids"]["forensic"]:
            assert all("smiles" not in c for c in row["components"])


def test_high_purity_mdma_at_one_festival_weekend(run: tuple[dict, dict]) -> None:
    truth, by_id = run
    t = threat(truth, "high_purity_mdma_festival")
    (area,) = t["area_codes"]
    assert (dt.date.fromisoformat(t["end"]) - dt.date.fromisoformat(t["start"])).days == 2
    assert 6 <= dt.date.fromisoformat(t["start"]).month <= 9  # the window holds a summer
    for row in planted(truth, by_id, t["id"], "forensic"):
        assert row["setting"] in ("festival_amnesty", "drug_checking")
        mdma = [c for c in row["components"] if c.get("name") == "MDMA"]
        assert mdma and 80 <= mdma[0]["purity_percent"] <= 90
    for row in planted(truth, by_id, t["id"], "market"):
        assert row["source"] == "drug_checking" and row["drug"] == "MDMA"
        assert 80 <= row["purity_percent"] <= 90
    harms = planted(truth, by_id, t["id"], "ridr")
    assert all(r["setting"] == "festival" and names(r) & {"MDMA", "ecstasy"} for r in harms)
    assert all({"hyperthermia", "tachycardia"} <= set(r["clinical_features"]) for r in harms)
    weekly = Counter(
        monday(r["event_date"])
        for r in by_id["ridr"].values()
        if r["area_code"] == area and names(r) & {"MDMA", "ecstasy"}
    )
    week = monday(t["start"])
    others = [n for w, n in weekly.items() if w != week]
    assert weekly[week] >= 5 * max(1, max(others, default=0))
    # Background MDMA stays at its usual purity.
    ids = planted_ids(truth)
    background = [
        c["purity_percent"]
        for r in by_id["forensic"].values()
        if r["report_id"] not in ids["forensic"]
        for c in r["components"]
        if c.get("name") == "MDMA" and "purity_percent" in c
    ]
    background += [
        r["purity_percent"]
        for r in by_id["market"].values()
        if r["drug"] == "MDMA" and r["report_id"] not in ids["market"] and "purity_percent" in r
    ]
    assert len(background) > 100 and all(45 <= p <= 65 for p in background)


def test_xylazine_in_heroin_in_neighbouring_areas(run: tuple[dict, dict]) -> None:
    truth, by_id = run
    t = threat(truth, "xylazine_in_heroin")
    neighbours = load_geography().neighbours
    codes = t["area_codes"]
    assert len(codes) >= 3 and all(set(neighbours[c]) & set(codes) for c in codes)
    regions = {load_geography().region_of(c) for c in codes}
    others = {
        load_geography().region_of(c) for c in threat(truth, "nitazene_as_heroin")["area_codes"]
    }
    assert not regions & others
    for row in planted(truth, by_id, t["id"], "forensic"):
        assert row["sold_as"] == "heroin" and {"heroin", "xylazine"} <= names(row)
    for row in planted(truth, by_id, t["id"], "ridr"):
        assert {"skin_wound", "reduced_consciousness"} <= set(row["clinical_features"])
        assert row["naloxone_response"] in ("partial", "none") and "heroin" in names(row)


def test_bromazolam_sold_as_diazepam(run: tuple[dict, dict]) -> None:
    truth, by_id = run
    t = threat(truth, "bromazolam_as_diazepam")
    assert set(t["area_codes"][1:]) == set(load_geography().neighbours[t["area_codes"][0]])
    for row in planted(truth, by_id, t["id"], "forensic"):
        assert row["sold_as"] == "diazepam" and row["form"] == "tablet"
        assert names(row) == {"bromazolam"}
    for row in planted(truth, by_id, t["id"], "ridr"):
        assert "diazepam" in names(row) and "reduced_consciousness" in row["clinical_features"]
    deaths = planted(truth, by_id, t["id"], "death")
    assert deaths and all("bromazolam" in names(r) for r in deaths)


def test_background_sells_nothing_as_something_else(run: tuple[dict, dict]) -> None:
    truth, by_id = run
    ids = planted_ids(truth)
    for source in SOURCES:
        for row in by_id[source].values():
            if row["report_id"] in ids[source]:
                continue
            if source == "market":
                continue
            assert not names(row) & PLANTED_ONLY, row
            if source != "forensic" or "sold_as" not in row:
                continue
            sold_as = row["sold_as"]
            actives = {c.get("name") for c in row["components"]} - CUTS
            assert all(c.get("name") for c in row["components"]), row
            assert actives <= SOLD_AS_CONTENTS.get(sold_as, {sold_as}), row


def test_background_is_realistic(run: tuple[dict, dict]) -> None:
    truth, by_id = run
    ids = planted_ids(truth)
    geography = load_geography()
    ridr = [r for r in by_id["ridr"].values() if r["report_id"] not in ids["ridr"]]
    # Seasons: MDMA harms peak in summer.
    by_month = Counter(r["event_date"][5:7] for r in ridr if names(r) & {"MDMA", "ecstasy"})
    assert by_month["07"] + by_month["08"] > 1.5 * (by_month["01"] + by_month["02"])
    # Settings: prison harms and seizures only where there are prisons; festivals where they are.
    prison_areas = {p.area_code for p in geography.prisons}
    assert all(r["area_code"] in prison_areas for r in ridr if r["setting"] == "prison")
    assert all(
        r["area_code"] in prison_areas
        for r in by_id["forensic"].values()
        if r["setting"] == "prison"
    )
    assert Counter(r["setting"] for r in ridr if names(r) == {"spice"})["prison"] > 500
    festival_days = {(f["area_code"], f["start"]) for f in truth["background"]["festivals"]}
    assert len(festival_days) >= 8
    assert all(
        any(r["area_code"] == a for a, _ in festival_days)
        for r in ridr
        if r["setting"] == "festival"
    )
    nightclubs = Counter(r["area_code"] for r in ridr if r["setting"] == "nightclub")
    assert nightclubs["E08000025"] > nightclubs.get("E07000046", 0)  # Birmingham vs Torridge
    # Small counts: most district-weeks have no report at all.
    weeks = {monday(r["event_date"]) for r in ridr}
    per_cell = Counter((r["area_code"], monday(r["event_date"])) for r in ridr)
    zeros = len(geography.areas) * len(weeks) - len(per_cell)
    assert zeros > 0.5 * len(geography.areas) * len(weeks)
    # Every country reports, Scotland and Northern Ireland included (population proxy).
    assert {r["area_code"][0] for r in ridr} == {"E", "W", "S", "N"}
    # Deaths: mostly opioids, coded, some soon after release from prison.
    deaths = [r for r in by_id["death"].values() if r["report_id"] not in ids["death"]]
    assert sum(bool(names(r) & OPIOIDS) for r in deaths) > 0.6 * len(deaths)
    assert all(r["cause_icd10"] for r in deaths)
    assert 0 < sum("released_from_prison_days" in r for r in deaths) < 0.1 * len(deaths)
    # Market purity hovers around a stable mean per drug.
    for drug, mean in truth["background"]["market_purity_mean_percent"].items():
        values = [
            r["purity_percent"]
            for r in by_id["market"].values()
            if r["drug"] == drug and "purity_percent" in r and r["report_id"] not in ids["market"]
        ]
        assert abs(sum(values) / len(values) - mean) < 3, drug


def test_threats_are_planted_whatever_the_season(tmp_path: Path) -> None:
    summary = simulate(tmp_path, seed=3, months=12, end=dt.date(2026, 3, 31), scale=0.3)
    assert set(summary.threats) == set(THREATS)
    truth = json.loads((tmp_path / "ground_truth.json").read_text())
    for t in truth["threats"]:
        assert "2025-11-01" <= t["start"] <= t["end"] <= "2026-03-31"
