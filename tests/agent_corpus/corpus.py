"""Typed loader for the agent corpus (format documented in README.md next to this file).

Scorers and the format check load the corpus through these models, so a file that drifts from the
documented format fails loudly instead of being half-read. The models describe data only; how an
answer is compared with an expected value is written in README.md.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict

ROOT = Path(__file__).parent
SPLITS = ("train", "heldout")
Split = Literal["train", "heldout"]

_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?Z$")
_LOCAL = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")
_OFFSET = re.compile(r"^[+-]\d{2}:\d{2}$")
_DATE = re.compile(r"^(\d{4}-)?\d{2}-\d{2}$")


def _matching(pattern: re.Pattern[str], what: str):
    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


UtcTime = Annotated[str, _matching(_UTC, "a UTC time like 2025-03-14T14:02Z")]
LocalTime = Annotated[str, _matching(_LOCAL, "a local time like 2025-03-14T14:02")]
UtcOffset = Annotated[str, _matching(_OFFSET, "an offset like +02:00")]
DateValue = Annotated[str, _matching(_DATE, "a date like 2025-03-14 or 03-14")]
# One phrase, or a list of alternatives of which any one will do.
Match = str | list[str]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def minute(value: str) -> datetime:
    """A corpus time (UTC or local) as a naive datetime truncated to the minute."""
    return datetime.fromisoformat(value.rstrip("Z")).replace(second=0)


def offset(value: str) -> timedelta:
    sign = -1 if value.startswith("-") else 1
    hours, minutes = value[1:].split(":")
    return sign * timedelta(hours=int(hours), minutes=int(minutes))


# --- postmortem notes -------------------------------------------------------------------------


class Title(Strict):
    example: str
    keywords: list[Match]
    not_verbatim: list[str] = []


class DateExpectation(Strict):
    value: DateValue | None
    stated: str | None = None
    assumed: bool = False
    year_assumed: bool = False


class Timezone(Strict):
    stated: str | None
    utc_offset: UtcOffset


class TimeRef(Strict):
    utc: UtcTime | None
    local: LocalTime | None = None
    source: str | None = None
    also_acceptable: list[UtcTime] = []
    note: str | None = None


class TimelineEvent(Strict):
    utc: UtcTime
    local: LocalTime | None = None
    source: str


class ExcludedTime(Strict):
    utc: UtcTime
    source: str
    reason: str


class Phrases(Strict):
    must_include: list[Match]
    source: str


class Finding(Strict):
    must_include: list[Match]
    basis: Literal["stated", "derived"]
    source: str


class Due(Strict):
    stated: str
    date: DateValue | None = None


class ActionItem(Strict):
    must_include: list[Match]
    owner: str | None
    priority: str | None = None
    due: Due | None = None
    done: bool = False
    source: str


class Impact(Strict):
    customers_affected: Phrases | None = None
    revenue: Phrases | None = None
    error_rate: Phrases | None = None
    regions: Phrases | None = None


class Missing(StrEnum):
    date = "date"
    root_cause = "root_cause"
    trigger = "trigger"
    customers_affected = "customers_affected"
    revenue = "revenue"
    error_rate = "error_rate"
    regions = "regions"
    acknowledged_at = "acknowledged_at"
    mitigated_at = "mitigated_at"
    resolved_at = "resolved_at"


class NotesExpectation(Strict):
    title: Title
    date: DateExpectation
    timezone: Timezone
    start: TimeRef
    end: TimeRef
    duration_minutes: int
    duration_also_acceptable: list[int] = []
    timeline: list[TimelineEvent]
    timeline_excludes: list[ExcludedTime] = []
    acknowledged_at: TimeRef | None
    mitigated_at: TimeRef | None
    resolved_at: TimeRef | None
    root_cause: Phrases | None
    trigger: Phrases | None
    impact: Impact
    went_well: list[Finding] = []
    went_poorly: list[Finding] = []
    lucky: list[Finding] = []
    action_items: list[ActionItem]
    missing: list[Missing]


class NotesCase(Strict):
    id: str
    style: str
    notes: str
    expected: NotesExpectation


# --- incident titles --------------------------------------------------------------------------

Severity = Literal["SEV1", "SEV2", "SEV3", "SEV4", "SEV5"]


class ImpactClass(StrEnum):
    security = "security"
    data_loss = "data-loss"
    payments = "payments"
    outage = "outage"
    degraded = "degraded"
    internal = "internal"
    cosmetic = "cosmetic"


class TitleCase(Strict):
    id: str
    title: str
    severity: Severity
    also_acceptable: list[Severity] = []
    impact_class: ImpactClass
    also_acceptable_class: list[ImpactClass] = []
    reason: str


# --- war-room questions -----------------------------------------------------------------------

Role = Literal["ic", "comms", "scribe", "sme", "postmortem"]
Status = Literal["INVESTIGATING", "IDENTIFIED", "MONITORING", "RESOLVED", "CLOSED"]
EntryKind = Literal[
    "alert",
    "acknowledged",
    "declared",
    "role_assigned",
    "note",
    "status_update",
    "deploy",
    "change",
    "severity_changed",
    "action_added",
    "action_done",
    "mitigated",
    "resolved",
    "reopened",
    "message",
]


class RecordImpact(Strict):
    customers_affected: str | None = None
    revenue: str | None = None
    error_rate: str | None = None
    regions: list[str] | None = None


class RoleHolder(Strict):
    role: Role
    user: str


class Entry(Strict):
    at: UtcTime
    kind: EntryKind
    author: str | None
    text: str
    status: Status | None = None


class TranscriptLine(Strict):
    at: UtcTime
    user: str
    text: str


class NextAction(Strict):
    text: str
    done: bool = False


class RecordAction(Strict):
    number: int
    text: str
    owner: str | None
    priority: Literal["P0", "P1", "P2", "P3"] | None = None
    due: DateValue | None = None
    status: Literal["open", "done"] = "open"


class IncidentRecord(Strict):
    id: str
    incident_id: str
    title: str
    severity: Severity
    status: Status
    description: str | None
    service: str | None
    declared_at: UtcTime
    declared_by: str
    impact_started_at: UtcTime | None = None
    acknowledged_at: UtcTime | None = None
    resolved_at: UtcTime | None = None
    as_of: UtcTime
    impact: RecordImpact
    people: dict[str, str]
    roles: list[RoleHolder]
    timeline: list[Entry]
    transcript: list[TranscriptLine] = []
    next_actions: list[NextAction] = []
    action_items: list[RecordAction] = []


class QuestionKind(StrEnum):
    catch_up = "catch_up"
    what_changed = "what_changed"
    next_steps = "next_steps"
    resolution_status = "resolution_status"
    affected_service = "affected_service"
    impact = "impact"
    action_items = "action_items"
    owner_of = "owner_of"
    exec_summary = "exec_summary"
    duration = "duration"
    status = "status"
    role_holder = "role_holder"
    investigate = "investigate"
    postmortem = "postmortem"
    runbook = "runbook"
    escalation = "escalation"
    unknown = "unknown"


class QuestionCase(Strict):
    id: str
    record: str
    question: str
    asked_by: str | None = None
    kind: QuestionKind
    must_mention: list[Match] = []
    must_not_mention: list[str] = []
    note: str | None = None


# --- loading ----------------------------------------------------------------------------------


def _yaml(path: Path) -> object:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def notes(split: Split) -> list[NotesCase]:
    """Every notes set of a split, one file each, in file-name order."""
    return [NotesCase.model_validate(_yaml(p)) for p in sorted((ROOT / "notes" / split).glob("*.yaml"))]


def titles(split: Split) -> list[TitleCase]:
    return [TitleCase.model_validate(item) for item in _yaml(ROOT / "titles" / split / "titles.yaml")]


def records(split: Split) -> dict[str, IncidentRecord]:
    loaded = [IncidentRecord.model_validate(item) for item in _yaml(ROOT / "questions" / split / "records.yaml")]
    return {record.id: record for record in loaded}


def questions(split: Split) -> list[QuestionCase]:
    return [QuestionCase.model_validate(item) for item in _yaml(ROOT / "questions" / split / "questions.yaml")]


def mentions(answer: str, expected: Match) -> bool:
    """Case-insensitive containment of a phrase, or of any one of its alternatives."""
    alternatives = [expected] if isinstance(expected, str) else expected
    text = answer.casefold()
    return any(alternative.casefold() in text for alternative in alternatives)
