"""What the notes state outright: their sections (Summary, Impact, Root cause, What went well ...) and labelled
lines ("Root cause: ...", "Customers affected: ...", "Revenue: n/a"), with impact figures found in the impact
text when nobody labelled them. A value written as unknown ("TBD", "n/a", "we don't know yet") is kept as said
and counted as missing."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from agents.postmortem.reader.labels import labelled
from agents.postmortem.reader.lines import Line

UNKNOWN = re.compile(r"^\W*(?:unknown|unkown|tbd|tbc|n/?a|not known|not yet known|we don'?t know|don'?t know|\?+$|"
                     r"none yet|pending|under investigation|to be determined|not sure|not measured|unmeasured|"
                     r"not tracked|no idea|unclear|"
                     r"no (?:\w+ )?(?:figures?|numbers?|estimates?|data)(?: yet)?)\b", re.IGNORECASE)
NO_IMPACT = re.compile(r"\bno (?P<what>customer|revenue|user) impact\b", re.IGNORECASE)
ERROR_WORDS = re.compile(r"\b(?:errors?|5xx|4xx|[45]\d\d\w?s?|fail\w*|timeouts?|timed out|requests?|rejected|"
                         r"crash\w*|hit|affected|impacted)\b", re.IGNORECASE)
# "disabled by error", "sent in error": the word "error" meaning a mistake, not a failure rate.
BY_MISTAKE = re.compile(r"\b(?:by|in)\s+(?:error|mistake)\b", re.IGNORECASE)
# A share of requests: "12%", "1 in 20", "3 out of 10".
PERCENT = re.compile(r"\d+(?:[.,]\d+)?\s*%|\b\d+\s+(?:in|out of)\s+\d+\b")
EVERYONE_FAILED = re.compile(r"\b(?:every|all)\b.*\bfail\w*|(?<![\d,.])[45]\d\d(?![\d,.]).*\b(?:every|all)\b|"
                             r"\b(?:every|all)\b.*\breturned\s+[45]\d\d\b", re.IGNORECASE)
# Who or what a business counts as affected: people and organisations it serves, and their units of business.
AFFECTED = (r"(?:customers?|users?|accounts?|sessions?|merchants?|clients?|orders?|tenants?|shops?|stores?|partners?|"
            r"sellers?|buyers?|drivers?|riders?|members?|subscribers?|players?|patients?|students?|developers?|"
            r"businesses|companies|organi[sz]ations?|orgs?|workspaces?|projects?|sites?|households?|shoppers?|"
            r"devices?|installs?|learners?|guests?|bookings?|reservations?|policyholders?|borrowers?|creators?|"
            # things, counted only in the plural ("invoice page loads" counts page loads, not invoices)
            r"invoices|e-?mails|messages|payments|transactions|shipments|deliveries|notifications|parcels)")
COUNTED = re.compile(rf"(?<!\bin )(?<!\bof )(?:~|about |around |approx\.? )?(?<![\d,.])\d[\d,.\s]*(?:k|%)?\+?"
                     rf"(?!\s+(?:in|out of)\s+\d)\s+(?:of\s+)?(?:\w+\s+){{0,2}}"
                     rf"{AFFECTED}\b|"
                     r"(?:~|\ball\b|\bevery\b)\s*(?:\w+\s+)?(?:customers?|users?|accounts?|merchants?|clients?)\b",
                     re.IGNORECASE)
# In a timed line, a count is the impact only when the line says it was hit: "37 orders between 10:30 and 10:51",
# "~2,000 users affected", "214 customers charged twice"; not "scaled to 12 replicas".
COUNTED_HIT = re.compile(rf"(?:{COUNTED.pattern})(?=[^.;]*\b(?:affected|impacted|hit|between|during|failed|lost|"
                         r"charged|saw|got|could(?:n'?t| not)|stuck|at 0|wrong|without|missing)\b)", re.IGNORECASE)
# An amount of money, in a clause that says it was lost, refunded or at stake.
_AMOUNT = r"(?:[€$£¥]\s?~?\d[\d,.]*\s?(?:k|m|K|M)?|\d[\d,.]*\s?(?:k|m)?\s?(?:EUR|USD|GBP|dollars|euros|pounds))"
MONEY_LOST = re.compile(rf"(?:\b(?:value|revenue|lost|loss|sales|gmv|refund\w*|worth|cost|missed|at risk)\b[^.;]*?"
                        rf"{_AMOUNT}|{_AMOUNT}[^.;]*?\b(?:value|revenue|lost|loss|sales|gmv|refund\w*|worth|cost|"
                        rf"missed|at risk)\b)", re.IGNORECASE)
REGION = re.compile(r"\b(?:APAC|EMEA|AMER|LATAM|EU|Europe|European|US|USA|North America|South America|Asia|"
                    r"Africa|Australia|all regions|global(?:ly)?|worldwide|[a-z]{2}-(?:[a-z]+-)?[a-z]+-\d)\b")
CLAUSE = re.compile(r"(?<=[.;])\s+|,\s+")
SEVERITY = re.compile(r"\bSEV-?([0-5])\b", re.IGNORECASE)
LISTS = ("went_well", "went_poorly", "lucky", "lessons", "contributing")


@dataclass
class Stated:
    """One fact, the words it was given in, and the line it came from."""

    value: str
    line: Line
    unknown: bool = False


@dataclass
class Facts:
    sections: dict[str, list[Line]] = field(default_factory=lambda: defaultdict(list))
    labels: dict[str, list[Stated]] = field(default_factory=lambda: defaultdict(list))
    root_cause: Stated | None = None
    trigger: Stated | None = None
    impact: list[Stated] = field(default_factory=list)
    customers: Stated | None = None
    revenue: Stated | None = None
    error_rate: Stated | None = None
    regions: Stated | None = None
    lists: dict[str, list[Stated]] = field(default_factory=lambda: defaultdict(list))
    summary: str | None = None
    severity: str | None = None


def read(lines: list[Line]) -> Facts:
    facts = Facts()
    for line in lines:
        if line.heading is None and line.section:
            facts.sections[line.section].append(line)
        if line.in_actions or line.header:
            continue
        for found in labelled(line.text):
            facts.labels[found.key].append(Stated(found.value, line, bool(UNKNOWN.match(found.value))))
    facts.root_cause = _one(facts, "root_cause")
    facts.trigger = _one(facts, "trigger")
    facts.impact = [*facts.labels["impact"], *(Stated(line.text, line) for line in facts.sections.get("impact", []))]
    timed = [Stated(line.text, line) for line in lines if line.lead is not None and not line.in_actions
             and not line.header and line.section not in LISTS]
    facts.customers = _labelled_or(facts, "customers", lambda: _no_impact(lines, "customer") or _no_impact(
        lines, "user") or _clause(facts.impact, COUNTED) or _clause(_loose(lines), COUNTED) or _clause(
        timed, COUNTED_HIT))
    facts.revenue = _labelled_or(facts, "revenue", lambda: _no_impact(lines, "revenue") or _clause(
        facts.impact, re.compile(r"\brevenue\b", re.IGNORECASE)) or _clause(facts.impact + _loose(lines) + timed,
                                                                            MONEY_LOST))
    summary = [*facts.labels["summary"], *_section(facts, "summary")]
    facts.error_rate = _labelled_or(facts, "error_rate", lambda: None) or _clause(facts.impact, None) or _clause(
        summary, None) or _error_clause(_loose(lines) + [
        Stated(line.text, line) for line in lines if not line.in_actions and not line.header])
    facts.regions = _labelled_or(facts, "regions", lambda: _clause(facts.impact, REGION))
    for key in LISTS:
        facts.lists[key] = [*_split(facts.labels[key]), *_section(facts, key)]
    facts.summary = " ".join(s.value for s in summary) or None
    severity = next((SEVERITY.search(line.text) for line in lines if SEVERITY.search(line.text)), None)
    facts.severity = f"SEV{severity.group(1)}" if severity else None
    return facts


def _one(facts: Facts, key: str) -> Stated | None:
    stated = [*facts.labels[key], *_joined(facts, key)]
    return next((s for s in stated if not s.unknown), stated[0] if stated else None)


def _joined(facts: Facts, key: str) -> list[Stated]:
    """A section's paragraph as one statement."""
    lines = [line for line in facts.sections.get(key, []) if not labelled(line.text)]
    if not lines:
        return []
    value = " ".join(line.text for line in lines)
    return [Stated(value, lines[0], bool(UNKNOWN.match(value)))]


def _section(facts: Facts, key: str) -> list[Stated]:
    return [Stated(line.text, line) for line in facts.sections.get(key, []) if line.text and not labelled(line.text)]


def _split(stated: list[Stated]) -> list[Stated]:
    """"Went poorly: plan approved without reading it; the restore took 3h24m" is two findings."""
    out = []
    for s in stated:
        out += [Stated(part.strip(), s.line) for part in s.value.split(";") if part.strip()]
    return out


def _labelled_or(facts: Facts, key: str, otherwise: Callable[[], Stated | None]) -> Stated | None:
    given = facts.labels[key]
    return given[0] if given else otherwise()


def _no_impact(lines: list[Line], what: str) -> Stated | None:
    for line in lines:
        for m in NO_IMPACT.finditer(line.text):
            if m["what"].lower() == what:
                return Stated(m.group(0), line)
    return None


def _loose(lines: list[Line]) -> list[Stated]:
    """Untimed lines outside any list or section: where terse notes put their impact."""
    return [Stated(line.text, line) for line in lines
            if line.lead is None and not line.in_actions and not line.header and line.heading is None
            and line.section in (None, "summary", "other") and not line.cells]


def _clause(stated: list[Stated], pattern: re.Pattern[str] | None) -> Stated | None:
    for s in stated:
        for clause in CLAUSE.split(s.value):
            if pattern is None:
                if (PERCENT.search(clause) and ERROR_WORDS.search(BY_MISTAKE.sub("", clause))) or \
                        EVERYONE_FAILED.search(clause):
                    return Stated(clause.strip(" ."), s.line)
            elif pattern.search(clause):
                return Stated(clause.strip(" ."), s.line, bool(UNKNOWN.match(clause)))
    return None


def _error_clause(stated: list[Stated]) -> Stated | None:
    for s in stated:
        for clause in CLAUSE.split(s.value):
            if PERCENT.search(clause) and ERROR_WORDS.search(BY_MISTAKE.sub("", clause)):
                return Stated(clause.strip(" ."), s.line)
    return None
