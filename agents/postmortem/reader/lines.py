"""Pasted notes as lines: the heading each falls under, who wrote it and when, and its text without the
paste's furniture (chat prefixes, bullets, checkboxes, table pipes, status-page footers).

Handles the shapes people paste: Slack exports (`[14:02] alice: ...`), Slack desktop copies (`Name  8:47 AM`
above the message), WhatsApp (`14/03/2025, 23:41 - Name: ...`), Zoom chat (`14:02:11 From Name to Everyone:`),
incident-tool logs (`Mar 3, 2025 11:47:12 PM PST  ...`), status pages (`Posted Mar 27, 2025 - 11:48 UTC`
under each update), Markdown, Confluence (`h2.`, `||` tables) and plain Docs headings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from agents.postmortem.reader.clock import ZONE_TOKEN, Clock, clocks, dates
from agents.postmortem.reader.labels import labelled

SECTIONS: dict[str, str] = {
    "summary": "summary", "overview": "summary", "what happened": "summary", "description": "summary",
    "impact": "impact", "customer impact": "impact", "business impact": "impact", "user impact": "impact",
    "blast radius": "impact", "scope": "impact", "impact assessment": "impact", "who was affected": "impact",
    "root cause": "root_cause", "root causes": "root_cause", "cause": "root_cause", "causes": "root_cause",
    "rca": "root_cause", "root cause analysis": "root_cause", "contributing factors": "contributing",
    "why it happened": "root_cause", "why did it happen": "root_cause", "what caused it": "root_cause",
    "root cause and trigger": "root_cause", "cause and trigger": "root_cause",
    "trigger": "trigger", "triggers": "trigger",
    "timeline": "timeline", "timeline of events": "timeline", "events": "timeline", "chronology": "timeline",
    "what went well": "went_well", "went well": "went_well", "well": "went_well", "good": "went_well",
    "what went right": "went_well", "things that went well": "went_well", "positives": "went_well",
    "what worked": "went_well", "what worked well": "went_well", "the good": "went_well", "wins": "went_well",
    "what went poorly": "went_poorly", "went poorly": "went_poorly", "what went wrong": "went_poorly",
    "poorly": "went_poorly", "not good": "went_poorly", "went bad": "went_poorly", "bad": "went_poorly",
    "what didn't go well": "went_poorly", "what could have gone better": "went_poorly", "went wrong": "went_poorly",
    "what did not go well": "went_poorly", "didn't go well": "went_poorly", "negatives": "went_poorly",
    "problems": "went_poorly", "pain points": "went_poorly", "what didn't work": "went_poorly",
    "things that went badly": "went_poorly", "went badly": "went_poorly", "the bad": "went_poorly",
    "where we struggled": "went_poorly", "could have gone better": "went_poorly", "challenges": "went_poorly",
    "what could be better": "went_poorly", "improvements": "went_poorly", "what went less well": "went_poorly",
    "not so good": "went_poorly", "poor": "went_poorly", "what we'd do differently": "went_poorly",
    "where we got lucky": "lucky", "lucky": "lucky", "got lucky": "lucky", "what was lucky": "lucky",
    "where we were lucky": "lucky", "luck": "lucky", "the lucky": "lucky",
    "action items": "actions", "actions": "actions", "follow ups": "actions", "followups": "actions",
    "follow up": "actions", "todo": "actions", "todos": "actions", "to do": "actions", "ais": "actions",
    "next steps": "actions", "action points": "actions", "follow up actions": "actions", "tasks": "actions",
    "remediation": "actions", "remediation items": "actions", "corrective actions": "actions", "todo list": "actions",
    "follow up items": "actions", "action list": "actions",
    "lessons": "lessons", "lessons learned": "lessons", "learnings": "lessons", "takeaways": "lessons",
    # A notepad's question-word labels ("WHAT:", "WHEN:", "WHY:", "HOW MANY:", "NEXT:"), one per part of the story.
    "what": "summary", "when": "timeline", "why": "root_cause", "how many": "impact", "how bad": "impact",
    "who was hit": "impact", "next": "actions", "what was good": "went_well", "what was not good": "went_poorly",
    "what was bad": "went_poorly", "what helped": "went_well", "what hurt": "went_poorly",
}
ACTION_OPENERS = ("follow up", "followup", "action item", "still open", "todo", "open items", "next steps")
HEADING_MARKUP = re.compile(r"^(?:#{1,6}\s*|h[1-6]\.\s*)")
BOLD = re.compile(r"^(?:\*\*|__)(?P<text>[^*_]+?)(?:\*\*|__)\s*:?\s*$")
PARENTHESIS = re.compile(r"\s*\([^)]*\)\s*")
BULLET = re.compile(r"^(?:[-*•·‣▪–]|\d{1,2}[.)]|[a-z][)])\s+")
CHECKBOX = re.compile(r"^\[(?P<mark>[ xX])\]\s*")
EMAIL_HEADER = re.compile(r"^(?:subject|from|to|cc|date|sent)\s*:\s", re.IGNORECASE)
SLACK_EXPORT = re.compile(r"^\[(?P<time>[\d:]{4,8}(?:\s*[ap]m)?)\]\s*(?P<who>[^:\]]{1,40}?):\s*(?P<body>.*)$",
                          re.IGNORECASE)
WHATSAPP = re.compile(r"^(?P<date>\d{1,2}/\d{1,2}/\d{2,4}),?\s+(?P<time>\d{1,2}:\d{2}(?:\s*[ap]m)?)\s+[-–]\s+"
                      r"(?P<who>[^:]{1,40}?):\s*(?P<body>.*)$", re.IGNORECASE)
ZOOM = re.compile(r"^(?P<time>\d{1,2}:\d{2}(?::\d{2})?)\s+From\s+(?P<who>.+?)\s+to\s+[^:]{1,40}?:\s*(?P<body>.*)$",
                  re.IGNORECASE)
_WHO = r"(?P<who>[A-Z][\w.'’-]*(?:,?\s[A-Z][\w.'’-]*){0,3})"  # "Ana Lima", "Okonkwo, Chidi" (Teams)
_AT = r"(?:(?:[Tt]oday|[Yy]esterday)\s+at\s+)?(?P<time>\d{1,2}:\d{2}(?:\s*[AaPp][Mm])?)"
# A message's header on its own line: "Marcus Webb  8:47 AM" (Slack), "[2:41 PM] Ana Lima" (Teams), "Ana Lima, 2:41 PM".
MESSAGE_HEADER = [re.compile(rf"^{_WHO},?\s+\[?{_AT}\]?$"), re.compile(rf"^\[{_AT}\]\s+{_WHO}$")]
IRC = re.compile(r"^\[?(?P<time>\d{1,2}:\d{2}(?::\d{2})?(?:\s*[ap]m)?)\]?\s*<[@+]?(?P<who>[^>]{1,30})>\s*(?P<body>.*)$",
                 re.IGNORECASE)
STATUS_POSTED = re.compile(r"^posted\s+(?P<when>.+)$", re.IGNORECASE)
LEAD_FILLER = re.compile(r"^(?:at|around|approx\.?|about|~)\s*", re.IGNORECASE)
SEPARATOR = re.compile(rf"^(?:Z\b|[+-]\d\d:?\d\d\b)?\s*(?:{ZONE_TOKEN})?\s*[-:–—|]*\s*", re.IGNORECASE)
RANGE = re.compile(r"^\s*(?:-|–|—|to|until)\s*", re.IGNORECASE)


@dataclass
class Line:
    """One line of the notes, its furniture removed."""

    number: int
    raw: str
    text: str
    section: str | None = None
    speaker: str | None = None
    lead_date: date | None = None  # a date written before the leading time
    lead: Clock | None = None  # the time the line starts with (or its message was sent at)
    lead_end: Clock | None = None  # "07:12-07:19 ...": the range's end
    lead_span: tuple[int, int] | None = None  # where the leading time sits in `text`, when it is in it
    bullet: bool = False
    checked: bool | None = None  # "- [x]" True, "- [ ]" False
    cells: list[str] | None = None  # a table row
    header: bool = False  # an email header line: never an event
    heading: str | None = None  # the section this line opens
    in_actions: bool = False  # inside a follow-up list
    status_page: bool = False
    extra: dict[str, str] = field(default_factory=dict)


def heading_of(line: str) -> tuple[str, str] | None:
    """(section key, heading text) when the line is a heading: Markdown, Confluence, bold or a bare name."""
    stripped = line.strip()
    marked = bool(HEADING_MARKUP.match(stripped)) or bool(BOLD.match(stripped))
    name = HEADING_MARKUP.sub("", stripped)
    bold = BOLD.match(name)
    name = bold["text"] if bold else name.strip("*_ ")
    bare = PARENTHESIS.sub(" ", name).strip().rstrip(":").strip()
    key = " ".join(re.sub(r"[-_/]", " ", bare.lower()).split())
    if key in SECTIONS:
        return SECTIONS[key], bare
    opens_actions = stripped.endswith(":") and len(key.split()) <= 7
    if opens_actions and any(key.startswith(o) for o in ACTION_OPENERS):
        return "actions", bare
    if marked:
        return "other", bare
    return None


def split(notes: str, year: int, day_first: bool) -> list[Line]:
    blocks = _blocks(notes.splitlines())
    lines: list[Line] = []
    section: str | None = None
    table: list[str] | None = None
    for block in blocks:
        speaker_time: tuple[str, Clock] | None = None
        for number, raw in _status_block(block, lines, year, day_first):
            line = _line(number, raw, year, day_first)
            head = heading_of(raw) if line.cells is None else None
            if head is not None and not line.lead and line.speaker is None:
                section, line.heading = head[0], head[1]
                line.section = section
                lines.append(line)
                table = None
                continue
            copy = next((m for p in MESSAGE_HEADER if (m := p.match(raw.strip()))), None)
            if copy:
                found = clocks(copy["time"])
                speaker_time = (_given_first(copy["who"]), found[0]) if found else None
                continue
            if speaker_time and line.lead is None and line.speaker is None:
                line.speaker, line.lead = speaker_time
            if line.cells is not None:
                table = _table_row(line, table)
            line.section = section
            lines.append(line)
    _mark_action_lists(lines)
    return lines


def _given_first(who: str) -> str:
    """"Okonkwo, Chidi" (a directory's "Surname, Given") is Chidi Okonkwo."""
    surname, comma, given = who.partition(",")
    return f"{given.strip()} {surname.strip()}" if comma and given.strip() else who.strip()


def _blocks(raw_lines: list[str]) -> list[list[tuple[int, str]]]:
    blocks: list[list[tuple[int, str]]] = [[]]
    for number, raw in enumerate(raw_lines):
        if raw.strip():
            blocks[-1].append((number, raw.rstrip()))
        elif blocks[-1]:
            blocks.append([])
    return [b for b in blocks if b]


def _status_block(block: list[tuple[int, str]], lines: list[Line], year: int,
                  day_first: bool) -> list[tuple[int, str]]:
    """A status-page update (its state, its text, then "Posted <when>") becomes one timed line."""
    last_number, last = block[-1]
    posted = STATUS_POSTED.match(last.strip())
    if not posted or len(block) < 2:
        return block
    state, *body = [text.strip() for _, text in block[:-1]]
    when = posted["when"]
    text = f"Status page, {state}: {' '.join(body)}".strip()
    line = _line(last_number, when, year, day_first)
    line.text, line.raw, line.status_page, line.lead_span = text, "\n".join(t for _, t in block), True, None
    lines.append(line)
    return []


def _line(number: int, raw: str, year: int, day_first: bool) -> Line:
    text = raw.strip().replace("**", "")
    line = Line(number=number, raw=raw, text=text)
    if EMAIL_HEADER.match(text):
        line.header = True
        return line
    for pattern in (WHATSAPP, ZOOM, IRC, SLACK_EXPORT):
        chat = pattern.match(text)
        if chat:
            found = clocks(chat["time"])
            if found:
                line.lead, line.speaker, text = found[0], chat["who"].strip(), chat["body"].strip()
                if "date" in chat.groupdict():
                    written = dates(chat["date"], year, day_first)
                    line.lead_date = written[0].day if written else None
            break
    if text.startswith("|"):
        line.cells = [c.strip() for c in re.split(r"\|+", text.strip().strip("|"))]
        line.text = " | ".join(c for c in line.cells if c)
        filled = [c for c in line.cells if c]
        if len(filled) == 2 and not clocks(filled[0]) and labelled(f"{filled[0]}: {filled[1]}"):
            line.text = f"{filled[0]}: {filled[1]}"  # a key/value table: "| Revenue | unknown |"
        return line
    bullet = BULLET.match(text)
    if bullet:
        line.bullet, text = True, text[bullet.end():]
    box = CHECKBOX.match(text)
    if box:
        line.bullet, line.checked, text = True, box["mark"].lower() == "x", text[box.end():]
    line.text = text.strip()
    if line.lead is None:
        _leading_time(line, year, day_first)
    return line


def _leading_time(line: Line, year: int, day_first: bool) -> None:
    """"14:02 ...", "2:15pm ...", "Jan 21, 2025 02:00 ...", "At 10:05 we ...", "07:12-07:19 ..."."""
    text = line.text
    pos = LEAD_FILLER.match(text).end() if LEAD_FILLER.match(text) else 0
    written = next((d for d in dates(text, year, day_first) if d.start == pos), None)
    if written is not None:
        pos = written.end + (re.match(r"(?:T|[\s,\-–—]*(?:at\s+)?)", text[written.end:]).end())
    first = next((c for c in clocks(text) if c.start == pos), None)
    if first is None:
        return
    line.lead, line.lead_date = first, written.day if written else None
    rest = text[first.end:]
    end = RANGE.match(rest)
    later = next((c for c in clocks(rest) if end and c.start == end.end()), None)
    if later is not None:
        line.lead_end = later
        rest = rest[later.end:]
    line.lead_span = (0, len(text) - len(rest))
    line.text = text[len(text) - len(rest):]
    line.text = SEPARATOR.sub("", line.text, count=1).strip() or text


def _table_row(line: Line, columns: list[str] | None) -> list[str] | None:
    """Tables: the first row names the columns; a row that starts with a time is an event."""
    cells = [c for c in (line.cells or []) if not re.fullmatch(r":?-{2,}:?", c)]
    if not cells:
        line.cells = None
        line.extra["separator"] = "1"
        return columns
    first = clocks(cells[0])
    if first and first[0].start == 0 and len(cells) > 1:
        line.lead, line.text = first[0], " | ".join(c for c in cells[1:] if c)
        return columns
    if columns is None or line.raw.lstrip().startswith("||"):
        line.extra["columns"] = "1"
        return [c.lower() for c in line.cells or []]
    line.extra.update({name: value for name, value in zip(columns, line.cells or [], strict=False)})
    return columns


def _mark_action_lists(lines: list[Line]) -> None:
    """A message ending "follow ups:" opens a list: the bullets and numbered lines after it are action items."""
    open_list = False
    for line in lines:
        if line.heading is not None:
            open_list = False
            continue
        if line.section == "actions" and line.heading is None:
            line.in_actions = True
            continue
        if open_list and (line.bullet or re.match(r"^\d{1,2}[.)]\s", line.text)):
            line.in_actions = True
            continue
        open_list = bool(re.search(r"\b(?:follow[- ]?ups?|action items?|todos?|AIs)\b[^:]{0,30}:\s*$", line.text,
                                   re.IGNORECASE))
