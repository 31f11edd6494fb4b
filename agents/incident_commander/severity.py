"""Severity assessment: the SEV level an on-call SRE would pick from an incident's title and description."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel

from agents.incident_commander.common import _number, _rx
from app.config import TeamConfig


class SeverityAssessment(BaseModel):
    severity: str
    reasons: list[str]  # one sentence each, naming the words that triggered it
    signals: list[str]  # the words found, as written


@dataclass(frozen=True)
class Signal:
    """Words that point at a severity on their own (SEV number), and what they mean to a responder."""

    level: int
    kind: str  # outage, data, security, payments, errors, degraded
    pattern: re.Pattern[str]
    meaning: str
    not_after: re.Pattern[str] | None = None  # a preceding phrase that changes the meaning ("slow down")


@dataclass(frozen=True)
class Damper:
    """Words that narrow the impact: less severe by `shift`, but never pushed past `floor` by them.

    A breach is as serious for one customer or an internal system as for all, so most dampers
    spare security signals; only "not production" lowers them (and then no further than SEV2).
    """

    shift: int
    floor: int
    pattern: re.Pattern[str]
    meaning: str
    spares_security: bool = True


_CANT = r"(?:can't|cant|cannot|can\s+not|unable\s+to)"
_FAILING = (r"(?:fail\w*|errors?|erroring|down|broken|declin\w*|rejected|not\s+working|unavailable|stuck|"
            r"5\d\d|5xx|timing\s+out)")
_SERVER_ERRORS = (r"5xxs?|5\d\ds|(?:http|status|returning|returns|return|throwing|serving)\s+5\d\d|"
                  r"5\d\d\s+(?:errors?|responses?|status|codes?)|50[0-4](?!\s*(?:ms|milliseconds|s|sec|secs|seconds|"
                  r"minutes|users|customers|requests|rps|k|mb|gb)\b)")

SIGNALS: list[Signal] = [
    # SEV1: the whole product, data or security.
    Signal(1, "outage", _rx(r"(?:full|total|complete|major|global|site-?wide|platform-?wide|widespread)\s+outage"),
           "means a full outage"),
    Signal(1, "outage", _rx(r"(?:site|website|platform|production|prod|everything|all\s+services|"
                            r"(?:whole|entire)\s+(?:site|app|platform|product|service))\s+(?:is\s+|are\s+|went\s+|"
                            r"has\s+gone\s+|goes\s+)?(?:down|offline|unreachable|unavailable)"),
           "means the whole product is down", not_after=re.compile(r"non-?\s*$", re.IGNORECASE)),
    Signal(1, "outage", _rx(r"all\s+(?:requests|traffic|calls|api\s+calls|endpoints|pages|services)\s+(?:are\s+)?"
                            r"(?:failing|fail|failed|erroring|down|timing\s+out|returning\s+(?:5\d\d|5xx|errors?))"),
           "means a full outage"),
    Signal(1, "outage", _rx(r"(?:5\d\d|5xx)s?\s+(?:errors?\s+)?(?:for|on|from|across)\s+(?:everything|everyone|"
                            r"every\s+(?:request|endpoint|page|call|user|customer)|"
                            r"all\s+(?:requests|endpoints|pages|calls|traffic|users|customers))"),
           "means every request is failing"),
    Signal(1, "outage", _rx(r"(?:nobody|no\s+one|no-one|no\s+users?|no\s+customers?)\s+(?:can|is\s+able\s+to|"
                            r"are\s+able\s+to)"),
           "means no one can use the product"),
    Signal(1, "data", _rx(r"data\s+loss", r"lost\s+(?:customer\s+|user\s+|production\s+|prod\s+)?data",
                          r"data\s+(?:was\s+|were\s+|has\s+been\s+)?(?:deleted|wiped|lost)",
                          r"(?:deleted|dropped|wiped|truncated)\s+(?:the\s+)?(?:production|prod|customer|user)\s+"
                          r"(?:data|database|db|tables?)"),
           "means data loss"),
    Signal(1, "data", _rx(r"(?:data\s+)?corrupt(?:ion|ed|s)?"), "means data corruption"),
    Signal(1, "security", _rx(r"security\s+(?:breach|incident)", r"breach(?:ed)?", r"compromised?", r"hacked",
                              r"intrusion", r"ransomware", r"malware"),
           "means a security breach"),
    Signal(1, "security", _rx(r"(?:leaked|exposed|committed|stolen|compromised|published)\s+(?:\w+\s+){0,2}?"
                              r"(?:credentials?|secrets?|api\s+keys?|keys?|tokens?|passwords?)",
                              r"(?:credentials?|secrets?|api\s+keys?|tokens?|passwords?)\s+(?:were\s+|was\s+|got\s+|"
                              r"have\s+been\s+|has\s+been\s+)?(?:leaked|exposed|committed|stolen|compromised|published)"),
           "means leaked credentials"),
    Signal(1, "security", _rx(r"unauthori[sz]ed\s+access"), "means someone got in who should not have"),
    Signal(1, "security", _rx(r"data\s+(?:leak|exposure)",
                              r"pii\s+(?:leak|leaked|exposed|exposure)",
                              r"exposed\s+(?:pii|customer\s+data|personal\s+data|user\s+data)"),
           "means customer data was exposed"),
    # SEV2: customers are hurt.
    Signal(2, "payments", _rx(r"(?:payments?|checkouts?|billing|purchases?|orders?|card\s+processing|invoic\w+|"
                              r"subscriptions?)\s+(?:\w+\s+){0,3}?" + _FAILING,
                              r"(?:failed|failing|declined)\s+(?:payments?|checkouts?|transactions?|orders?)",
                              _CANT + r"\s+(?:pay|check\s*out|purchase|buy|place\s+(?:an\s+)?orders?)"),
           "means customers cannot pay"),
    Signal(2, "outage", _rx(_CANT + r"\s+(?:log\s*in|login|sign\s*in|sign\s*up|authenticate)",
                            r"(?:login|log-?in|logins|sign-?in|auth|authentication|sso)\s+(?:\w+\s+){0,2}?"
                            r"(?:fail\w*|broken|down|errors?|not\s+working)"),
           "means users cannot log in"),
    Signal(2, "outage", _rx(r"outage", r"down", r"offline", r"unreachable", r"unavailable", r"not\s+loading",
                            r"won't\s+load", r"not\s+responding", r"unresponsive", r"ddos"),
           "means a service is down for its users",
           not_after=re.compile(r"\b(?:slow|slowed|scale|scaled|scaling|shut|shutting|wind|winding|cool|calm|step|"
                                r"stepping|track|tracked|tracking|narrow|narrowed|break|breaking|count|counting|"
                                r"write|turn|turned|turning|spin|spun|spinning|drill|drilling|burn|burned|"
                                r"go|went|planned|scheduled)\s+$", re.IGNORECASE)),
    Signal(2, "outage", _rx(r"crash\w*\s+(?:on|at|during|when)\s+(?:launch|launching|startup|start|open|opening|"
                            r"login|log\s*in|checkout)"),
           "means users cannot use the app"),
    Signal(2, "errors", _rx(_SERVER_ERRORS), "means users are getting server errors"),
    Signal(2, "errors", _rx(r"(?:requests?|api\s+calls?)\s+(?:are\s+|is\s+)?(?:failing|failed|erroring)"),
           "means requests are failing"),
    # SEV3: degraded, limited impact.
    Signal(3, "degraded", _rx(r"degraded", r"degradation", r"slow(?:ness|er|ly)?", r"latency", r"timeouts?",
                              r"timing\s+out", r"elevated", r"delayed", r"delays?", r"lagging",
                              r"high\s+(?:cpu|memory|load)", r"error\s+rates?", r"errors?", r"crash\w*",
                              r"backlog", r"exhaust\w*", r"packet\s+loss", r"disk\s+full", r"out\s+of\s+memory",
                              r"oom\w*", r"memory\s+leak"),
           "means the service is degraded"),
]

AMPLIFIER = _rx(r"all\s+(?:users|customers|regions|tenants|merchants|accounts|transactions|payments|orders|checkouts)",
                r"every\s+(?:user|customer|region)",
                r"everyone", r"everybody", r"globally", r"worldwide", r"site-?wide", r"across\s+(?:all\s+)?regions")

DAMPERS: list[Damper] = [
    Damper(1, 3, _rx(r"intermittent(?:ly)?", r"partial(?:ly)?", r"some\s+(?:users|customers|requests)",
                     r"a\s+few\s+(?:users|customers|requests)", r"small\s+(?:number|percentage|fraction)\s+of",
                     r"subset\s+of", r"occasional(?:ly)?", r"sporadic(?:ally)?"),
           "means only part of the traffic is affected"),
    Damper(1, 4, _rx(r"(?:single|one|1|specific|individual)\s+(?:customer|user|tenant|account|merchant|client)"),
           "means only one customer is affected"),
    Damper(1, 4, _rx(r"internal\s+(?:tool|tools|tooling|dashboard|app|service|wiki|admin|portal)", r"back-?office",
                     r"(?:ci|build)\s+(?:pipeline|server|system|jobs?)", r"ci", r"jenkins", r"flaky\s+tests?"),
           "means only employees are affected"),
    Damper(2, 5, _rx(r"staging", r"stage\s+env\w*", r"dev(?:elopment)?\s+(?:env\w*|cluster|server|database|db)",
                     r"test\s+(?:env\w*|cluster|server)", r"qa\s+(?:env\w*|cluster)", r"sandbox",
                     r"non-?\s*prod(?:uction)?", r"preview\s+env\w*"),
           "is not production, so customers are not affected", spares_security=False),
    Damper(2, 5, _rx(r"no\s+(?:customer|user|external)\s+impact", r"no\s+impact", r"not\s+customer[-\s]facing",
                     r"no\s+customers?\s+affected"),
           "says customers are not affected"),
    Damper(2, 5, _rx(r"cosmetic", r"typos?", r"spelling", r"misspell\w*", r"misaligned", r"alignment",
                     r"wrong\s+(?:colou?r|font|icon|logo)", r"(?:visual|ui|css)\s+glitch", r"css", r"styling",
                     r"broken\s+(?:image|icon|link)"),
           "is cosmetic: nothing is broken for users"),
]

# However narrow the scope, these stay serious: a leaked key opens production too; lost data is gone.
KIND_FLOORS = {"security": 2, "data": 3}
NEGATION = re.compile(r"\b(?:no|not|without|never|zero|isn't|aren't|wasn't|weren't|didn't|don't|doesn't)"
                      r"\W+(?:\w+\W+){0,2}$|non-$", re.IGNORECASE)
_LEVELS = {1: "One level", 2: "Two levels", 3: "Three levels"}


@dataclass(frozen=True)
class _Hit:
    signal: int  # index in SIGNALS
    level: int
    kind: str
    words: str
    meaning: str
    start: int
    end: int


def _normalise(text: str) -> str:
    """Curly apostrophes as typed on phones read as straight ones; same length, so spans still line up."""
    return text.replace("\u2019", "'").replace("\u2018", "'")


def _words(text: str, start: int, end: int) -> str:
    return " ".join(text[start:end].split())


def _up_hits(text: str) -> list[_Hit]:
    """Signals found, most severe first; a phrase already explained by a more severe one is not repeated."""
    hits: list[_Hit] = []
    for index, signal in enumerate(SIGNALS):
        for match in signal.pattern.finditer(text):
            before = text[max(0, match.start() - 40):match.start()]
            if NEGATION.search(before) or (signal.not_after and signal.not_after.search(before)):
                continue
            if any(match.start() < hit.end and hit.start < match.end() for hit in hits):
                continue
            start, end = match.span()
            last = hits[-1] if hits else None
            if last is not None and last.signal == index and not text[last.end:start].strip():
                start = hits.pop().start  # "elevated latency" is one reason, not two
            hits.append(_Hit(index, signal.level, signal.kind, _words(text, start, end), signal.meaning, start, end))
    return hits


def _name(level: int) -> str:
    return f"SEV{level}"


def _clamp(level: int, config: TeamConfig) -> tuple[str, str | None]:
    """The configured severity for a level, and a reason when the configuration moved it."""
    configured = sorted(config.severity_names, key=_number)
    if _name(level) in configured:
        return _name(level), None
    nearest = min(configured, key=lambda name: (abs(_number(name) - level), _number(name)))
    if _number(configured[0]) < level < _number(configured[-1]):
        return nearest, f"{nearest}: {_name(level)} is not configured; {nearest} is the nearest level"
    extreme = "most" if _number(nearest) > level else "least"
    return nearest, f"{nearest}: the {extreme} severe level configured"


def _amplify(level: int, text: str, hits: list[_Hit], reasons: list[str], signals: list[str]) -> int:
    match = AMPLIFIER.search(text)
    if match is None or not hits:
        return level
    words = _words(text, *match.span())
    signals.append(words)
    if level > 1:
        reasons.append(f'One level more severe: "{words}" means the impact is broad')
        return level - 1
    return level


def _damp(level: int, text: str, hits: list[_Hit], reasons: list[str], signals: list[str]) -> int:
    breach = next((hit for hit in hits if hit.kind == "security"), None)
    for damper in DAMPERS:
        match = damper.pattern.search(text)
        if match is None:
            continue
        words = _words(text, *match.span())
        signals.append(words)
        if breach is not None and damper.spares_security:
            reasons.append(f'"{words}" {damper.meaning}, but "{breach.words}" is serious whoever it touches')
            continue
        pushed = max(level, min(level + damper.shift, damper.floor))
        if pushed > level:
            reasons.append(f'{_LEVELS[pushed - level]} less severe: "{words}" {damper.meaning}')
        else:
            reasons.append(f'"{words}" {damper.meaning} (already {_name(level)} or lower)')
        level = pushed
    return level


def _floor(level: int, hits: list[_Hit], reasons: list[str]) -> int:
    for hit in hits:
        floor = KIND_FLOORS.get(hit.kind)
        if floor is not None and level > floor:
            reasons.append(f'Kept at {_name(floor)}: "{hit.words}" stays serious whatever the scope')
            level = floor
    return level


def assess_severity(title: str, description: str | None, config: TeamConfig) -> SeverityAssessment:
    """Pick the severity an on-call SRE would, from the words in the title and description.

    The most severe signal sets the level (or the configured default when there is none); words
    about breadth ("all customers") raise it one level; words narrowing the impact (one customer,
    staging, cosmetic) lower it; security and data loss are never lowered past SEV2 / SEV3.
    """
    text = _normalise(title + ("\n" + description if description else ""))
    hits = _up_hits(text)
    reasons = [f'{_name(hit.level)}: "{hit.words}" {hit.meaning}' for hit in hits]
    signals = [hit.words for hit in hits]
    if hits:
        level = min(hit.level for hit in hits)
    else:
        level = _number(config.default_severity)
        reasons.append(f"{config.default_severity} (the configured default): nothing in the title or description "
                       "says how bad it is")
    level = _amplify(level, text, hits, reasons, signals)
    level = _damp(level, text, hits, reasons, signals)
    level = _floor(level, hits, reasons)
    severity, clamped = _clamp(level, config)
    if clamped:
        reasons.append(clamped)
    return SeverityAssessment(severity=severity, reasons=reasons, signals=signals)
