"""Scores a postmortem written from a notes set against the set's expected values (rules in README.md).

Every comparison reads the place the README names: the title heading, the Date line, the Duration row of the
summary, the Timeline table, the Detection and Response rows, the Root Cause, Impact, What Went Well / Poorly /
Lucky sections and the Action Items rows. A value found elsewhere in the document does not count.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from tests.agent_corpus.corpus import ActionItem, Match, NotesCase, TimeRef, mentions, minute

MISSING_WORDS = ("not recorded", "unknown", "not stated", "tbd", "not given", "not established", "n/a", "none known")
LEVELS = {"urgent": ("P0", "P1"), "critical": ("P0",), "high": ("P1",), "nice to have": ("P3",), "low": ("P3",)}
CLOCK = re.compile(r"(?:(\d{4}-\d{2}-\d{2}) )?(\d{2}):(\d{2})")


@dataclass
class Score:
    """Per field: how many checks passed out of how many were made."""

    passed: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    total: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    failures: list[str] = field(default_factory=list)

    def check(self, name: str, ok: bool, why: str = "") -> None:
        self.total[name] += 1
        self.passed[name] += int(ok)
        if not ok:
            self.failures.append(f"{name}: {why}")

    def add(self, other: Score) -> None:
        for name, n in other.total.items():
            self.total[name] += n
            self.passed[name] += other.passed[name]
        self.failures += other.failures


@dataclass
class Document:
    """A postmortem's Markdown cut into the places the corpus compares."""

    title: str
    date_line: str
    sections: dict[str, str]
    summary: dict[str, str]

    @classmethod
    def parse(cls, markdown: str) -> Document:
        lines = markdown.splitlines()
        title = lines[0].removeprefix("# ").removeprefix("Postmortem: ").strip() if lines else ""
        date_line = next((line for line in lines if line.startswith("**Date**")), "")
        sections: dict[str, str] = {}
        current = None
        for line in lines:
            if line.startswith("## "):
                current = line[3:].strip()
                sections[current] = ""
            elif current is not None:
                sections[current] += line + "\n"
        summary = {cells[0]: cells[1] for cells in rows(sections.get("Incident Summary", "")) if len(cells) >= 2}
        return cls(title, date_line, sections, summary)

    def section(self, name: str) -> str:
        return self.sections.get(name, "")


def rows(body: str) -> list[list[str]]:
    """A Markdown table's data rows, as cells."""
    out = []
    for line in body.splitlines():
        if line.startswith("|") and not re.match(r"^\|[-\s|]+\|$", line):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
            out.append(cells)
    return out[1:] if out else []


def _hhmm(value: str | None) -> str | None:
    return None if value is None else minute(value).strftime("%H:%M")


def _times(text: str) -> list[str]:
    return [f"{h}:{m}" for _, h, m in CLOCK.findall(text)]


def _says_missing(text: str) -> bool:
    return any(word in text.lower() for word in MISSING_WORDS)


def score(case: NotesCase, markdown: str, today: date) -> Score:
    doc = Document.parse(markdown)
    result = Score()
    exp = case.expected
    _title(result, doc, case)
    _date(result, doc, case, today)
    if exp.timezone.utc_offset != "+00:00":
        result.check("timezone", "converted to utc" in markdown.lower() or "converted from" in markdown.lower(),
                     "no statement that times are converted to UTC")
    _duration(result, doc, case)
    _timeline(result, doc, case)
    detection = {cells[0]: cells for cells in rows(doc.section("Detection and Response"))}
    for name, ref, row in (("acknowledged_at", exp.acknowledged_at, "Time to acknowledge"),
                           ("mitigated_at", exp.mitigated_at, "Time to mitigate"),
                           ("resolved_at", exp.resolved_at, "Time to resolve")):
        _moment(result, name, ref, detection.get(row))
    cause = doc.section("Root Cause")
    if exp.root_cause is None:
        result.check("root_cause", _says_missing(cause), f"expected 'not established', got {cause[:80]!r}")
    else:
        _phrases(result, "root_cause", cause, exp.root_cause.must_include)
    if exp.trigger is not None:
        _phrases(result, "trigger", cause + doc.section("Trigger"), exp.trigger.must_include)
    impact = doc.section("Impact") + "\n".join(" ".join(c) for c in rows(doc.section("Incident Summary")))
    for name, phrases in exp.impact.__dict__.items():
        if phrases is not None:
            _phrases(result, f"impact.{name}", impact, phrases.must_include)
    _findings(result, doc, case)
    _actions(result, doc, case)
    _missing(result, doc, case, detection)
    return result


def _title(result: Score, doc: Document, case: NotesCase) -> None:
    exp = case.expected.title
    normal = " ".join(doc.title.strip(" #*").lower().split())
    verbatim = {" ".join(line.strip(" #*").lower().split()) for line in [*exp.not_verbatim, *case.notes.splitlines()]}
    ok = all(mentions(doc.title, k) for k in exp.keywords) and normal not in verbatim
    result.check("title", ok, f"{doc.title!r} (keywords {exp.keywords})")


def _date(result: Score, doc: Document, case: NotesCase, today: date) -> None:
    exp = case.expected.date
    line = doc.date_line
    if exp.assumed:
        ok = ("assumed" in line.lower() or "not given" in line.lower()) and f"{today:%B %-d, %Y}" not in line
    elif exp.year_assumed:
        month, day = (int(x) for x in (exp.value or "").split("-"))
        ok = date(2000, month, day).strftime("%B %-d") in line and "assumed" in line.lower()
    else:
        value = date.fromisoformat(exp.value or "")
        ok = f"{value:%B %-d, %Y}" in line or value.isoformat() in line
    result.check("date", ok, f"{line!r} (expected {exp.value}, assumed={exp.assumed})")


def _duration(result: Score, doc: Document, case: NotesCase) -> None:
    exp = case.expected
    row = doc.summary.get("Duration", "")
    found = re.match(r"(\d+) minutes", row)
    minutes = int(found.group(1)) if found else None
    result.check("duration", minutes in [exp.duration_minutes, *exp.duration_also_acceptable],
                 f"{row!r} (expected {exp.duration_minutes})")
    shown = _times(row)
    start_ok = bool(shown) and shown[0] == _hhmm(exp.start.utc)
    ends = {_hhmm(t) for t in [exp.end.utc, *exp.end.also_acceptable]}
    end_ok = len(shown) > 1 and shown[1] in ends
    result.check("start", start_ok, f"{row!r} (expected start {_hhmm(exp.start.utc)})")
    result.check("end", end_ok, f"{row!r} (expected end {sorted(e for e in ends if e)})")


def _timeline(result: Score, doc: Document, case: NotesCase) -> None:
    exp = case.expected
    shown = [(_times(cells[0]) or [""])[0] for cells in rows(doc.section("Timeline")) if cells]
    wanted = [_hhmm(e.utc) for e in exp.timeline]
    position, missing = 0, []
    for time in wanted:
        try:
            position = shown.index(time, position) + 1
        except ValueError:
            missing.append(time)
    result.check("timeline", not missing, f"missing or out of order: {missing}")
    excluded = [_hhmm(e.utc) for e in exp.timeline_excludes if _hhmm(e.utc) in shown]
    if exp.timeline_excludes:
        result.check("timeline_excludes", not excluded, f"not events but shown: {excluded}")


def _moment(result: Score, name: str, ref: TimeRef | None, row: list[str] | None) -> None:
    shown = row[3] if row and len(row) > 3 else ""
    if ref is None:
        result.check(name, _says_missing(shown), f"expected none, got {shown!r}")
        return
    if ref.utc is None:
        ok = _says_missing(shown) or "not resolved" in shown.lower() or (_times(shown) or [""])[0] in {
            _hhmm(t) for t in ref.also_acceptable}
        result.check(name, ok, f"expected not resolved, got {shown!r}")
        return
    accepted = {_hhmm(t) for t in [ref.utc, *ref.also_acceptable]}
    result.check(name, (_times(shown) or [""])[0] in accepted, f"{shown!r} (expected {sorted(accepted)})")


def _phrases(result: Score, name: str, text: str, must: list[Match]) -> None:
    lacking = [m for m in must if not mentions(text, m)]
    result.check(name, not lacking, f"lacks {lacking}")


def _findings(result: Score, doc: Document, case: NotesCase) -> None:
    exp = case.expected
    well, poorly = doc.section("What Went Well"), doc.section("What Went Poorly")
    lucky = doc.section("Where We Got Lucky")
    for name, findings, text in (("went_well", exp.went_well, well), ("went_poorly", exp.went_poorly, poorly),
                                 ("lucky", exp.lucky, lucky + well)):
        for finding in findings:
            _phrases(result, name, text, finding.must_include)


def _actions(result: Score, doc: Document, case: NotesCase) -> None:
    table = rows(doc.section("Action Items"))
    for item in case.expected.action_items:
        row = next((cells for cells in table if all(mentions(" ".join(cells), m) for m in item.must_include)), None)
        if item.done:
            result.check("action.done", row is None or "open" not in row[-1].lower(), f"{item.source!r} open")
            continue
        result.check("action.row", row is not None, f"no row for {item.source!r}")
        if row is None:
            continue
        _action_fields(result, item, row)


def _action_fields(result: Score, item: ActionItem, row: list[str]) -> None:
    owner_cell = row[3].lower().lstrip("@") if len(row) > 3 else ""
    if item.owner is None:
        result.check("action.owner", "unassigned" in owner_cell, f"{item.source!r}: owner {owner_cell!r}")
    else:
        result.check("action.owner", item.owner.lower() in owner_cell, f"{item.source!r}: owner {owner_cell!r}")
    joined = " ".join(row).lower()
    if item.priority is not None:
        word = item.priority.lower()
        levels = LEVELS.get(word, (item.priority.upper(),))
        ok = word in joined or any(level.lower() == row[1].lower() for level in levels)
        result.check("action.priority", ok, f"{item.source!r}: priority {row[1]!r}")
    if item.due is not None:
        ok = item.due.stated.lower() in joined or any(word in joined for word in item.due.stated.lower().split()
                                                     if len(word) > 3 and word != "due")
        if item.due.date:
            day = datetime.fromisoformat(item.due.date)
            ok = ok or day.strftime("%Y-%m-%d") in joined or day.strftime("%b %-d").lower() in joined
        result.check("action.due", ok, f"{item.source!r}: due {row[4] if len(row) > 4 else ''!r}")


def _missing(result: Score, doc: Document, case: NotesCase, detection: dict[str, list[str]]) -> None:
    impact = doc.section("Impact")

    def line(label: str) -> str:
        return next((x for x in impact.splitlines() if label in x), doc.summary.get(label, ""))

    places = {
        "date": doc.date_line, "root_cause": doc.section("Root Cause"),
        "customers_affected": line("Customers Affected"), "revenue": line("Revenue Impact"),
        "error_rate": line("Error Rate"), "regions": line("Regions"),
        "acknowledged_at": " ".join(detection.get("Time to acknowledge", [])),
        "mitigated_at": " ".join(detection.get("Time to mitigate", [])),
        "resolved_at": " ".join(detection.get("Time to resolve", [])),
    }
    for name in case.expected.missing:
        if name.value == "trigger":
            continue
        place = places.get(name.value, "")
        result.check("missing", _says_missing(place) or "assumed" in place.lower(), f"{name.value}: {place[:80]!r}")
