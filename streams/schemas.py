"""The four v1 wire schemas (ridr, forensic, market, death) as typed, validating records.

Closed vocabularies and cross-field rules are those of DESIGN.md ("The four inputs"). Every
validation error names its field, so that a 422 or a dead-letter reason tells the submitter
exactly what to fix.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

SCHEMA_VERSION = "v1"

ReportId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


AreaCode = Annotated[str, BeforeValidator(_upper), StringConstraints(pattern=r"^[ENSW][0-9]{8}$")]
AgeBand = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^(\d{1,3}-\d{1,3}|\d{1,3}\+|unknown)$")
]
FreeText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
StructureText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]
Icd10 = Annotated[
    str, BeforeValidator(_upper), StringConstraints(pattern=r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$")
]

Sex = Literal["female", "male", "other", "unknown"]
Setting = Literal[
    "community", "home", "public_place", "hostel", "prison", "police_custody",
    "nightclub", "festival", "hospital", "other", "unknown",
]
ForensicSetting = Literal[
    "police_seizure", "prison", "border", "festival_amnesty", "drug_checking", "coroner", "other",
]
ReporterRole = Literal[
    "emergency_physician", "paramedic", "nurse", "gp", "pharmacist", "toxicologist",
    "prison_healthcare", "drug_service_worker", "festival_medic", "other",
]
Outcome = Literal["discharged", "admitted", "intensive_care", "died", "unknown"]
Route = Literal["smoked", "oral", "snorted", "injected", "vaped", "rectal", "other", "unknown"]
Severity = Literal["mild", "moderate", "severe", "life_threatening", "fatal"]
NaloxoneResponse = Literal["none", "partial", "full"]
ClinicalFeature = Literal[
    "reduced_consciousness", "respiratory_depression", "seizure", "agitation", "psychosis",
    "tachycardia", "hyperthermia", "vomiting", "cardiac_arrest", "hypertension", "hypotension",
    "bradycardia", "hallucinations", "confusion", "chest_pain", "hyponatraemia", "serotonin_syndrome",
    "miosis", "mydriasis", "skin_wound", "rhabdomyolysis", "acute_kidney_injury", "other",
]
Form = Literal["powder", "tablet", "herbal", "paper", "liquid", "e_liquid", "capsule", "other"]
Unit = Literal["g", "mg", "kg", "tablet", "blotter", "ml"]
MarketSource = Literal["test_purchase", "seizure", "drug_checking", "survey"]
DeathStatus = Literal["suspected", "confirmed"]

# A date far enough back to catch typos such as 0202 for 2020, and a small allowance for clocks
# and time zones at the other end.
EARLIEST_DATE = dt.date(1990, 1, 1)
FUTURE_ALLOWANCE = dt.timedelta(days=1)


class FieldConflict(ValueError):
    """A rule across fields, blamed on the field to correct, so that its error can name it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


class Record(BaseModel):
    """Common base: extra optional fields are kept; known fields are checked strictly."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True, frozen=True)

    @field_validator("*", mode="after")
    @classmethod
    def _plausible_dates(cls, value: object, info) -> object:
        day = value.date() if isinstance(value, dt.datetime) else value
        if isinstance(day, dt.date):
            if day < EARLIEST_DATE:
                raise ValueError(f"date {day.isoformat()} is before {EARLIEST_DATE.isoformat()}")
            if day > _today() + FUTURE_ALLOWANCE:
                raise ValueError(f"date {day.isoformat()} is in the future")
        return value


class _Mention(BaseModel):
    """A substance as written by the submitter: a name, a SMILES or an InChI (at least one)."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True, frozen=True)

    name: FreeText | None = None
    smiles: StructureText | None = None
    inchi: StructureText | None = None

    @model_validator(mode="after")
    def _one_identifier(self) -> _Mention:
        if not (self.name or self.smiles or self.inchi):
            raise ValueError("needs at least one of name, smiles or inchi")
        if self.inchi is not None and not self.inchi.startswith("InChI="):
            raise FieldConflict("inchi", "inchi must start with 'InChI='")
        return self

    def text(self) -> str:
        """The most specific identifier given: structure before name."""
        return self.smiles or self.inchi or self.name or ""


class RidrSubstance(_Mention):
    route: Route | None = None
    confirmed: bool = False


class ForensicComponent(_Mention):
    purity_percent: float | None = Field(default=None, ge=0, le=100)
    role: FreeText | None = None


class DeathSubstance(_Mention):
    pass


class Patient(BaseModel):
    model_config = ConfigDict(extra="allow", str_strip_whitespace=True, frozen=True)

    age_band: AgeBand
    sex: Sex

    @field_validator("age_band")
    @classmethod
    def _ordered_band(cls, value: str) -> str:
        return _check_age_band(value)


def _check_age_band(value: str) -> str:
    if "-" in value:
        low, high = (int(part) for part in value.split("-"))
        if low > high:
            raise ValueError(f"age band {value!r} runs backwards")
    return value


class RidrReport(Record):
    """Adverse drug reaction report (after the RIDR pilot)."""

    report_id: ReportId
    received_at: dt.datetime
    event_date: dt.date
    reporter_role: ReporterRole
    setting: Setting
    area_code: AreaCode
    patient: Patient
    substances: list[RidrSubstance] = Field(max_length=50)
    clinical_features: list[ClinicalFeature] = Field(default_factory=list, max_length=50)
    severity: Severity
    outcome: Outcome
    naloxone_given: bool | None = None
    naloxone_response: NaloxoneResponse | None = None
    sample_id: FreeText | None = None
    narrative: Annotated[str, StringConstraints(max_length=20_000)] | None = None

    @field_validator("received_at")
    @classmethod
    def _aware(cls, value: dt.datetime) -> dt.datetime:
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)

    @model_validator(mode="after")
    def _consistent(self) -> RidrReport:
        if self.received_at.date() < self.event_date:
            raise FieldConflict("received_at", "received_at is before event_date")
        if self.naloxone_response is not None and self.naloxone_given is False:
            raise FieldConflict("naloxone_response",
                                "naloxone_response is given but naloxone_given is false")
        return self


class ForensicResult(Record):
    """FEWS-style forensic laboratory result."""

    report_id: ReportId
    lab_id: FreeText
    sample_id: FreeText
    collected_on: dt.date
    analysed_on: dt.date
    area_code: AreaCode
    setting: ForensicSetting
    sold_as: FreeText | None = None
    form: Form
    components: list[ForensicComponent] = Field(max_length=50)
    method: FreeText

    @model_validator(mode="after")
    def _consistent(self) -> ForensicResult:
        if self.analysed_on < self.collected_on:
            raise FieldConflict("analysed_on", "analysed_on is before collected_on")
        return self


class MarketReport(Record):
    """Drug price / purity collection."""

    report_id: ReportId
    collected_on: dt.date
    area_code: AreaCode
    drug: FreeText
    price_gbp: float = Field(ge=0, le=1_000_000)
    quantity: float = Field(gt=0, le=1_000_000)
    unit: Unit
    purity_percent: float | None = Field(default=None, ge=0, le=100)
    source: MarketSource


class DeathReport(Record):
    """Drug-death notification."""

    report_id: ReportId
    date_of_death: dt.date
    notified_on: dt.date
    area_code: AreaCode
    age_band: AgeBand
    sex: Sex
    setting: Setting
    released_from_prison_days: int | None = Field(default=None, ge=0, le=36_500)
    substances: list[DeathSubstance] = Field(max_length=50)
    cause_icd10: list[Icd10] = Field(default_factory=list, max_length=50)
    status: DeathStatus

    @field_validator("age_band")
    @classmethod
    def _ordered_band(cls, value: str) -> str:
        return _check_age_band(value)

    @model_validator(mode="after")
    def _consistent(self) -> DeathReport:
        if self.notified_on < self.date_of_death:
            raise FieldConflict("notified_on", "notified_on is before date_of_death")
        return self


SCHEMAS: dict[str, type[Record]] = {
    "ridr": RidrReport,
    "forensic": ForensicResult,
    "market": MarketReport,
    "death": DeathReport,
}
SOURCES: tuple[str, ...] = tuple(SCHEMAS)


def event_date(source: str, record: Record) -> dt.date:
    """The day a record is counted on: when the harm, sample or death happened."""
    match source:
        case "ridr":
            return record.event_date  # type: ignore[attr-defined]
        case "forensic" | "market":
            return record.collected_on  # type: ignore[attr-defined]
        case "death":
            return record.date_of_death  # type: ignore[attr-defined]
    raise KeyError(source)


def mentions(source: str, record: Record) -> list[_Mention] | list[str]:
    """The substance mentions of a record, in submission order."""
    match source:
        case "ridr" | "death":
            return list(record.substances)  # type: ignore[attr-defined]
        case "forensic":
            return list(record.components)  # type: ignore[attr-defined]
        case "market":
            return [record.drug]  # type: ignore[attr-defined]
    raise KeyError(source)
