"""The incident-commander agent: severity assessment, status reports, answers and the resolve handoff.

Deterministic: every answer comes from the incident store (already-loaded ORM objects) and the team
config, so it can be trusted in the middle of an incident and tested exactly. Each function returns a
typed result; Markdown (CLI, exports) and Block Kit (Slack) are rendered separately from it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from app.config import TeamConfig
from app.incidents.models import Incident, Role, TimelineEvent
from app.incidents.render import clock, datetime_utc, person
from app.slack.blocks import channel_link, context, escape, fields, header, mention, section

AGENT = "incident-commander"
MODE = "deterministic"
INCIDENT_ID = re.compile(r"\bINC-\d{4}-\d{4}-\d{3}\b", re.IGNORECASE)
POSTMORTEM_ROLE = "Postmortem Owner"  # a configured role (app.config.DEFAULT_ROLES), not a Role member
POSTMORTEM_PROMPT = "Assign a postmortem owner: `/incident assign postmortem @user`"
UPDATE_HINT = "Post one with `/incident update <text>`."
Block = dict[str, Any]

# --- severity assessment ---------------------------------------------------------------------------


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


def _rx(*alternatives: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")\b", re.IGNORECASE)


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


def _number(name: str) -> int:
    return int(name[3:])


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


# --- status report -------------------------------------------------------------------------------


class RoleLine(BaseModel):
    role: str
    user_id: str
    status: str
    since: datetime
    ended_at: datetime | None = None


class UpdateLine(BaseModel):
    text: str
    at: datetime
    actor: str | None = None


class ActionLine(BaseModel):
    position: int
    text: str


class StatusReport(BaseModel):
    public_id: str
    title: str
    severity: str
    severity_meaning: str | None = None
    status: str
    is_open: bool
    declared_at: datetime
    resolved_at: datetime | None
    as_of: datetime
    duration: str
    commander: str | None
    roles: list[RoleLine]
    last_update: UpdateLine | None
    open_actions: list[ActionLine]
    next_update_due: datetime | None
    channel_id: str | None
    channel_name: str | None
    spans_days: bool

    @property
    def update_overdue(self) -> bool:
        return self.is_open and self.next_update_due is not None and self.next_update_due <= self.as_of

    def at(self, value: datetime) -> str:
        """A time as shown: the date too when the incident spans days, so 00:10 is never ambiguous."""
        return f"{clock(value, self.spans_days)} UTC"


def human_duration(delta: timedelta) -> str:
    """'1h 05m', '45m', '2d 3h 05m': how responders say it, to the minute."""
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes == 0:
        return "<1m"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {mins:02d}m"
    if hours:
        return f"{hours}h {mins:02d}m"
    return f"{mins}m"


def _ended_at(incident: Incident, now: datetime) -> datetime:
    """An open incident runs until now; a finished one until it was resolved (or closed)."""
    if incident.is_open:
        return now
    return incident.resolved_at or incident.closed_at or now


def _role_order(role: str) -> int:
    names = [r.value for r in Role]
    return names.index(role) if role in names else len(names)


def _active_roles(incident: Incident) -> list[RoleLine]:
    active = [r for r in incident.roles if r.ended_at is None]
    active.sort(key=lambda r: (_role_order(r.role), r.since))
    return [RoleLine(role=r.role, user_id=r.user_id, status=r.status, since=r.since) for r in active]


def _last_update(timeline: Iterable[TimelineEvent]) -> UpdateLine | None:
    updates = [e for e in timeline if e.kind == "status_update"]
    if not updates:
        return None
    latest = max(updates, key=lambda e: (e.occurred_at, e.id or 0))
    return UpdateLine(text=latest.text, at=latest.occurred_at, actor=latest.actor)


def _open_actions(incident: Incident) -> list[ActionLine]:
    actions = sorted((a for a in incident.next_actions if a.done_at is None), key=lambda a: (a.position, a.id or 0))
    return [ActionLine(position=a.position, text=a.text) for a in actions]


def _spans_days(*moments: datetime | None) -> bool:
    return len({m.date() for m in moments if m is not None}) > 1


def status_report(incident: Incident, now: datetime, config: TeamConfig | None = None) -> StatusReport:
    """The incident as it stands at `now`, from the store only; `config` adds the severity's meaning."""
    end = _ended_at(incident, now)
    last = _last_update(incident.timeline)
    level = (config or TeamConfig()).severity(incident.severity)
    return StatusReport(
        public_id=incident.public_id,
        title=incident.title,
        severity=incident.severity,
        severity_meaning=level.meaning if level else None,
        status=str(incident.status),
        is_open=incident.is_open,
        declared_at=incident.declared_at,
        resolved_at=incident.resolved_at,
        as_of=now,
        duration=human_duration(end - incident.declared_at),
        commander=incident.active_holder(Role.INCIDENT_COMMANDER),
        roles=_active_roles(incident),
        last_update=last,
        open_actions=_open_actions(incident),
        next_update_due=incident.next_update_due if incident.is_open else None,
        channel_id=incident.channel_id,
        channel_name=incident.channel_name,
        spans_days=_spans_days(incident.declared_at, end, last.at if last else None,
                               incident.next_update_due if incident.is_open else None),
    )


def _severity_label(report: StatusReport) -> str:
    return f"{report.severity} ({report.severity_meaning})" if report.severity_meaning else report.severity


def _duration_label(report: StatusReport) -> str:
    if report.is_open:
        return f"{report.duration} (ongoing)"
    if report.resolved_at is not None:
        return f"{report.duration} (resolved {report.at(report.resolved_at)})"
    return report.duration


def next_update_text(report: StatusReport) -> str:
    """When the next update is owed, relative to now, so an overdue one stands out."""
    if not report.is_open:
        return f"Not needed: the incident is {report.status}"
    due = report.next_update_due
    if due is None:
        return "Not scheduled"
    if due <= report.as_of:
        return f"OVERDUE since {report.at(due)} ({human_duration(report.as_of - due)} ago)"
    return f"{report.at(due)} (in {human_duration(due - report.as_of)})"


def _no_update(report: StatusReport) -> str:
    return f"_No status update posted yet._ {UPDATE_HINT}" if report.is_open else "_No status update was posted._"


def _markdown_update(report: StatusReport) -> str:
    if report.last_update is None:
        return _no_update(report)
    update = report.last_update
    by = f"{person(update.actor)}: " if update.actor else ""
    return f"- {report.at(update.at)} - {by}{update.text}"


def _markdown_actions(actions: list[ActionLine]) -> str:
    if not actions:
        return "_None open._"
    return "\n".join(f"{i}. [ ] {a.text}" for i, a in enumerate(actions, 1))


def render_status_markdown(report: StatusReport) -> str:
    roles = "\n".join(f"| {r.role} | {person(r.user_id)} | {r.status} | {report.at(r.since)} |" for r in report.roles)
    channel = f"#{report.channel_name}" if report.channel_name else "no war room"
    return "\n".join([
        f"## Incident Status: {report.public_id}",
        "",
        f"**Title**: {report.title}",
        f"**Severity**: {_severity_label(report)}",
        f"**Status**: {report.status}",
        f"**Declared**: {datetime_utc(report.declared_at)}",
        f"**Duration**: {_duration_label(report)}",
        f"**Incident Commander**: {person(report.commander)}",
        f"**War room**: {channel}",
        "",
        "### Assigned Roles",
        "| Role | Assignee | Status | Since |",
        "|------|----------|--------|-------|",
        roles or "| - | - | - | - |",
        "",
        "### Last Update",
        _markdown_update(report),
        "",
        "### Open Next Actions",
        _markdown_actions(report.open_actions),
        "",
        "### Next Update",
        f"Due: {next_update_text(report)}",
        "",
    ])


def _blocks_update(report: StatusReport) -> str:
    if report.last_update is None:
        return _no_update(report)
    update = report.last_update
    by = f"{mention(update.actor)}: " if update.actor else ""
    return f"`{report.at(update.at)}` {by}{escape(update.text)}"


def _blocks_actions(actions: list[ActionLine]) -> str:
    if not actions:
        return "_None open._"
    return "\n".join(f"{i}. ☐ {escape(a.text)}" for i, a in enumerate(actions, 1))


def _blocks_roles(roles: list[RoleLine], report: StatusReport) -> str:
    if not roles:
        return "_Nobody holds a role._"
    return "\n".join(f"• {escape(r.role)}: {mention(r.user_id)} ({escape(r.status)}, since {report.at(r.since)})"
                     for r in roles)


def render_status_blocks(report: StatusReport) -> list[Block]:
    next_update = next_update_text(report)
    if report.update_overdue:
        next_update = f":warning: {next_update}"
    return [
        header(f"Status: {report.public_id}"),
        section(f"*{escape(report.title)}*"),
        fields([
            ("Severity", escape(_severity_label(report))),
            ("Status", report.status),
            ("Declared", datetime_utc(report.declared_at)),
            ("Duration", _duration_label(report)),
            ("Incident Commander", mention(report.commander)),
            ("War room", channel_link(report.channel_id, report.channel_name)),
        ]),
        section(f"*Assigned roles*\n{_blocks_roles(report.roles, report)}"),
        section(f"*Last update*\n{_blocks_update(report)}"),
        section(f"*Open next actions*\n{_blocks_actions(report.open_actions)}"),
        section(f"*Next update due*\n{next_update}"),
        context(f"{report.public_id} · as of {report.at(report.as_of)} · incidentbot {AGENT}"),
    ]


def _headline(report: StatusReport, *, slack: bool) -> str:
    title = escape(report.title) if slack else report.title
    commander = mention(report.commander) if slack else person(report.commander)
    age = f"open {report.duration}" if report.is_open else f"lasted {report.duration}"
    return f"{report.public_id} ({report.severity}, {report.status}): {title}. IC {commander}, {age}."


def status_fallback(report: StatusReport) -> str:
    """The one line Slack shows in notifications and to clients that cannot render blocks."""
    return _headline(report, slack=True)


# --- answers to @incidentbot questions ---------------------------------------------------------------


class AgentAnswer(BaseModel):
    agent: str = AGENT
    mode: str = MODE
    intent: str = "status"
    incident_id: str | None = None
    text_markdown: str
    blocks: list[Block] = Field(default_factory=list)
    fallback_text: str = ""


# The agents that will take over these intents; until they exist the commander answers with status.
DEFERRED_AGENTS = {
    "investigate": ("rca-agent", "root-cause analysis"),
    "postmortem": ("postmortem-writer", "postmortems"),
    "runbook": ("runbook-executor", "running runbooks"),
    "escalate": ("escalation-manager", "escalations and paging"),
}

ASK_NEXT_UPDATE = _rx(r"next\s+update", r"update\s+(?:is\s+)?due", r"when\b.*\bupdate", r"cadence",
                      r"overdue")
ASK_ROLES = _rx(r"who", r"ic", r"commander", r"roles?", r"comms", r"communications", r"scribe", r"in\s+charge",
                r"leading", r"owner", r"sme")
ASK_ACTIONS = _rx(r"being\s+done", r"next\s+actions?", r"actions?", r"doing", r"working\s+on", r"to-?dos?",
                  r"plan", r"next\s+steps?", r"mitigat\w*")
ASK_STATUS = _rx(r"status", r"state", r"update", r"going\s+on", r"happening", r"progress", r"where\s+are\s+we",
                 r"summary", r"summari[sz]e", r"sitrep", r"severity", r"sev\d?", r"overview", r"report", r"latest",
                 r"news", r"impact", r"how\s+bad", r"how\s+(?:is|are)\s+(?:it|things|we)", r"duration",
                 r"how\s+long", r"incidents?", r"open", r"inc-\S+")

HELP = (
    "I'm the incident commander agent. I answer from the incident record:\n"
    "• `status?` or `what's the current status of INC-2026-1125-001?`: severity, status, duration, roles, "
    "last update, open next actions and when the next update is due\n"
    "• `who is IC?`: who holds each role\n"
    "• `what's being done?`: the open next actions\n"
    "• `when is the next update?`: when the next status update is due\n"
    "• outside a war room, `status?` lists the open incidents\n"
    "Investigation, postmortems, runbooks and escalation will be handled by their own agents."
)


def named_incident_id(question: str) -> str | None:
    """The INC id a question names, upper-cased as stored, if any."""
    match = INCIDENT_ID.search(question)
    return match.group(0).upper() if match else None


def _answer(intent: str, incident: Incident | None, markdown: str, blocks: list[Block], fallback: str) -> AgentAnswer:
    return AgentAnswer(intent=intent, incident_id=incident.public_id if incident else None,
                       text_markdown=markdown, blocks=blocks, fallback_text=fallback)


def _report_answer(intent: str, incident: Incident, report: StatusReport, lead: str | None) -> AgentAnswer:
    markdown, blocks = render_status_markdown(report), render_status_blocks(report)
    if lead:
        markdown, blocks = f"_{lead}_\n\n{markdown}", [section(f"_{lead}_"), *blocks]
    return _answer(intent, incident, markdown, blocks, status_fallback(report))


def _focused_answer(intent: str, incident: Incident, report: StatusReport, markdown: str, slack: str) -> AgentAnswer:
    """A direct answer to a narrow question, with the incident's headline as context."""
    age = f"open {report.duration}" if report.is_open else f"lasted {report.duration}"
    headline = f"{report.public_id} · {report.severity} · {report.status} · {age}"
    blocks = [section(slack), context(f"{headline} · ask `status?` for the full report")]
    return _answer(intent, incident, f"{markdown}\n\n_{headline}_\n", blocks, status_fallback(report))


def _roles_answer(incident: Incident, report: StatusReport) -> AgentAnswer:
    ic = report.commander
    lead_md = f"**Incident Commander** of {report.public_id}: {person(ic)}"
    lead_slack = f"*Incident Commander* of {report.public_id}: {mention(ic)}"
    others_md = "\n".join(f"- {r.role}: {person(r.user_id)} ({r.status}, since {report.at(r.since)})"
                          for r in report.roles)
    markdown = f"{lead_md}\n\n{others_md}" if others_md else lead_md
    slack = f"{lead_slack}\n{_blocks_roles(report.roles, report)}"
    return _focused_answer("status", incident, report, markdown, slack)


def _actions_answer(incident: Incident, report: StatusReport) -> AgentAnswer:
    count = len(report.open_actions)
    title = f"{count} open next action{'s' if count != 1 else ''} on {report.public_id}"
    update = (f"\n\nLast update ({report.at(report.last_update.at)}): {report.last_update.text}"
              if report.last_update else "")
    slack_update = (f"\n*Last update* `{report.at(report.last_update.at)}`: {escape(report.last_update.text)}"
                    if report.last_update else "")
    markdown = f"**{title}**\n\n{_markdown_actions(report.open_actions)}{update}"
    slack = f"*{title}*\n{_blocks_actions(report.open_actions)}{slack_update}"
    return _focused_answer("status", incident, report, markdown, slack)


def _next_update_answer(incident: Incident, report: StatusReport) -> AgentAnswer:
    due = next_update_text(report)
    last = (f"Last update was at {report.at(report.last_update.at)}." if report.last_update
            else "No status update has been posted yet.")
    hint = f" {UPDATE_HINT}" if report.is_open else ""
    markdown = f"**Next update for {report.public_id}**: {due}\n\n{last}{hint}"
    slack = f"*Next update for {report.public_id}*: {':warning: ' if report.update_overdue else ''}{due}\n{last}{hint}"
    return _focused_answer("status", incident, report, markdown, slack)


def _open_incidents_answer(intent: str, open_incidents: list[Incident], now: datetime, lead: str) -> AgentAnswer:
    """No incident to talk about: say so, and list what is open (columns only; relations may not be loaded)."""
    if not open_incidents:
        none = "There are no open incidents. Declare one with `/incident declare SEV2 <title>`."
        return AgentAnswer(intent=intent, text_markdown=f"{lead} {none}\n", blocks=[section(f"{escape(lead)} {none}")],
                           fallback_text="There are no open incidents.")
    ordered = sorted(open_incidents, key=lambda i: (_number(i.severity) if i.severity[3:].isdigit() else 99,
                                                    i.declared_at))
    count = f"{len(ordered)} open incident{'s' if len(ordered) != 1 else ''}"
    rows_md = [f"| {i.public_id} | {i.severity} | {i.status} | {i.title} | {datetime_utc(i.declared_at)} "
               f"({human_duration(now - i.declared_at)}) | {'#' + i.channel_name if i.channel_name else '-'} |"
               for i in ordered]
    markdown = "\n".join([f"{lead}", "", f"## Open Incidents ({len(ordered)})", "",
                          "| Incident | Severity | Status | Title | Declared | War room |",
                          "|----------|----------|--------|-------|----------|----------|", *rows_md, ""])
    rows = [f"• *{i.public_id}* {i.severity} · {i.status} · {escape(i.title)} · "
            f"{channel_link(i.channel_id, i.channel_name)} · open {human_duration(now - i.declared_at)}"
            for i in ordered[:40]]
    blocks = [section(escape(lead)), section(f"*{count}*\n" + "\n".join(rows)),
              context("Ask `status of INC-…?` for one of them · incidentbot " + AGENT)]
    return AgentAnswer(intent=intent, text_markdown=markdown, blocks=blocks,
                       fallback_text=f"{count}: " + ", ".join(i.public_id for i in ordered[:10]))


def _help_answer(incident: Incident | None, open_incidents: list[Incident], now: datetime) -> AgentAnswer:
    if incident is not None:
        report = status_report(incident, now)
        markdown = f"This channel is about {_headline(report, slack=False)}"
        slack = f"This channel is about {_headline(report, slack=True)}"
    else:
        count = len(open_incidents)
        markdown = slack = f"There {'is' if count == 1 else 'are'} {count} open incident{'' if count == 1 else 's'}."
    return AgentAnswer(intent="help", incident_id=incident.public_id if incident else None,
                       text_markdown=f"{HELP}\n\n{markdown}\n", blocks=[section(HELP), context(slack)],
                       fallback_text="Here is what I can answer.")


def _deferred_lead(intent: str) -> str | None:
    if intent not in DEFERRED_AGENTS:
        return None
    agent, work = DEFERRED_AGENTS[intent]
    return f"{work.capitalize()} will be handled by the {agent} once it is available. Here is what I know."


def answer(
    incident: Incident | None,
    question: str,
    now: datetime,
    open_incidents: list[Incident],
    *,
    intent: str = "status",
    config: TeamConfig | None = None,
) -> AgentAnswer:
    """Answer `@incidentbot <question>` from the store.

    `incident` is the one the question is about (the named INC id, else the channel's war room).
    Narrow questions (IC, actions, next update) get a direct answer; anything status-like the full
    report; no incident lists the open ones; unrelated questions say what can be answered.
    """
    named = named_incident_id(question)
    lead = _deferred_lead(intent)
    if named and (incident is None or incident.public_id != named):
        return _open_incidents_answer(intent, open_incidents, now, f"I can't find {named}.")
    if incident is None:
        return _open_incidents_answer(intent, open_incidents, now,
                                      " ".join(filter(None, [lead, "This channel is not an incident war room."])))
    report = status_report(incident, now, config)
    if lead is not None:
        return _report_answer(intent, incident, report, lead)
    if ASK_NEXT_UPDATE.search(question):
        return _next_update_answer(incident, report)
    if ASK_ROLES.search(question) and not ASK_ACTIONS.search(question):
        return _roles_answer(incident, report)
    if ASK_ACTIONS.search(question):
        return _actions_answer(incident, report)
    if question.strip() and not ASK_STATUS.search(question) and not named:
        return _help_answer(incident, open_incidents, now)
    return _report_answer(intent, incident, report, None)


# --- post-incident handoff -----------------------------------------------------------------------


class Handoff(BaseModel):
    public_id: str
    title: str
    severity: str
    status: str
    summary: str
    first_event_at: datetime
    declared_at: datetime
    resolved_at: datetime | None
    as_of: datetime
    duration: str
    time_to_resolve: str
    open_actions: list[ActionLine]
    participants: list[RoleLine]
    postmortem_owner: str | None
    prompt: str
    spans_days: bool

    def at(self, value: datetime) -> str:
        return f"{clock(value, self.spans_days)} UTC"


def _participants(incident: Incident) -> list[RoleLine]:
    """Everyone who held a response role, including those who handed it over, in the order they took it."""
    rows = sorted((r for r in incident.roles if r.role != POSTMORTEM_ROLE), key=lambda r: (r.since, r.id or 0))
    return [RoleLine(role=r.role, user_id=r.user_id, status=r.status, since=r.since, ended_at=r.ended_at)
            for r in rows]


def handoff(incident: Incident, now: datetime) -> Handoff:
    """What the team hands to the postmortem on resolve.

    Duration counts from the first thing on the timeline (an alert can precede the declaration);
    time to resolve counts from the declaration. Both run to `now` if no resolution is recorded.
    """
    end = incident.resolved_at or now
    first = min([incident.declared_at, *(e.occurred_at for e in incident.timeline)])
    owner = next((r.user_id for r in incident.roles if r.role == POSTMORTEM_ROLE and r.ended_at is None), None)
    return Handoff(
        public_id=incident.public_id,
        title=incident.title,
        severity=incident.severity,
        status=str(incident.status),
        summary=(incident.summary or "").strip() or "No summary given",
        first_event_at=first,
        declared_at=incident.declared_at,
        resolved_at=incident.resolved_at,
        as_of=now,
        duration=human_duration(end - first),
        time_to_resolve=human_duration(end - incident.declared_at),
        open_actions=_open_actions(incident),
        participants=_participants(incident),
        postmortem_owner=owner,
        prompt=POSTMORTEM_PROMPT if owner is None else "The postmortem owner drafts it from this handoff.",
        spans_days=_spans_days(first, end),
    )


def _resolved_label(report: Handoff) -> str:
    return report.at(report.resolved_at) if report.resolved_at else f"not yet ({report.at(report.as_of)})"


def _held(row: RoleLine, report: Handoff) -> str:
    until = report.at(row.ended_at) if row.ended_at else "still held"
    return f"{report.at(row.since)} - {until}"


def render_handoff_markdown(report: Handoff) -> str:
    people = "\n".join(f"| {r.role} | {person(r.user_id)} | {_held(r, report)} |" for r in report.participants)
    owner = f"**Postmortem owner**: {person(report.postmortem_owner)}" if report.postmortem_owner else report.prompt
    return "\n".join([
        f"## Incident Resolved: {report.public_id}",
        "",
        f"**Title**: {report.title}",
        f"**Severity**: {report.severity}",
        f"**Duration**: {report.duration} ({report.at(report.first_event_at)} - {_resolved_label(report)})",
        f"**Time to resolve**: {report.time_to_resolve} (declared {datetime_utc(report.declared_at)})",
        "",
        "### Summary",
        report.summary,
        "",
        "### Who Took Part",
        "| Role | Person | Held |",
        "|------|--------|------|",
        people or "| - | - | - |",
        "",
        "### Open Next Actions (for the postmortem)",
        _markdown_actions(report.open_actions),
        "",
        "### Postmortem",
        owner,
        "",
    ])


def render_handoff_blocks(report: Handoff) -> list[Block]:
    people = "\n".join(f"• {escape(r.role)}: {mention(r.user_id)} ({_held(r, report)})"
                       for r in report.participants) or "_Nobody held a role._"
    owner = (f"*Postmortem owner*: {mention(report.postmortem_owner)}" if report.postmortem_owner
             else f"*Next*: {report.prompt}")
    return [
        header(f"Resolved: {report.public_id}"),
        section(f"*{escape(report.title)}*"),
        fields([
            ("Severity", report.severity),
            ("Status", report.status),
            ("Duration", f"{report.duration} ({report.at(report.first_event_at)} - {_resolved_label(report)})"),
            ("Time to resolve", f"{report.time_to_resolve} (declared {datetime_utc(report.declared_at)})"),
        ]),
        section(f"*Summary*\n{escape(report.summary)}"),
        section(f"*Who took part*\n{people}"),
        section(f"*Open next actions* (for the postmortem)\n{_blocks_actions(report.open_actions)}"),
        section(owner),
        context(f"{report.public_id} · handoff · incidentbot {AGENT}"),
    ]


def handoff_fallback(report: Handoff) -> str:
    return (f"{report.public_id} resolved after {report.time_to_resolve} ({report.severity}): "
            f"{escape(report.title)}")
