"""A postmortem from pasted notes, for an incident the store never saw.

The notes are read as people write them (see `agents/postmortem/reader/`): their time zone and date, their
timeline in UTC, their sections and labelled facts, the moments a postmortem measures, the action items with
owners, and what went well or poorly. What the notes do not give is said to be missing, never made up.
"""

from __future__ import annotations

import re
from datetime import date

from agents.postmortem.document import ActionRow, Detection, Postmortem, TimelineEntry
from agents.postmortem.extract import follow_ups, spans_days
from agents.postmortem.reader import actions, events, facts, findings, moments, title
from agents.postmortem.reader.clock import SLASH, SlashOrder, Zone, clocks, dates, slash_order, stated_zone
from agents.postmortem.reader.facts import Facts, Stated
from agents.postmortem.reader.lines import Line, split

NOTES_PREFIX = re.compile(r"^.*?\bnotes?\s*:\s*", re.IGNORECASE | re.DOTALL)
YESTERDAY = re.compile(r"\byesterday\b", re.IGNORECASE)
MAIL = re.compile(r"^(?:from|to|subject|cc)\s*:", re.IGNORECASE | re.MULTILINE)  # a pasted e-mail's headers
MAIL_DATE = re.compile(r"^(?:date|sent)\s*:.*$", re.IGNORECASE | re.MULTILINE)
NO_TIMES = "no line starts with a time (HH:MM): the timeline and durations could not be built"
PLACEHOLDER_LESSON = "To be written in review: what this incident teaches that the action items do not cover"


class EmptyNotes(ValueError):
    """Nothing after "notes:" to write from."""


def notes_of(prompt: str) -> str | None:
    """The notes pasted after "...notes:", or None when the prompt carries none."""
    match = NOTES_PREFIX.match(prompt)
    return prompt[match.end():].strip() if match else None


def before_notes(prompt: str) -> str:
    """The request itself, without the notes pasted after "...notes:"."""
    match = NOTES_PREFIX.match(prompt)
    return prompt[:match.end()] if match else prompt


def from_notes(notes: str, today: date) -> Postmortem:
    if not notes.strip():
        raise EmptyNotes("The notes are empty: paste them after \"notes:\", one event a line, e.g. "
                         "\"14:15 feature flag enabled\".")
    zone = stated_zone(notes)
    order = slash_order(notes, zone)
    day, day_assumed, year_assumed, written = incident_day(notes, order.day_first, today)
    lines = split(notes, day.year, order.day_first)
    # Whether bare times are on a 12-hour clock: from the notes' own lines, not a pasted mail's "Date:" header.
    twelve_hour = any(c.meridiem for line in lines if not line.header for c in clocks(line.text))
    timeline = events.build(lines, day, zone, twelve_hour)
    stated = facts.read(lines)
    untimed = [line.text for line in lines if not line.in_actions and not line.header]
    found = moments.find(timeline, [s.value for s in stated.impact] + [stated.summary or ""], untimed)
    who = actions.people(lines, notes)
    derived = findings.find(stated, timeline, found, lines, day)
    pm_title = title.derive(lines, stated, timeline, found.start_at)
    detection = _detection(found)
    entries = [TimelineEntry(at=e.at, text=e.text[:300], local=None if zone.is_utc else f"{e.local:%H:%M}")
               for e in timeline.events]
    return Postmortem(
        title=pm_title, day=day, day_assumed=day_assumed, year_assumed=year_assumed, from_notes=True,
        date_note=_date_note(written, order, day),
        timezone_note=_zone_note(zone, day), local_zone=None if zone.is_utc else zone.stated,
        authors=[who.writer or "incidentbot (from notes)"], severity=stated.severity,
        impact=stated.impact[0].value if stated.impact else None,
        impact_details=[s.value for s in stated.impact[1:]],
        customers_text=_said(stated.customers), revenue_impact=_said(stated.revenue),
        error_rate=_said(stated.error_rate), regions=_said(stated.regions),
        what_happened=_what_happened(pm_title, day, day_assumed, detection, stated),
        timeline=entries, spans_days=spans_days(entries),
        root_cause=_root_cause(stated, timeline, found), trigger=_trigger(stated, timeline, found),
        contributing_factors=[s.value for s in stated.lists["contributing"]],
        detection=detection, action_items=_actions(lines, day, who, order.day_first, _after_impact(timeline, found)),
        went_well=[_finding(f) for f in derived.well], went_poorly=[_finding(f) for f in derived.poorly],
        got_lucky=[_finding(f) for f in derived.lucky],
        lessons=[s.value for s in stated.lists["lessons"]] or [PLACEHOLDER_LESSON],
        warnings=[] if entries else [NO_TIMES],
        missing=_missing(stated, found, day_assumed, _root_cause_known(stated, timeline, found)),
    )


def incident_day(notes: str, read_day_first: bool, today: date) -> tuple[date, bool, bool, str | None]:
    """The local day the incident started: the first full date the notes give (the day before an e-mail's date
    when the mail says "yesterday"); else a day and month with the year assumed; else assumed outright. Also the
    date as written."""
    found = dates(notes, today.year, read_day_first)
    full = next((d for d in found if d.has_year), None)
    if full is not None:
        written = notes[full.start:full.end]
        headers = [m.span() for m in MAIL_DATE.finditer(notes)] if MAIL.search(notes) else []
        from_mail = any(a <= full.start < b for a, b in headers)
        # A mail's sent date is not the incident's: a date its body gives ("everything before midnight is
        # Tuesday Mar 18") is, in the year the mail was sent; else "yesterday" counts back from the sent date.
        told = next((d for d in found if not any(a <= d.start < b for a, b in headers)), None) if from_mail else None
        if told is not None:
            day = told.day if told.has_year else told.day.replace(year=full.day.year)
            if not told.has_year and day > full.day:
                day = day.replace(year=day.year - 1)
            return day, False, False, notes[told.start:told.end]
        if from_mail and YESTERDAY.search(notes):
            return date.fromordinal(full.day.toordinal() - 1), False, False, written
        return full.day, False, False, written
    partial = next(iter(found), None)
    if partial is not None:
        day = partial.day if partial.day <= today else partial.day.replace(year=today.year - 1)
        return day, False, True, notes[partial.start:partial.end]
    return today, True, False, None


def _date_note(written: str | None, order: SlashOrder, day: date) -> str | None:
    """What a slash date that reads both ways ("4/12/2025") was taken to mean, and why; or that it is a guess."""
    slash = SLASH.fullmatch(written.strip()) if written else None
    if slash is None or slash["a"] == slash["b"] or int(slash["a"]) > 12 or int(slash["b"]) > 12:
        return None
    reading = "day/month" if order.day_first else "month/day"
    if order.settled_by is not None:
        return f"written {written.strip()}, read as {reading} from {order.settled_by}"
    other = date(day.year, day.day, day.month)  # the other reading swaps day and month
    return (f"written {written.strip()}, which reads both ways: taken as {reading}, though it could be "
            f"{other:%B %-d, %Y}; the notes state neither a date format nor a zone")


def _zone_note(zone: Zone, day: date) -> str:
    if zone.stated is None:
        return "The notes state no time zone: times are read as UTC"
    if zone.is_utc:
        return "Times are UTC, as the notes state"
    name = zone.stated.removeprefix("all times ")
    return f"Times are converted to UTC from {name} ({zone.offset_on(day)}), the zone the notes state"


def _said(stated: Stated | None) -> str | None:
    if stated is None:
        return None
    return f"not recorded (the notes: \"{stated.value}\")" if stated.unknown else stated.value


def _detection(found: moments.Moments) -> Detection | None:
    if found.start_at is None:
        return None
    return Detection(started_at=found.start_at, detected_at=found.detected.at if found.detected else found.start_at,
                     acknowledged_at=found.acknowledged.at if found.acknowledged else None,
                     mitigated_at=found.mitigated.at if found.mitigated else None, resolved_at=found.resolved_at,
                     ended_at=found.end_at if found.end_at != found.resolved_at else None,
                     started_from=found.start_from)


def _root_cause_known(stated: Facts, timeline: events.Timeline, found: moments.Moments) -> bool:
    given = stated.root_cause
    return (given is not None and not given.unknown) or (given is None and (
        moments.cause(timeline, found) is not None or moments.summary_cause(stated.summary) is not None))


def _root_cause(stated: Facts, timeline: events.Timeline, found: moments.Moments) -> str:
    given = stated.root_cause
    if given is not None and not given.unknown:
        return given.value
    if given is None:
        event = moments.cause(timeline, found)
        if event is not None:
            return f"As the responders described it at {event.at:%H:%M} UTC: {event.line.text}"
        said_why = moments.summary_cause(stated.summary)
        if said_why is not None:
            return f"As the summary puts it: {said_why}"
        lead = moments.last_finding(timeline, found)
        if lead is not None:
            return (f"Not established: the notes do not state a root cause. The last finding before the mitigation "
                    f"({lead.at:%H:%M} UTC): {lead.line.text}")
    said = f" (the notes: \"{given.value}\")" if given else ""
    return f"Not established: the notes do not state a root cause{said}."


def _trigger(stated: Facts, timeline: events.Timeline, found: moments.Moments) -> str | None:
    given = stated.trigger
    if given is not None and not given.unknown:
        return given.value
    event = moments.trigger(timeline, found)
    return f"{event.text} ({event.at:%H:%M} UTC)" if event else None


def _after_impact(timeline: events.Timeline, found: moments.Moments) -> set[int]:
    """The lines timed at or after the end of impact: where follow-ups said in passing are follow-ups."""
    end = found.end_at or found.resolved_at
    return {id(e.line) for e in timeline.events if end is not None and e.at >= end}


def _actions(lines: list[Line], day: date, who: actions.People, read_day_first: bool,
             after: set[int]) -> list[ActionRow]:
    listed = actions.items(lines, day, who, read_day_first)
    source = "notes" if listed else "conversation"  # said in passing, not listed as an action item
    listed = listed or actions.said(lines, after, day, read_day_first)
    rows = [ActionRow(text=i.text, priority=i.priority, owner=i.owner, due_on=i.due_on, due_text=i.due_text,
                      status="done" if i.done else "open", source=source) for i in listed]
    if rows:
        return rows
    # Said in passing: only once the impact is over (or untimed), not the steps taken while it lasted.
    said = [line.text for line in lines if not line.header and (line.lead is None or id(line) in after)]
    return [row.model_copy(update={"priority": None}) for row in follow_ups(said)]


def _finding(f: findings.Finding) -> str:
    if f.stated:
        return f.text
    return f"{f.text} (from the notes: \"{f.source[:140]}\")"


def _missing(stated: Facts, found: moments.Moments, day_assumed: bool, cause_known: bool) -> list[str]:
    absent = {
        "the date": day_assumed,
        "the root cause": not cause_known,
        "customers affected": stated.customers is None or stated.customers.unknown,
        "revenue impact": stated.revenue is None or stated.revenue.unknown,
        "error rate": stated.error_rate is None,
        "regions": stated.regions is None,
        "acknowledgement time": found.acknowledged is None,
        "mitigation time": found.mitigated is None,
        "resolution time": found.resolved_at is None,
    }
    return [name for name, gone in absent.items() if gone]


def _what_happened(pm_title: str, day: date, day_assumed: bool, detection: Detection | None, stated: Facts) -> str:
    when = "On a day the notes do not give" if day_assumed else f"On {day:%B %-d, %Y}"
    lead = f"{when}: {pm_title}."
    if detection is not None and detection.impact_end is not None:
        lead += (f" Impact lasted {detection.impact_minutes} minutes ({detection.started_at:%H:%M} - "
                 f"{detection.impact_end:%H:%M} UTC).")
    elif detection is not None:
        lead += f" Impact began at {detection.started_at:%H:%M} UTC; the notes give no end."
    else:
        lead += " The notes give no times, so the sequence of events is not known."
    return f"{lead} {stated.summary}" if stated.summary else lead
