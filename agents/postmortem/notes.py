"""A postmortem from pasted notes, for an incident the store never saw.

Lines that start with a time ("14:15 flag enabled", "- 14:15: ...", "2024-12-20 14:15 ...") make the timeline;
"we should ...", "TODO" and "follow-up" lines become action items; a SEVn and a date are picked up where given.
Notes without times still give a document, which says the timeline could not be built.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from agents.postmortem.document import Detection, Postmortem, TimelineEntry
from agents.postmortem.extract import MITIGATION, follow_ups, spans_days
from agents.rca.changes import changes_in_text, is_reversal

NOTES_PREFIX = re.compile(r"^.*?\bnotes?\s*:\s*", re.IGNORECASE | re.DOTALL)
LINE_TIME = re.compile(r"^\s*[-*•]?\s*(?:(?P<date>\d{4}-\d\d-\d\d)[T ])?(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)"
                       r"(?::\d\d)?\s*(?:UTC|Z)?\s*[-:–—|]?\s*(?P<text>.+)$", re.IGNORECASE)
DATE = re.compile(r"\b(\d{4}-\d\d-\d\d)\b")
SEVERITY = re.compile(r"\bSEV-?([1-5])\b", re.IGNORECASE)
RESOLVED = re.compile(r"\b(?:resolved|recover(?:ed|y)|full(?:y)? restored|all clear|back to normal)\b",
                      re.IGNORECASE)
DETECTED = re.compile(r"\b(?:alert|paged|page|fired|declared|reported)\b", re.IGNORECASE)


class EmptyNotes(ValueError):
    """Nothing after "notes:" to write from."""


def notes_of(prompt: str) -> str | None:
    """The notes pasted after "...notes:", or None when the prompt carries none."""
    match = NOTES_PREFIX.match(prompt)
    return prompt[match.end():].strip() if match else None


def from_notes(notes: str, today: date) -> Postmortem:
    if not notes.strip():
        raise EmptyNotes("The notes are empty: paste them after \"notes:\", one event a line, e.g. "
                         "\"14:15 feature flag enabled\".")
    lines = [line.strip() for line in notes.splitlines() if line.strip()]
    day = _day(notes, today)
    entries = _entries(lines, day)
    title = _title(lines)
    severity = SEVERITY.search(notes)
    warnings = [] if entries else ["no line starts with a time (HH:MM): the timeline and durations could not be "
                                   "built"]
    return Postmortem(
        title=title, day=day, authors=["incidentbot (from notes)"],
        severity=f"SEV{severity.group(1)}" if severity else None,
        what_happened=_what_happened(title, day, entries), timeline=entries, spans_days=spans_days(entries),
        root_cause="Not established from the notes alone: run the root-cause analysis on the incident, or add "
                   "the cause to the notes.",
        detection=_detection(entries), action_items=follow_ups(lines),
        lessons=["To be written in review: what this incident teaches that the action items do not cover"],
        warnings=warnings,
    )


def _day(notes: str, today: date) -> date:
    found = DATE.search(notes)
    return date.fromisoformat(found.group(1)) if found else today


def _entries(lines: list[str], day: date) -> list[TimelineEntry]:
    """Timed lines in the order written; a time well before the previous one has crossed midnight."""
    entries: list[TimelineEntry] = []
    for line in lines:
        entry = _entry(line, day)
        if entry is None:
            continue
        while entries and entry.at < entries[-1].at - timedelta(hours=1):
            entry = TimelineEntry(at=entry.at + timedelta(days=1), text=entry.text)
        entries.append(entry)
    return sorted(entries, key=lambda e: e.at)


def _entry(line: str, day: date) -> TimelineEntry | None:
    match = LINE_TIME.match(line)
    if match is None:
        return None
    on = date.fromisoformat(match["date"]) if match["date"] else day
    at = datetime(on.year, on.month, on.day, int(match["h"]), int(match["m"]), tzinfo=UTC)
    return TimelineEntry(at=at, text=match["text"].strip()[:200])


def _title(lines: list[str]) -> str:
    first = next((line for line in lines if LINE_TIME.match(line) is None), None)
    return (first or "Incident")[:120].strip(" #:-")


def _what_happened(title: str, day: date, entries: list[TimelineEntry]) -> str:
    if not entries:
        return f"{title}, on {day:%B %-d, %Y}. The notes give no times, so the sequence of events is not known."
    start, end = entries[0].at, entries[-1].at
    minutes = round((end - start).total_seconds() / 60)
    return (f"{title}, on {day:%B %-d, %Y}: the notes cover {minutes} minutes, from {start:%H:%M} to "
            f"{end:%H:%M} UTC.")


def _detection(entries: list[TimelineEntry]) -> Detection | None:
    if not entries:
        return None
    start = entries[0].at
    detected = next((e.at for e in entries if DETECTED.search(e.text)), start)
    mitigated = next((e.at for e in entries if MITIGATION.search(e.text)
                      or any(is_reversal(c) for c in changes_in_text(e.text, e.at, "notes"))), None)
    resolved = next((e.at for e in reversed(entries) if RESOLVED.search(e.text)), None)
    return Detection(started_at=start, detected_at=detected, mitigated_at=mitigated, resolved_at=resolved,
                     started_from="notes' first entry")
