"""What went well, what went poorly and where we got lucky: what the notes say under those headings, and what
their facts imply (an acknowledgement within a minute, a page nobody answered, customers noticing before the
alert, a failure that went unnoticed for weeks). Every finding names the line it comes from, in blameless words:
it describes systems and timings, never who was at fault."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from agents.postmortem.reader.clock import dates
from agents.postmortem.reader.events import Event, Timeline
from agents.postmortem.reader.facts import Facts, Stated
from agents.postmortem.reader.labels import labelled
from agents.postmortem.reader.lines import Line
from agents.postmortem.reader.moments import ALERT, CUSTOMER, NEGATED, Moments, cause, is_ack

IC = re.IGNORECASE
FAST_ACK_MINUTES = 5
SLOW_ACK_MINUTES = 10
FAST_DETECTION_MINUTES = 5
SLOW_DETECTION_MINUTES = 15
QUICK_MITIGATION_MINUTES = 20
LATE_STATUS_PAGE_MINUTES = 15
UNANSWERED = re.compile(r"\b(?:nobody|no one|noone)\s+(?:acked|acknowledged|answered|responded)\b|\bunanswered\b|"
                        r"\bnot acknowledged\b|\bwent unacked\b", IC)
# A signal that reached a place nobody looks: "(nobody watches that inbox)", "no one monitors that channel".
UNWATCHED = re.compile(r"\b(?:nobody|no one|noone)\s+(?:watch|monitor|read|check|look)(?:es|s|ed)?\b|\bunwatched\b|"
                       r"\bunmonitored\b|\bnobody saw\b|\bno one saw\b|\bwent unnoticed\b", IC)
RENOTIFIED = re.compile(r"\bnotified\b|\bpaged\b|\bescalat\w*|\bphone call\b|\bcall(?:ed)?\b", IC)
NO_ALERT = re.compile(r"\b(?:there (?:is|was) no|no|without an?)\s+(?:[\w-]+\s+){0,3}alert(?:s|ing)?\b", IC)
EMPHASIS = re.compile(r"[^.;()]*?(?:\(!\)|!(?=\s|\)|$))", IC)
TOOK_BECAUSE = re.compile(r"[^.;]*\btook\s+\d+\s*(?:min|minutes|h|hours)\b[^.;]*\b(?:because|bc|due to)\b[^.;]*", IC)
LUCKY = re.compile(r"[^.;()]*\b(?:never stopped|peaked at|no lost|nothing (?:was )?lost|no data (?:was )?lost|"
                   r"no data loss|luckily|fortunately|lucky|phew|no evidence|thankfully|by chance|happened to|"
                   r"good thing|saved us|could have been (?:much )?worse)\b[^.;()]*", IC)
BUT = re.compile(r"(?:,|;)\s*but\s+(?P<what>[^.;]+)", IC)
MANUAL = re.compile(r"[^.;,]*\b(?:by hand|manual(?:ly)?)\b[^.;,]*", IC)
# Untimed remarks in the notes' prose that say something hurt or helped.
HURT = re.compile(r"[^.;]*\b(?:unfortunately|no runbook|runbook was (?:outdated|out of date|wrong)|out of date|"
                  r"outdated|did(?:n'?t| not) have|no access|lacked|nobody knew|no one knew|unclear who|confus\w+|"
                  r"took too long|slow to|could(?:n'?t| not)|was(?:n'?t| not) able|unable to|had to wait|waited)\b"
                  r"[^.;]*", IC)
HELPED = re.compile(r"[^.;]*\b(?:worked (?:well|as expected|as designed)|thanks to|helped|"
                    r"was already (?:scripted|in place)|saved (?:us|time)|paid off)\b[^.;]*", IC)
PROSE_SECTIONS = (None, "summary", "other", "timeline")
# Tests that did not cover what broke: "the tests only had numeric prices", "no test covers inbound webhooks".
_TESTS = r"(?:unit |integration |e2e |contract )?tests?"
UNTESTED = re.compile(rf"[^.;]*\b(?:(?:the |our )?{_TESTS} (?:only|never|did(?:n'?t| not)|do(?:n'?t| not)|missed|"
                      r"skipped)|"
                      rf"no {_TESTS} (?:for|cover\w*|on|of)|not covered by (?:any )?tests?|untested)\b[^.;]*", IC)
# The cause not found: "we have no idea why", "root cause unknown", "couldn't find what triggered it".
UNEXPLAINED = re.compile(r"[^.;]*\b(?:no idea why|(?:do(?:n'?t| not)|did(?:n'?t| not)) know why|(?:root )?cause "
                         r"(?:is |still )?(?:unknown|not (?:found|known|established))|"
                         r"could(?:n'?t| not) find (?:the|a|any) (?:cause|"
                         r"reason|trigger)|no (?:root )?cause (?:found|identified)|unexplained)\b[^.;]*", IC)
SINCE_DATE = re.compile(r"[^.;]*\bsince\s+(?P<when>[A-Z][a-z]{2,8}\.?\s+\d{1,2}|\d{1,2}\s+[A-Z][a-z]{2,8}|"
                        r"\d{4}-\d{2}-\d{2})[^.;]*")


@dataclass
class Finding:
    text: str
    source: str  # the line of the notes it comes from
    stated: bool


@dataclass
class Findings:
    well: list[Finding] = field(default_factory=list)
    poorly: list[Finding] = field(default_factory=list)
    lucky: list[Finding] = field(default_factory=list)


def find(facts: Facts, timeline: Timeline, moments: Moments, lines: list[Line], day: date) -> Findings:
    out = Findings(
        well=[_stated(s) for s in facts.lists["went_well"]],
        # A contributing factor is, by what the word means, something that went poorly.
        poorly=[_stated(s) for s in [*facts.lists["went_poorly"], *facts.lists["contributing"]]],
        lucky=[_stated(s) for s in facts.lists["lucky"]],
    )
    out.well += _derived_well(moments) + _remarks(lines, HELPED)
    out.poorly += _derived_poorly(timeline, moments, lines, day)
    out.poorly += _impact_buts(facts) + _manual_cause(facts, timeline, moments) + _remarks(lines, HURT)
    out.lucky += _derived_lucky(lines)
    return Findings(well=_unique(out.well), poorly=_unique(out.poorly), lucky=_unique(out.lucky))


def _stated(s: Stated) -> Finding:
    text = s.value.strip(" .")
    return Finding(text=text[:1].upper() + text[1:], source=s.line.raw.strip(), stated=True)


def _unique(findings: list[Finding]) -> list[Finding]:
    seen: dict[str, Finding] = {}
    for f in findings:
        seen.setdefault(f.text.lower(), f)
    return list(seen.values())


def _clock(at: datetime) -> str:
    return f"{at:%H:%M} UTC"


def _minutes(later: datetime, earlier: datetime) -> int:
    return round((later.replace(second=0) - earlier.replace(second=0)).total_seconds() / 60)


def _plural(n: int) -> str:
    return f"{n} minute" + ("" if n == 1 else "s")


def _derived_well(m: Moments) -> list[Finding]:
    well = []
    if m.acknowledged and m.paged and m.paged is not m.acknowledged:
        taken = _minutes(m.acknowledged.at, m.paged.at)
        if 0 <= taken <= FAST_ACK_MINUTES:
            well.append(Finding(f"The page was acknowledged within {_plural(max(taken, 1))} ({_clock(m.paged.at)} "
                                f"alert, {_clock(m.acknowledged.at)} acknowledged)", m.acknowledged.line.raw.strip(),
                                False))
    if m.detected and m.start_at and ALERT.search(m.detected.own):
        taken = _minutes(m.detected.at, m.start_at)
        if 0 <= taken <= FAST_DETECTION_MINUTES:
            how = "synthetic checks" if re.search(r"synthetic|probe|pingdom", m.detected.own, IC) else "monitoring"
            when = "as impact began" if taken == 0 else f"within {_plural(taken)} of impact starting"
            well.append(Finding(f"Detected by {how} {when} ({_clock(m.detected.at)})", m.detected.line.raw.strip(),
                                False))
    if m.mitigated and m.detected:  # a rollback, a failover or a traffic shift: any remedy that took effect fast
        taken = _minutes(m.mitigated.at, m.detected.at)
        if 0 <= taken <= QUICK_MITIGATION_MINUTES:
            well.append(Finding(f"Quick mitigation, {_plural(taken)} after detection: {m.mitigated.own} "
                                f"({_clock(m.mitigated.at)})", m.mitigated.line.raw.strip(), False))
    return well


def _derived_poorly(timeline: Timeline, m: Moments, lines: list[Line], day: date) -> list[Finding]:
    poorly: list[Finding] = []
    events = timeline.events
    if m.acknowledged and m.paged and m.paged is not m.acknowledged:
        taken = _minutes(m.acknowledged.at, m.paged.at)
        if taken >= SLOW_ACK_MINUTES:
            poorly.append(Finding(f"The page took {_plural(taken)} to be acknowledged ({_clock(m.paged.at)} to "
                                  f"{_clock(m.acknowledged.at)})", m.acknowledged.line.raw.strip(), False))
    poorly += _renotified(events, m)
    for event in events:
        if UNANSWERED.search(event.line.text):
            poorly.append(Finding(f"The page was not acknowledged: {event.own} ({_clock(event.at)})",
                                  event.line.raw.strip(), False))
            break
    for event in events:
        if UNWATCHED.search(event.line.text) and not UNANSWERED.search(event.line.text):
            poorly.append(Finding(f"A warning reached a place nobody watched: {event.own} ({_clock(event.at)})",
                                  event.line.raw.strip(), False))
            break
    poorly += _customers_first(events, m)
    if m.detected and m.start_at and ALERT.search(m.detected.own):
        taken = _minutes(m.detected.at, m.start_at)
        if taken >= SLOW_DETECTION_MINUTES:
            poorly.append(Finding(f"Impact went undetected for {_plural(taken)} ({_clock(m.start_at)} to "
                                  f"{_clock(m.detected.at)})", m.detected.line.raw.strip(), False))
    poorly += _late_status_page(events, m)
    for line in lines:
        if line.header or (line.in_actions and not NO_ALERT.search(line.text)):
            continue
        if line.section in ("went_well", "went_poorly", "lucky") or any(
                f.key in ("went_well", "went_poorly", "lucky") for f in labelled(line.text)):
            continue  # said under its own heading already
        poorly += _line_findings(line, day)
    return poorly


def _renotified(events: list[Event], m: Moments) -> list[Finding]:
    """The first notification went unanswered and the page was sent again (another channel, an escalation)."""
    if m.acknowledged is None:
        return []
    sent = [e for e in events if e.at <= m.acknowledged.at and RENOTIFIED.search(e.own) and ALERT.search(e.own)
            and not is_ack(e)]
    if len(sent) < 2:
        return []
    first, last = sent[0], sent[-1]
    return [Finding(f"The first notification ({first.own}, {_clock(first.at)}) was not acknowledged; it took "
                    f"another ({last.own}, {_clock(last.at)}) before the page was acknowledged at "
                    f"{_clock(m.acknowledged.at)}", last.line.raw.strip(), False)]


def _customers_first(events: list[Event], m: Moments) -> list[Finding]:
    reported = next((e for e in events if CUSTOMER.search(e.own) and m.start_at and e.at >= m.start_at
                     and not ALERT.search(e.own)), None)
    if reported is None:
        return []
    alert = next((e for e in events if ALERT.search(e.own) and m.start_at and e.at >= m.start_at
                  and not NEGATED.search(e.own)), None)
    if alert is not None and alert.at <= reported.at:
        return []
    when = f"{_minutes(alert.at, reported.at)} minutes before the first alert" if alert else "before any alert fired"
    who = "Customers" if re.search(r"\bcustomers?\b|\bclients?\b|\busers?\b|\bmerchants?\b", reported.own, IC) \
        else "People outside the response"
    return [Finding(f"{who} reported the problem first ({reported.own}, {_clock(reported.at)}), {when}",
                    reported.line.raw.strip(), False)]


def _late_status_page(events: list[Event], m: Moments) -> list[Finding]:
    posted = next((e for e in events if e.line.status_page), None)
    if posted is None or m.start_at is None:
        return []
    taken = _minutes(posted.at, m.start_at)
    if taken < LATE_STATUS_PAGE_MINUTES:
        return []
    return [Finding(f"The first status page update was posted {_plural(taken)} after impact began "
                    f"({_clock(posted.at)})", posted.line.raw.strip().splitlines()[-1], False)]


def _line_findings(line: Line, day: date) -> list[Finding]:
    """Facts a single line implies: no alert existed, a step took long because of something, an exclamation
    about a shortcut, a failure going on since an earlier date."""
    out = []
    text, source = line.text, line.raw.strip()
    for pattern, lead in ((NO_ALERT, "No alert covered it"), (UNTESTED, "Tests did not cover it"),
                          (UNEXPLAINED, "The cause was not found"),
                          (TOOK_BECAUSE, None), (EMPHASIS, None)):
        m = pattern.search(text)
        if m:
            clause = _sentence_around(text, m) if pattern is NO_ALERT else m.group(0)
            clause = clause.strip(" .,;()!").strip()
            if clause:
                out.append(Finding(f"{lead}: {clause}" if lead else clause[:1].upper() + clause[1:], source, False))
    since = SINCE_DATE.search(text)
    if since:
        earlier = [d.day if d.has_year or d.day <= day else d.day.replace(year=day.year - 1)
                   for d in dates(since["when"], day.year)]
        if earlier and earlier[0] < day:
            out.append(Finding(f"An earlier failure went unnoticed: {since.group(0).strip(' .,;')}", source, False))
    return out


def _sentence_around(text: str, m: re.Match[str]) -> str:
    start = max(text.rfind(". ", 0, m.start()) + 1, text.rfind("? ", 0, m.start()) + 1, 0)
    end = text.find(".", m.end())
    return text[start:end if end >= 0 else len(text)]


def _remarks(lines: list[Line], pattern: re.Pattern[str]) -> list[Finding]:
    """Untimed remarks ("unfortunately the runbook was out of date"): findings in the notes' own words."""
    out = []
    for line in lines:
        if line.lead is not None or line.in_actions or line.header or line.heading is not None or line.cells:
            continue
        if line.section not in PROSE_SECTIONS or labelled(line.text):
            continue
        m = pattern.search(line.text)
        if m:
            clause = m.group(0).strip(" .,;")
            out.append(Finding(clause[:1].upper() + clause[1:], line.raw.strip(), True))
    return out


def _impact_buts(facts: Facts) -> list[Finding]:
    """"internal only, but the coupon hotfix went out ~40 min late": what made the impact worse."""
    out = []
    for stated in facts.impact:
        m = BUT.search(stated.value)
        if m:
            clause = m["what"].strip(" .,;")
            out.append(Finding(clause[:1].upper() + clause[1:], stated.line.raw.strip(), False))
    return out


def _manual_cause(facts: Facts, timeline: Timeline, found: Moments) -> list[Finding]:
    """A step done by hand in what caused it (a secret built by hand, a fallback that is manual)."""
    texts = []
    if facts.root_cause is not None and not facts.root_cause.unknown:
        texts.append((facts.root_cause.value, facts.root_cause.line.raw.strip()))
    event = cause(timeline, found)
    if event is not None:
        texts.append((event.line.text, event.line.raw.strip()))
    for text, source in texts:
        m = MANUAL.search(text)
        if m:
            clause = m.group(0).strip(" .,;")
            return [Finding(f"A manual step was part of the cause: {clause}", source, False)]
    return []


def _derived_lucky(lines: list[Line]) -> list[Finding]:
    out = []
    for line in lines:
        if line.header or line.in_actions or line.section in ("went_well", "went_poorly", "lucky"):
            continue
        m = LUCKY.search(line.text)
        if m:
            clause = m.group(0).strip(" .,;\"'")
            out.append(Finding(clause[:1].upper() + clause[1:], line.raw.strip(), False))
    return out
