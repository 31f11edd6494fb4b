"""The notes' timeline: every time the notes give an event, in UTC, in order.

A line's leading time dates the line; times inside a line ("es-data-3 dropped out at 13:41", "pushed 1:58pm by a
contractor") are events of their own, described by their clause. Times inside labelled facts ("Customers
affected: ... until 2:58 PM") and e-mail headers are not events. Without a written date, a leading time far
earlier than the one before it has crossed midnight.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise

from agents.postmortem.reader.clock import Clock, Zone, clocks, dates
from agents.postmortem.reader.labels import MOMENT_KEYS, Labelled, labelled
from agents.postmortem.reader.lines import Line

NOT_EVENTS = {"actions", "lessons", "went_well", "went_poorly", "lucky", "impact", "root_cause", "trigger",
              "contributing"}
FACT_LABELS = {"root_cause", "trigger", "impact", "window", "customers", "revenue", "regions", "when", "went_well",
               "went_poorly", "lucky", "lessons", "severity", *MOMENT_KEYS}
MOMENT_NAMES = {"t_start": "Impact started", "t_end": "Impact ended", "t_detected": "Detected",
                "t_ack": "Acknowledged", "t_mitigated": "Mitigated", "t_resolved": "Resolved"}
MIDNIGHT = timedelta(hours=6)
NORM = re.compile(r"\b(?:normally|usually|typically|ordinarily|as a rule|expected (?:by|at)|scheduled (?:for|at))\b",
                  re.IGNORECASE)  # a leading time this much earlier than the last one is on the next day
CLAUSE = re.compile(r"(?<=[.;!?])\s+|,\s+|\s+(?=\([^)]*\d:\d\d)|\s+[-–—]\s+")
PAIR = re.compile(r"^\s*(?:-|–|—|to|and|until)\s*$", re.IGNORECASE)


@dataclass
class Event:
    at: datetime  # UTC
    local: datetime  # as the notes write it, naive
    text: str  # what the timeline shows
    own: str  # the words about this moment only, for recognising what it is
    line: Line
    inline: bool = False
    range_end: bool = False
    field: str | None = None  # the template field it comes from ("t_start" for "Started: 13:05")


@dataclass
class Window:
    """An impact window the notes state ("impact window 09:12-11:40", "between 10:05 and 10:55")."""

    start: datetime
    end: datetime
    labelled: bool
    line: Line


@dataclass
class Timeline:
    events: list[Event]
    windows: list[Window]


class _Days:
    """Which local day a time falls on, as the notes go."""

    def __init__(self, day: date, zone: Zone, twelve_hour: bool) -> None:
        self.day, self.zone, self.twelve_hour = day, zone, twelve_hour
        self.last: datetime | None = None

    def lead(self, clock: Clock, written: date | None) -> datetime:
        hour = clock.hour_near(self.last.hour if self.last and self.twelve_hour else None)
        if written is not None:
            self.day = written
        at = datetime.combine(self.day, datetime.min.time()).replace(hour=hour, minute=clock.minute,
                                                                      second=clock.second)
        if written is None and self.last is not None and at < self.last - MIDNIGHT:
            afternoon = at + timedelta(hours=12)
            if clock.meridiem is None and clock.hour < 12 and self.last <= afternoon <= self.last + MIDNIGHT:
                at = afternoon  # "11:50 ... 12:05 ... 1:10": past noon, not the next night
            else:
                self.day += timedelta(days=1)
                at += timedelta(days=1)
        self.last = at
        return at

    def near(self, clock: Clock, context: datetime | None) -> datetime:
        """A time inside a line: the reading closest to the line's own time."""
        if context is None and self.last is None:
            hour = clock.hour_near(None)
            return datetime.combine(self.day, datetime.min.time()).replace(hour=hour, minute=clock.minute,
                                                                           second=clock.second)
        context = context or self.last
        assert context is not None
        hour = clock.hour_near(context.hour if self.twelve_hour else None)
        base = datetime.combine(context.date(), datetime.min.time()).replace(hour=hour, minute=clock.minute,
                                                                              second=clock.second)
        return min((base + timedelta(days=d) for d in (-1, 0, 1)), key=lambda at: abs(at - context))


def build(lines: list[Line], day: date, zone: Zone, twelve_hour: bool) -> Timeline:
    days = _Days(day, zone, twelve_hour)
    events: list[Event] = []
    inline: list[Event] = []
    windows: list[Window] = []
    fields: dict[str, datetime] = {}
    for line in lines:
        if line.header or line.heading is not None or line.in_actions or line.extra.get("columns"):
            continue
        facts = [f for f in labelled(line.text) if f.key in FACT_LABELS]
        facts_only = facts and facts[0].at_line_start and line.lead is None
        lead_at = days.lead(line.lead, line.lead_date) if line.lead is not None else None
        windows += _windows(line, facts, lead_at, days)
        for fact in facts:
            found = clocks(fact.value) if fact.key in MOMENT_KEYS else []
            if found and fact.key not in fields:  # "Resolved: 15:10": a moment the template gives
                at = days.near(found[0], lead_at)
                fields[fact.key] = at
                events.append(Event(at=zone.to_utc(at), local=at, text=f"{MOMENT_NAMES[fact.key]}: {fact.value}",
                                    own=f"{MOMENT_NAMES[fact.key]}: {fact.value}", line=line, field=fact.key))
        if line.section in NOT_EVENTS or facts_only:
            continue
        spans = [(f.start, f.end) for f in facts]
        groups, own = _groups(line, spans)
        if lead_at is not None:
            events.append(Event(at=zone.to_utc(lead_at), local=lead_at, text=_display(line), own=own, line=line))
            if line.lead_end is not None:
                end = days.near(line.lead_end, lead_at)
                end += timedelta(days=1) if end < lead_at else timedelta()
                events.append(Event(at=zone.to_utc(end), local=end, text=f"End: {line.text}", own=line.text,
                                    line=line, range_end=True))
        for clock, text, is_end in groups:
            if NORM.search(text):
                continue  # "normally done by 18:50": what usually happens, not an event
            written = _date_before(line.text, clock, days)
            at = days.near(clock, lead_at) if written is None else datetime.combine(
                written, datetime.min.time()).replace(hour=clock.hour_near(None), minute=clock.minute,
                                                      second=clock.second)
            inline.append(Event(at=zone.to_utc(at), local=at, text=text, own=text, line=line, inline=True,
                                range_end=is_end))
    if "t_start" in fields and "t_end" in fields and fields["t_end"] >= fields["t_start"]:
        windows.insert(0, Window(zone.to_utc(fields["t_start"]), zone.to_utc(fields["t_end"]), True, lines[0]))
    taken = {_minute(e.at) for e in events}
    for event in inline:
        if _minute(event.at) not in taken:
            taken.add(_minute(event.at))
            events.append(event)
    return Timeline(events=sorted(events, key=lambda e: e.at), windows=windows)


def _date_before(text: str, clock: Clock, days: _Days) -> date | None:
    """"Triggered: Mar 3, 2025 at 11:47 PM": the date written just before a time dates it."""
    for found in dates(text, days.day.year):
        if found.end <= clock.start and re.fullmatch(r"[\s,]*(?:at\s+)?", text[found.end:clock.start]):
            return found.day
    return None


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def _display(line: Line) -> str:
    who = f"{line.speaker}: " if line.speaker else ""
    return f"{who}{line.text}"


def _groups(line: Line, facts: list[tuple[int, int]]) -> tuple[list[tuple[Clock, str, bool]], str]:
    """Each time inside the line with the clause it belongs to (and the comma-joined clauses after it that carry
    no time); and the line's own words, outside those clauses."""
    text = line.text
    skip = [line.lead_span] if line.lead_span else []
    inner = [c for c in clocks(text) if not any(a <= c.start < b for a, b in [*skip, *facts])]
    if not inner:
        return [], text
    clauses = _clauses(text)
    owner = [next((i for i, (a, b, _) in enumerate(clauses) if a <= c.start < b), len(clauses) - 1) for c in inner]
    groups: list[tuple[Clock, str, bool]] = []
    used: set[int] = set()
    for n, clock in enumerate(inner):
        first = last = owner[n]
        while last + 1 < len(clauses) and clauses[last][2] and (last + 1) not in owner:
            last += 1
        used.update(range(first, last + 1))
        previous = inner[n - 1] if n else None
        is_end = previous is not None and PAIR.match(text[previous.end:clock.start]) is not None
        words = _clean(text[clauses[first][0]:clauses[last][1]])
        groups.append((clock, f"End: {words}" if is_end else words, is_end))
    own = " ".join(text[a:b] for i, (a, b, _) in enumerate(clauses) if i not in used).strip(" ,;")
    return groups, _clean(own) or text


def _clauses(text: str) -> list[tuple[int, int, bool]]:
    """Clauses as (start, end, joined to the next by a comma)."""
    spans, start = [], 0
    for m in CLAUSE.finditer(text):
        spans.append((start, m.start(), m.group(0).startswith(",")))
        start = m.end()
    spans.append((start, len(text), False))
    return [s for s in spans if s[1] > s[0]]


def _clean(text: str) -> str:
    text = text.strip(" ,;-–—")
    if text.count("(") > text.count(")"):
        text = text.replace("(", "", text.count("(") - text.count(")"))
    if text.count(")") > text.count("("):
        text = text.replace(")", "", text.count(")") - text.count("("))
    return text.strip(" ,;")


WINDOW_WORDS = re.compile(r"\b(?:between|from|impact|window|lost|down|failing|failed|outage|errors?|affected)\b",
                          re.IGNORECASE)


def _windows(line: Line, facts: list[Labelled], lead_at: datetime | None, days: _Days) -> list[Window]:
    """Ranges of time the line gives: in a labelled fact (the impact window), or as the line's own range."""
    found = []
    if line.lead is not None and line.lead_end is not None and lead_at is not None:
        end = days.near(line.lead_end, lead_at)
        found.append(Window(days.zone.to_utc(lead_at), days.zone.to_utc(end if end >= lead_at else
                                                                          end + timedelta(days=1)), False, line))
    text = line.text
    found_clocks = clocks(text)
    for first, second in pairwise(found_clocks):
        gap = text[first.end:second.start]
        paired = bool(PAIR.match(gap) or re.fullmatch(r"\s*(?:UTC|[A-Z]{3,4})?\s*(?:-|–|—|to|and)\s*", gap))
        # "Impact window: from the missed 21:00 cutoff until the bank confirmed processing at 06:30"
        windowed = any(f.start <= first.start < f.end and f.key == "window" for f in facts)
        told = bool(re.search(r"\b(?:until|till|through|to)\b", gap, re.IGNORECASE) and re.search(
            r"\b(?:from|between|since)\b", text[max(0, first.start - 40):first.start], re.IGNORECASE))
        if not paired and not (windowed and told):
            continue
        in_fact = any(f.start <= first.start < f.end and f.key in ("impact", "window", "customers", "when")
                      for f in facts)
        before = text[max(0, first.start - 12):first.start].lower()
        if not in_fact and ("between" not in before and "from" not in before) and line.lead is not None:
            continue  # "reviewed the logs for 1:58pm-2:31pm" in a line that has its own time
        context = lead_at or days.last
        start = days.near(first, context)
        end = days.near(second, start)
        end += timedelta(days=1) if end < start else timedelta()
        found.append(Window(days.zone.to_utc(start), days.zone.to_utc(end), in_fact, line))
    return found
