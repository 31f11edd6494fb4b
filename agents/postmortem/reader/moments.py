"""The moments a postmortem measures, recognised in the notes' own wording: when impact started and ended, when
the page went out and was acknowledged ("acked", "picked up the alert", "I'll take it"), when the mitigation
took effect ("rollback finished", not "rollback started"), and when the incident was called resolved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from agents.postmortem.reader.events import Event, Timeline, Window

IC = re.IGNORECASE
NEGATED = re.compile(r"\b(?:nobody|no one|noone|not|never|un|wasn'?t|didn'?t)\s*(?:\w+\s+)?(?:acked|ack|"
                     r"acknowledged|restarted|resolv\w+|picked up)", IC)
# A person taking the page: the ack verbs, or a taking verb whose object is the page ("Ken took the page",
# "grabbed the pager alert", "accepted the incident in PagerDuty", "on-call (Jo) picked it up").
_PAGED_THING = (r"(?:the |a |this |that )?(?:pager(?:duty)? |on-?call )?"
                r"(?:page|pager|alert|alarm|call|incident|ticket)s?")
ACK = re.compile(r"\back(?:ed|'d|s|nowledged?|nowleged|nowledges)?\b|\bpicked (?:it |this )?up\b|"
                 rf"\b(?:answered|accepted|responded to|took|grabbed|claimed|caught)\s+{_PAGED_THING}\b|"
                 r"\b(?:accepted|claimed|taken|picked up) by\b|\btaking (?:it|this)\b|"
                 r"\bclaimed (?:it|the)\b|\b(?:i'?m|is|am|are|'s|k\.?)\s+on it\b|^[A-Z][\w.'-]*\s+on it\b"
                 r"|^on it\b|\bi'?ve got (?:it|this)\b|\bgot (?:it|this)\b(?!\s+\w+ing)|\bi'?ll take (?:it|this)\b|"
                 r"\bgot the page\b|:\s*mine\b|"
                 r"\btak(?:e|es|en|ing|ed) the (?:alarm|alert|page|pager|incident)\b|\backnowledged by\b", IC)
ALERT = re.compile(r"\balert\w*\b|\balarm\b|\bpaged\b|\bpaging\b|\bpages\s+(?!load|are|is|were)\w+|"
                   r"\bthe page\b(?! is| was| shows| loads)|\bfired\b|\btriggered\b|\bnotified\b|"
                   r"\bpagerduty\b|\bopsgenie\b|\bprobes?\b|\bsynthetic\w*\b|\bpingdom\b|\bscanning\b", IC)
REPORT = re.compile(r"\bcustomers?\b|\bsupport\b|\btickets?\b|\breports?\b|\breported\b|\bcomplain\w*|\bseeing\b|"
                    r"\bnoticed\b", IC)
CUSTOMER = re.compile(r"\b(?:customers?|clients?|users?|merchants?)\s+(?:report|complain|email|call|said|say|see|saw|"
                      r"are|were|can'?t|cannot|could|noticed|tweet|wrote)\w*|\bsupport\b|\btickets?\b|"
                      r"\bcustomer success\b|\bfrom (?:a )?customers?\b|\bcustomer (?:report|complaint)s?\b|"
                      # People telling us, not a monitor: "getting reports from the store team", "reports of ..."
                      r"\b(?:getting|got|received|seeing) (?:\w+ )?reports?\b|\breports? (?:from|of)\b", IC)
SYMPTOM = re.compile(r"\berrors?\b|\b[45]\d\ds\b|\b5xx\b|\btimeouts?\b|\btimed out\b|\blatency\b|\bslow\b|"
                     r"\bfail(?:ing|ed|ures?|s)?\b|\bdown\b|\boutage\b|\bunavailable\b|\bred\b|\bcrash\w*|\boom\w*|"
                     r"\bblock(?:ed|s|ing)?\b|\bstuck\b|\bempty\b|\bexpired\b|\bnot resolving\b|\bdelay(?:s|ed)?\b|"
                     r"\blag\b|\blagg(?:ing|ed|y)\b|\bbacking up\b|\bpiling up\b|"
                     r"\blost\b|\bdestroyed\b|\bmissing\b|\bspike\b|\bdegraded\b|\brejected\b|\bp(?:50|90|95|99)\b|"
                     r"\bslow\w*\b|\bsomething(?:'s| is) (?:off|wrong)\b|\bbroken\b|\bnot working\b|"
                     # A bare HTTP error status, where the words around it make it one ("first 401 to Stripe",
                     # "returning 503", "502 from the gateway").
                     r"\b(?:first|returned|returning|returns|return|got|getting|throwing|throws|serving|serves|"
                     r"answering|answers)\s+(?:an?\s+|http\s+)?[45]\d\d\b|\b[45]\d\d\s+(?:errors?|responses?|status|"
                     r"from|to|on|for)\b", IC)
STARTED = re.compile(r"\b(?:start(?:s|ed|ing)?|startd|initiated|kick(?:ed)? off|in progress|begin|began|beginning|"
                     r"underway)\b", IC)
# The remedies responders apply, and the words saying one is complete: "workaround applied", "reindex finished",
# "mitigation in place", "applied the mitigation", "the revert is live". Either order.
REMEDY = (r"(?:mitigation|workaround|fix|hotfix|patch|roll-?back|revert|failover|fail-over|restore|rebuild|reindex|"
          r"re-?index|rate[- ]limit|block|reroute|re-?route|purge|flush|re-?deploy|resize|switch-?over)")
DONE_WORDS = r"(?:applied|complete|completed|done|finished|in place|live|deployed|shipped|rolled out|added|took effect)"
REMEDY_DONE = re.compile(rf"\b{REMEDY}\w*\b[^.;,]{{0,30}}?\b(?:is |was |now )?{DONE_WORDS}\b|"
                         rf"\b(?:applied|deployed|added|finished|completed|put in)\s+(?:a |the |our )?{REMEDY}\w*\b|"
                         r"\brouted (?:around|away from)\b|\bcordoned\b|\bisolated the\b|\bquarantined\b", IC)
# Remedies told in the present tense, as timeline tables often are: "Lars pauses the rotation", "reverts the flag".
PRESENT_REMEDY = re.compile(r"\b(?:pauses|reverts|rolls back|disables|turns off|fails over|restarts|drains|purges|"
                            r"flushes|blocks|revokes|rotates the|restores|kills|halts|scales (?:up|out)|switches|"
                            r"shifts|reroutes|exempts|bypasses|cordons|isolates)\b", IC)
MITIGATED = re.compile(
    r"\brol+(?:ed|led)?[\s-]?back\b|\brevert(?:ed)?\b|\bswitched\b|\bfailed over\b|\bfail[\s-]?over (?:done|"
    r"complete)|\b(?:fix|hotfix|patch)\b[^.;]*\b(?:deployed|shipped|applied|live|out)\b|\bdeployed (?:a |the )?"
    r"(?:fix|hotfix|patch)\b|\bdisabled\b|\bturned off\b|\bflag(?:ged)? off\b|\brestarted\b|\bscaled (?:up|out|back)"
    r"\b|\bbumped\b|\blowered\b|\braised\b|\bincreased\b|\bset\b[^.;]*\bback\b|\bpointed back\b|\bchanged the\b|"
    r"\bre-?pointed\b|\brenewed\b|\bkey rolled\b|\brolled the key\b|\bcancel(?:s|ed|led)\b|\bkilled\b|"
    r"\bterminated\b|\bslot dropped\b|\bdropped the\b|\brestore(?:d)? (?:complete|completed|finished|done)\b|"
    r"\brestored\b|\bpurged\b|\bexpanded\b|\bresized\b|\bhalted\b|\bpaused\b|\bre-?promoted\b|\bfailed back\b|"
    r"\bfreed\b|\bcleared\b|\bflushed\b|\bblocked the\b|\brate[- ]limited\b|\bmitigated\b|"
    r"\bmitigation (?:in place|done)\b|\brevoked\b|\brotated the\b|\binvalidated\b|\brolled forward\b|\bpatched\b|"
    r"\bbounced\b|\brebooted\b|\brecycled\b|\bdrained\b(?! by)|\bshifted\b|\bmoved (?:the )?traffic\b|"
    r"\bpromoted\b|\bscaled\b|\badded (?:more )?(?:capacity|nodes|replicas|workers|instances)\b|\bblocked\b(?! by)|"
    r"\bbanned\b|\btoggled off\b|\brolled out (?:a |the )?(?:fix|patch|hotfix)\b|\bapplied (?:a |the )?(?:fix|patch|"
    r"workaround)\b|\bworkaround (?:is )?in place\b|\bdowngraded\b|\bpinned\b|\bfix rolled out\b|"
    r"\bswitched off\b|\bturned (?:it |the \w+ )?off\b|\bfix (?:is )?(?:live|out|in)\b|"
    # Letting the failing traffic through again: "route exempted from auth", "allowlisted the IP".
    r"\bexempt(?:ed)?\b|\ballow-?listed\b|\bwhite-?listed\b|\bbypassed\b|\bunblocked\b|"
    # A new version going out after the impact began rolls forward: "5.2.1 is approved and released".
    r"\b(?:v?\d+\.\d+(?:\.\d+)*\S*|new (?:build|version|release))\s+(?:is |was |has been |now )?"
    r"(?:(?:approved|merged|built) and )?(?:released|deployed|shipped|rolled out|live)\b|"
    r"\b(?:released|deployed|shipped|rolled out)\s+(?:the\s+)?v?\d+\.\d+", IC)
# A measure or the whole service reported normal: "graphs look normal", "latency normal", "everything green".
# Work getting through again: "writes succeeding on new primary", "payments going through".
# A backlog worked off: "backlog drained, deliveries current", "consumers caught up".
CAUGHT_UP = re.compile(r"\b(?:deliveries|messages|events|replicas?|consumers?|jobs|queues?|backlogs?|lag|data|"
                       r"indexes|search index)\s+(?:are\s+|is\s+|now\s+|fully\s+)*(?:current|caught up|in sync|"
                       r"up to date|drained|cleared|empty|at (?:0|zero))\b|\bcaught up\b", IC)
FLOWING = re.compile(r"\b(?:writes|reads|requests|calls|logins|payments|orders|checkouts|uploads|deliveries|jobs|"
                     r"messages|emails|builds|deploys|queries|transactions)\s+(?:are\s+|now\s+)*(?:succeeding|"
                     r"working|flowing|going through|processing|landing|completing|passing)\b", IC)
HEALTHY = re.compile(r"\b(?:errors?|error rates?|latency|p\d\d|traffic|graphs?|dashboards?|metrics|success rate|"
                     r"throughput|queue|lag|everything|all (?:systems|services|checks)|services?|checks|monitors)\b"
                     r"(?:\s+(?:is|are|looks?|looking|now|back|all|fully|at))*\s+(?:normal|nominal|green|healthy|"
                     r"operational|flat|stable|fine|ok|good)\b|\bno more (?:errors?|5xx|failures?|timeouts?|alerts?)\b|"
                     r"\bconfirm(?:s|ed)? (?:it(?:'s| is)? )?(?:works|working|fixed|resolved)\b", IC)
NOT_YET = re.compile(r"\b(?:not|isn'?t|aren'?t|never|still|almost|nearly|mostly)\b", IC)
RECOVERED = re.compile(
    r"\bback to (?:normal|baseline|\d)|\bback (?:under|below|within|up|online)\b|"
    r"\b(?:ok|fine|good|normal|healthy|green) (?:again|now)\b|\b\w+ing again\b|\bon time again\b|"
    r"\breal-time again\b|\b(?:is|are|were|was) back\b|"
    r"^(?:[\w-]+\s){0,2}[\w-]+ back\W*$|\brecovered\b|\brecovery (?:confirmed|complete)\b|\bfull recovery\b|"
    r"\b(?:fully|service) restored\b|"
    r"\bhealthy\b|\bhandshake ok\b|\berror rates? (?:back to )?normal\b|\bnormal levels\b|\ball good\b|"
    r"\bok again\b|\b(?:errors?|5xx|failures?|[45]\d\ds|timeouts?)\b[^.;]{0,20}\b(?:at 0|gone|cleared|stopped)\b", IC)
RESOLVED = re.compile(r"\bresol(?:ved|vd|ving|ution)\b(?!\s+(?:from|again))|\bclos(?:ed|ing)\b|\bcalling it\b|"
                      r"\bclose[sd]?\s+(?:the\s+|this\s+)?(?:incident|ticket|bridge|issue|it out)\b|"
                      r"\ball clear\b|\bincident (?:is )?over\b|\bstand(?:ing)? down\b|\bstood down\b|"
                      r"\b(?:declared|marked|confirmed) (?:as )?(?:fixed|over|done)\b|\bend of incident\b|"
                      r"\b(?:ended|ending|end) the (?:incident|bridge|call)\b|\bdone here\b", IC)
CAUSE_CUES = re.compile(r"root cause|found it|that'?s what|caused by|turned out|\bthe cause\b|the problem (?:is|was)|"
                        r"\bbecause\b|\bdue to\b|\bforgot\b|\bwrong\b|\bmissing\b|\bwithout\b|\blost its\b|"
                        r"doesn'?t exist|points? to|\bonly has\b|->|\bso it\b|\bmisconfigured\b|\binstead of\b|"
                        r"\bleak\w*\b|\bexhaust\w*\b", IC)
# "restarted the pods, didn't help": an action that did not mitigate anything.
NO_EFFECT = re.compile(r"\b(?:did(?:n'?t| not) help|no (?:change|effect|improvement|difference)|still (?:failing|down|"
                       r"broken|erroring|slow|bad)|didn'?t (?:work|fix)|did not (?:work|fix)|made it worse|"
                       r"tried)\b", IC)
TOOK = re.compile(r"\b(?:fail(?:ed)?[\s-]?over|roll(?:ed)?[\s-]?back|restart\w*|recovery)\b[^.;]*?\btook\s+"
                  r"(?P<minutes>\d+)\s*(?:min|mins|minutes)\b", IC)
ONGOING = re.compile(r"\b(?:investigation (?:continues|ongoing)|still investigating|ongoing|contained|not (?:yet )?"
                     r"resolved|still open|monitoring continues)\b", IC)
DURATION = re.compile(r"\bfor (?:about |around |~|approx\.? )?(?:(?P<h>\d+)\s*h(?:ours?)?\s*)?(?:(?P<m>\d+)\s*"
                      r"(?:m|min|mins|minutes)\b)?", IC)


@dataclass
class Moments:
    start: Event | None = None
    start_at: datetime | None = None
    start_from: str = "notes' first entry"
    end_at: datetime | None = None
    detected: Event | None = None
    paged: Event | None = None  # the page the acknowledgement answered
    acknowledged: Event | None = None
    mitigated: Event | None = None
    resolved_at: datetime | None = None
    resolved_by_end: bool = False  # no resolution line: the end of impact is taken as the resolution
    response_from: datetime | None = None  # when responding began: the first alert, if it came before the impact


def is_ack(event: Event) -> bool:
    text = event.own
    return bool(ACK.search(text)) and not NEGATED.search(text) and not text.rstrip().endswith("?")


def find(timeline: Timeline, impact_texts: list[str], told: list[str] | None = None) -> Moments:
    events = timeline.events
    found = Moments()
    if not events:
        return found
    window = next((w for w in timeline.windows if w.labelled), None) or next(iter(timeline.windows), None)
    symptom = next((e for e in events if SYMPTOM.search(e.own) and not e.range_end), None)
    first_alert = next((e for e in events if ALERT.search(e.own) and not e.range_end), None)
    stated_start = next((e for e in events if e.field == "t_start"), None)
    if window is not None:
        found.start_at, found.start_from = window.start, "impact window the notes state"
    elif stated_start is not None:
        found.start, found.start_at, found.start_from = stated_start, stated_start.at, "start the notes state"
    elif symptom is not None:
        start = min([symptom, *([first_alert] if first_alert else [])], key=lambda e: e.at)
        found.start, found.start_at, found.start_from = start, start.at, "first symptom the notes time"
    else:
        found.start, found.start_at = events[0], events[0].at
    start_at = found.start_at
    after = [e for e in events if e.at >= start_at]
    found.detected = next((e for e in after if ALERT.search(e.own) or REPORT.search(e.own)), None)
    # The response can begin before customers are hit (an alert on a job running late, hours before the cutoff it
    # misses): an acknowledgement counts from the first alert of the incident, or half an hour before the start.
    found.response_from = _response_from(events, start_at)
    found.acknowledged = next((e for e in events if is_ack(e) and e.at >= found.response_from), None)
    if found.acknowledged is not None:
        found.paged = next((e for e in reversed(events) if e.at <= found.acknowledged.at and ALERT.search(e.own)
                            and not is_ack(e)), None) or (found.acknowledged if ALERT.search(
                                found.acknowledged.own) else None)
    found.mitigated = next((e for e in after if e.at > start_at and _mitigation(e)), None) or _took(
        timeline, start_at, told or [])
    found.end_at = _end(timeline, found, impact_texts, window)
    resolved = next((e for e in reversed(after) if RESOLVED.search(e.own) and not NEGATED.search(e.own)), None)
    ongoing = any(ONGOING.search(e.own) for e in after[-3:])
    if resolved is None and ongoing:
        pass  # "contained, investigation continues": the notes stop short of a resolution
    elif resolved is not None and (found.end_at is None or resolved.at >= found.end_at - timedelta(hours=1)):
        found.resolved_at = resolved.at
    elif found.end_at is not None:
        found.resolved_at, found.resolved_by_end = found.end_at, True
    return found


def _response_from(events: list[Event], start_at: datetime) -> datetime:
    early = start_at - timedelta(minutes=30)
    alert = next((e for e in events if ALERT.search(e.own) and not e.range_end
                  and start_at - timedelta(hours=6) <= e.at < early), None)
    return alert.at if alert is not None else early


def _took(timeline: Timeline, start_at: datetime, told: list[str]) -> Event | None:
    """"failover to the replica was automatic but took 14 min": the mitigation took effect that long after the
    start, at the event the notes time there."""
    for text in told:
        m = TOOK.search(text)
        if m:
            target = start_at + timedelta(minutes=int(m["minutes"]))
            near = [e for e in timeline.events if abs(e.at - target) <= timedelta(minutes=2)]
            if near:
                return min(near, key=lambda e: abs(e.at - target))
    return None


def _mitigation(event: Event) -> bool:
    text = event.own
    if not (MITIGATED.search(text) or REMEDY_DONE.search(text) or PRESENT_REMEDY.search(text)) or \
            NEGATED.search(text) or \
            text.rstrip().endswith("?") or NO_EFFECT.search(text):
        return False
    return not STARTED.search(text) or bool(re.search(r"\brestarted\b", text, IC))


def _end(timeline: Timeline, found: Moments, impact_texts: list[str], window: Window | None) -> datetime | None:
    if window is not None:
        return window.end
    assert found.start_at is not None
    stated = _stated_duration(impact_texts)
    if stated is not None:
        target = found.start_at + stated
        near = [e for e in timeline.events if abs(e.at - target) <= timedelta(minutes=2)]
        if near:
            return min(near, key=lambda e: abs(e.at - target)).at
    floor = found.mitigated.at if found.mitigated else found.start_at
    recovered = next((e for e in timeline.events if e.at >= floor and e.at > found.start_at
                      and recovered_text(e.own)), None)
    if recovered is not None:
        return recovered.at
    if found.mitigated is not None:
        return found.mitigated.at
    return None


def recovered_text(text: str) -> bool:
    """The line says the service (or its measure) is back: "recovered", "back to normal", "graphs look normal"."""
    if RECOVERED.search(text) or ((FLOWING.search(text) or CAUGHT_UP.search(text)) and not NOT_YET.search(text)):
        return True
    healthy = HEALTHY.search(text)
    return bool(healthy) and not NOT_YET.search(text) and not text.rstrip().endswith("?")


def _stated_duration(texts: list[str]) -> timedelta | None:
    for text in texts:
        for m in DURATION.finditer(text):
            if m["h"] or m["m"]:
                return timedelta(hours=int(m["h"] or 0), minutes=int(m["m"] or 0))
    return None


def trigger(timeline: Timeline, found: Moments) -> Event | None:
    """The event that set it off: the last one before impact began that is neither an alert nor a symptom; or a
    change at the very start (a certificate expiring, a bucket deleted)."""
    if found.start_at is None:
        return None
    window_lines = {id(w.line) for w in timeline.windows}
    candidates = [e for e in timeline.events if e.at <= found.start_at and not e.range_end and e.field is None
                  and id(e.line) not in window_lines and not ALERT.search(e.own) and not is_ack(e)]
    before = [e for e in candidates if found.start_at - timedelta(hours=6) <= e.at < found.start_at]
    if before:
        return before[-1]
    at_start = [e for e in timeline.events if e.at == found.start_at and not e.range_end and not is_ack(e)
                and e.field is None
                and id(e.line) not in window_lines
                and (_changed(e) or not (SYMPTOM.search(e.own) or ALERT.search(e.own)))]
    return at_start[-1] if at_start else None


def _changed(event: Event) -> bool:
    return bool(re.search(r"\b(?:expired|deleted|destroyed|pushed|deployed|applied|changed|rotated|released|shipped|"
                          r"rolled out|merged|enabled|disabled|upgraded|migrated)\b", event.own, IC))


def last_finding(timeline: Timeline, found: Moments) -> Event | None:
    """What responders found last before the mitigation, when nobody said "the cause": a lead, not a verdict."""
    if found.mitigated is None or found.start_at is None:
        return None
    before = [e for e in timeline.events if found.start_at <= e.at < found.mitigated.at and not e.range_end
              and not ALERT.search(e.own) and not is_ack(e) and not e.line.status_page and not e.own.endswith("?")]
    return before[-1] if before else None


def summary_cause(summary: str | None) -> str | None:
    """A sentence of the summary that says why ("a larger batch size made concurrent writers deadlock")."""
    for sentence in re.split(r"(?<=[.;])\s+", summary or ""):
        if CAUSE_CUES.search(sentence) or re.search(r"\b(?:made|led to|resulted in|caused)\b", sentence, IC):
            return sentence.strip(" .;")
    return None


def cause(timeline: Timeline, found: Moments) -> Event | None:
    """The line in which responders name what went wrong, between the start and the mitigation."""
    if found.start_at is None:
        return None
    until = found.mitigated.at if found.mitigated else (found.resolved_at or timeline.events[-1].at)
    since = min(found.start_at, found.response_from or found.start_at)
    scored = [(len(CAUSE_CUES.findall(e.own)), i, e) for i, e in enumerate(timeline.events)
              if since <= e.at <= until and not e.range_end]
    best = max(scored, default=None, key=lambda s: (s[0], s[1]))
    return best[2] if best and best[0] > 0 else None
