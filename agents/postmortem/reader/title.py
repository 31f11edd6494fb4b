"""A title for the postmortem, derived from the notes rather than copied from their first line: what the header
says once its furniture ("INC notes -", "(draft)", "- notes from the bridge (times EST)", dates) is gone, with the
symptom added when the header names only the thing ("search thing" becomes "Search degraded"); for chat exports
whose header only says where they were copied from, the summary, the first status-page update or the first
symptom someone reported."""

from __future__ import annotations

import re
from datetime import datetime

from agents.postmortem.reader.clock import DATE, TIME
from agents.postmortem.reader.events import Event, Timeline
from agents.postmortem.reader.facts import Facts
from agents.postmortem.reader.lines import Line
from agents.postmortem.reader.moments import ALERT, SYMPTOM

IC = re.IGNORECASE
SOURCE_ONLY = re.compile(r"\b(?:export(?:ed)?|pasted|copied|copy of|write-?up|transcript|chat from|zoom chat|"
                         r"for the (?:postmortem|doc)|forwarded|original message|"
                         r"(?:irc|chat|slack|teams|whatsapp|zoom|discord|bridge)\s+(?:log|export|thread|chat|copy|"
                         r"transcript|messages|channel))\b|^-{2,}|"
                         # Only a channel's name and what it is: "#ops log", "incident-42 thread".
                         r"^\W*#?[\w-]+\s+(?:log|logs|export|transcript|thread|channel|chat|backscroll)\W*$", IC)
FURNITURE = [
    re.compile(r"^(?:(?:subject|re|fwd?|fw|title)\s*:\s*)+", IC),
    re.compile(r"^(?:h[1-6]\.\s*|#+\s*)", IC),
    re.compile(r"^(?:opsgenie|pagerduty|pd|statuspage|jira|incident\.io)\s+(?:alert|incident|ticket)?\s*#?[\w-]*\d[\w-]*"
               r"\s*[-:–—]?\s*", IC),
    re.compile(r"^(?:pir|rca|aar|coe|post[- ]incident review|after[- ]action review|"
               r"incident summary|incident report|incident review|incident notes?|inc notes?|incident|"
               r"postmortem|post-mortem|handover|summary|review)\s*[:\-–—]?\s*", IC),
    re.compile(r"\s+[-–—]\s+(?:postmortem|post-mortem|notes?|draft|rough|summary|write-?up|report)\b.*$", IC),
    re.compile(r"\s*\([^)]*\)"),
    # "[DRAFT]", "[P1]"; not a service ("[order-confirm]")
    re.compile(r"\[(?![a-z0-9][a-z0-9._-]*[a-z0-9]\])[^\]]*\]\s*"),
    re.compile(r"\b(?:postmortem|post-mortem)\b|\bnotes?\b|\bdraft\b|\brough\b|\bthing\b|\bstuff\b|\bthis morning\b|"
               r"\byesterday(?:'s)?\b|\blast night(?:'s)?\b|\btoday(?:'s)?\b|\bthis morning'?s?\b", IC),
    re.compile(r"\bINC-[\w-]+\b|#\d+\b|\bSEV-?[0-5]\b|\bP[0-4]\b", IC),
    re.compile(r"\b[A-Z][A-Z0-9]{1,9}-\d+\b"),  # a ticket id: OPS-9921
    re.compile(r"^\W+"),
    re.compile(r"\b(?:UTC|GMT)\b"),
]
TITLE_SYMPTOM = re.compile(rf"{SYMPTOM.pattern}|\bslow\w*|\bexpir\w*|\bleak\w*|\bbroken\b|\bincident\b|\bbreach\b|"
                           r"\bexposed\b|\bnot (?:working|loading|resolving)\b|\bdropped\b", IC)
PHRASES = [
    (re.compile(r"latency|p99|slow|timeouts?|timed out|degraded", IC), "degraded"),
    (re.compile(r"\b5xx\b|\b[45]\d\ds?\b|errors?|fail\w*", IC), "errors"),
    (re.compile(r"\bdown\b|outage|unavailable", IC), "outage"),
    (re.compile(r"delay\w*|\blag\b|backlog|queue", IC), "delayed"),
    (re.compile(r"\blost\b", IC), "lost"),
    (re.compile(r"missing|empty", IC), "missing"),
    (re.compile(r"crash\w*|oom\w*", IC), "crashing"),
    (re.compile(r"expired", IC), "expired"),
    (re.compile(r"\bred\b|stuck|blocked", IC), "blocked"),
]
CUT = re.compile(r"\s+(?:since|from|for|after|because|at)\s+|[,(;:]|\?+|\.\s|\s[-–—]\s")
INVESTIGATING = re.compile(r"^(?:status page, \w+:\s*)?we(?:'re| are)\s+(?:currently\s+)?investigating\s+"
                           r"(?:reports of\s+|an issue with\s+)?", IC)
# "Getting reports from the Dublin store team that prices show €0.00": the report, without who reported it.
REPORTED = re.compile(r"^(?:[\w ]+:\s*)?(?:we(?:'re| are)\s+|i'?m\s+)?(?:getting|got|received|seeing|have)\s+"
                      r"(?:\w+\s+)?reports?\s+(?:from\s+(?:the\s+|a\s+|some\s+)?[\w\s-]+?\s+)?(?:that|of)\s+", IC)
MAX_WORDS = 12
SURFACE = re.compile(r"\b((?:iOS|Android|mobile|desktop)(?:\s+(?:and|&)\s+(?:iOS|Android|web|desktop))?\s+apps?)\b")
SURFACE_WORDS = re.compile(r"\b(?:app|apps|ios|android|mobile|web|website|api|desktop)\b", IC)
ZONE_ONLY = re.compile(r"^\W*(?:all\s+)?times?\b[^.]{0,40}\.?\s*$", IC)


def derive(lines: list[Line], facts: Facts, timeline: Timeline, start: datetime | None) -> str:
    header = _header(lines)
    after = [e for e in timeline.events if start is None or e.at >= start]
    if header:
        title = header if TITLE_SYMPTOM.search(header) else _with_symptom(header, after)
        title = _with_surface(title, facts)
    else:
        title = _from_story(facts, after) or "Incident"
    title = _finish(title)
    written = {_normal(line.raw) for line in lines}
    if _normal(title) in written:  # the header was already a plain title: shorten it rather than copy it
        title = _finish(_cut(title))
    return title if _normal(title) not in written else f"Incident: {title}"


def _header(lines: list[Line]) -> str | None:
    """The notes' header lines (before their first timed line or heading), cleaned; None when they only say where
    the notes were copied from."""
    for line in lines:
        if line.lead is not None or line.cells is not None or line.status_page:
            break
        if line.heading is not None and line.heading.lower() not in ("other",) and line.section != "other":
            break
        raw = line.raw.strip()
        if line.header and not raw.lower().startswith("subject"):
            continue
        if raw.replace("*", "").strip().endswith(":"):
            continue  # "*Incident title:*" left empty, "Copied from our status page:"
        if line.heading is None and re.match(r"^\W*[\w ]{2,25}:\*?\s*\S", raw) and not re.match(
                r"^\W*(?:subject|title|[\w ]*\b(?:incident|postmortem|post-mortem|review|summary|report)\b[\w ]*:)",
                raw, IC):
            continue  # "Date: ...", "Severity: SEV2": a field, not a title
        cleaned = _clean(re.split(r"(?<=[.!?])\s+", raw)[0])
        if SOURCE_ONLY.search(cleaned) or not re.search(r"[A-Za-z]{2}", cleaned) or ZONE_ONLY.match(raw):
            continue
        return " ".join(cleaned.split()[:MAX_WORDS])
    return None


def _clean(text: str) -> str:
    text = text.replace("*", "")
    text = re.sub(r"\[([a-z0-9][a-z0-9._-]*[a-z0-9])\]", r"\1", text)  # an alert's "[order-confirm]" names the service
    for pattern in FURNITURE:
        text = pattern.sub(" ", text).strip()
    text = TIME.sub(" ", DATE.sub(" ", text))
    text = re.sub(r"\b(?:times?|all times)\s+(?:are\s+)?(?:UTC|[A-Z]{2,4})\b", " ", text)
    return " ".join(text.split()).strip(" -–—:,.;")


def _with_symptom(header: str, events: list[Event]) -> str:
    for event in events:
        if SYMPTOM.search(event.own):
            phrase = next((p for pattern, p in PHRASES if pattern.search(event.own)), None)
            if phrase and phrase not in header.lower():
                return f"{header} {phrase}"
    return header


def _with_surface(title: str, facts: Facts) -> str:
    """"Product images missing" where the notes say only the apps were hit: "... in the iOS and Android apps"."""
    if SURFACE_WORDS.search(title):
        return title
    told = " ".join([facts.summary or "", *(s.value for s in facts.impact)])
    m = SURFACE.search(told)
    return f"{title} in the {m.group(1)}" if m else title


def _from_story(facts: Facts, events: list[Event]) -> str | None:
    if facts.summary:
        return _cut(facts.summary)
    status = next((e for e in events if e.line.status_page and INVESTIGATING.search(e.own)), None)
    if status is not None:
        return _cut(INVESTIGATING.sub("", status.own))
    told = next((e for e in events if REPORTED.search(e.own) and not e.range_end), None)
    if told is not None:
        return _cut(REPORTED.sub("", told.own))
    reported = next((e for e in events if SYMPTOM.search(e.own) and not ALERT.search(e.own)
                     and not e.range_end), None)
    return _cut(reported.own) if reported else None


def _cut(text: str) -> str:
    text = re.sub(r"\s*\([^)]*\)", "", text)
    words = text.split()
    for m in CUT.finditer(text):
        if len(text[:m.start()].split()) >= 2:
            text = text[:m.start()]
            break
    return " ".join(text.split()[:MAX_WORDS]) if words else text


def _finish(title: str) -> str:
    title = title.strip(" .,;:-–—\"'")
    first, _, rest = title.partition(" ")
    if first.islower() and first.isalpha() and len(first) <= 3:
        first = first.upper()  # "db failover" -> "DB failover"
    elif first[:1].islower() and "." not in first:
        first = first[:1].upper() + first[1:]
    return f"{first} {rest}".strip()[:120]


def _normal(text: str) -> str:
    return " ".join(text.strip().strip("#*").strip().lower().split())
