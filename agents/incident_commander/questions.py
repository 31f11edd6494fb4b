"""Answers to war-room questions, each from the incident record: what happened, what changed, what is next.

Every answer says what the record holds and, where it holds nothing, says "not recorded" instead of guessing.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from agents.incident_commander.impact_words import terms
from agents.incident_commander.intents import role_named
from agents.incident_commander.record import IncidentRecord, Item, Line
from agents.incident_commander.reply import Entry, Reply, Section
from agents.incident_commander.status import StatusReport, human_duration, next_update_text, ref
from app.incidents.render import clock

NOT_RECORDED = "not recorded"
MAX_CATCH_UP = 14  # entries: the first few and the latest, so a long incident still fits a message
CHANGE = terms("deploy\\w*", "releas\\w*", "roll ?outs?", "rolled (?:out|back)", "roll(?:ing)? back", "rollbacks?",
               "shipped", "went out", "v\\d+(?:\\.\\d+)+", "#\\d+", "flags?", "config\\w*", "settings?", "migrat\\w*",
               "enabled", "disabled", "turned (?:on|off)", "switched (?:on|off)", "toggled", "bumped", "upgraded",
               "downgraded", "patched", "hotfix\\w*", "merged", "changed", "lowered", "raised", "increased",
               "decreased", "scaled", "reverted", "failover", "failed over", "restarted", "purged", "cordoned",
               "drained", "resized", "updated the", "applied")
PENDING = terms("waiting", "wait(?:ing)? (?:on|for)", "pending", "blocked", "until", "once", "eta", "will", "going to",
                "need to", "needs to", "todo", "to do", "next:", "plan", "planning", "about to", "in progress",
                "started", "opened", "asked", "expect\\w*")
STOPWORDS = {
    "the", "a", "an", "of", "on", "for", "to", "in", "is", "it", "this", "that", "who", "what", "whats",
    "which", "owns", "own", "owner", "owning", "item", "items", "action", "task", "doing", "writing",
    "handling", "taking", "has", "have", "will", "do", "does", "did", "be", "are", "was", "were", "we", "i",
    "you", "up", "our", "my", "their", "them", "with", "and", "or", "at", "by", "from", "s"
}
# Config keys and dotted identifiers (indices.recovery.max_bytes_per_sec) are not for an executive.
CONFIG_LIKE = re.compile(r"\b\w*_\w*\b|\b[a-z]+(?:\.[a-z0-9]+){2,}\b", re.IGNORECASE)


def _footer(report: StatusReport) -> str:
    age = f"open {report.duration}" if report.is_open else f"lasted {report.duration}"
    return f"{report.public_id} · {report.severity} · {report.status} · {age}"


def _reply(kind: str, rec: IncidentRecord, title: str, answer: str | None = None,
           sections: list[Section] | None = None) -> Reply:
    return Reply(kind=kind, incident_id=rec.report.public_id, title=title, answer=answer, sections=sections or [],
                 footer=_footer(rec.report), spans_days=rec.report.spans_days)


def _entry(line: Line) -> Entry:
    return Entry(text=line.text, at=line.at, who=line.who if line.kind == "message" else None)


def _description(rec: IncidentRecord) -> Section | None:
    text = (rec.incident.description or "").strip()
    return Section(heading="Declared as", entries=[Entry(text=text)]) if text else None


def catch_up(rec: IncidentRecord, question: str) -> Reply:
    events = [line for line in rec.events() if line.kind != "role_assigned"]
    shown = events if len(events) <= MAX_CATCH_UP else [*events[:4], *events[-(MAX_CATCH_UP - 4):]]
    entries = [_entry(line) for line in shown]
    if len(shown) < len(events):
        entries.insert(4, Entry(text=f"… {len(events) - len(shown)} more entries (`incidentbot show` has them all)"))
    r = rec.report
    now = (f"{r.status} ({r.severity}), {'open' if r.is_open else 'lasted'} {r.duration}; "
           f"IC {ref(r.commander)}")
    if r.last_update is not None:
        now += f". Latest update ({r.at(r.last_update.at)}): {r.last_update.text}"
    roles = [f"{x.role} {ref(x.user_id)}" for x in r.roles if x.role != "Incident Commander"]
    roles += [f"nobody is {role}" for role, _ in rec.unfilled_roles]
    sections = [s for s in (_description(rec),) if s]
    sections.append(Section(heading="What happened so far", entries=entries, empty="Nothing on the timeline yet."))
    standing = [Entry(text=now), *([Entry(text="Roles: " + "; ".join(roles))] if roles else [])]
    return _reply("catch_up", rec, f"{r.public_id}: {r.title}", None,
                  [*sections, Section(heading="Where it stands", entries=standing)])


def _window(question: str) -> timedelta | None:
    """"in the last hour", "last 30 min", "past 2 hours": the window the question asks about."""
    match = re.search(r"(?:last|past)\s+(?:(\d+)\s*)?(min\w*|hours?|hrs?|h)\b", question, re.IGNORECASE)
    if not match:
        return None
    count = int(match.group(1) or 1)
    return timedelta(minutes=count) if match.group(2).lower().startswith("min") else timedelta(hours=count)


def changes(rec: IncidentRecord) -> list[Line]:
    """Deploys, flags, config and other changes, from the timeline, the war room and the declaration."""
    found = [line for line in [*rec.timeline, *rec.transcript]
             if not line.kind.startswith(("declared", "role_assigned", "escalation", "action_item", "agent_result"))
             and CHANGE.search(line.text)]
    description = rec.incident.description or ""
    if CHANGE.search(description):
        found.append(Line(rec.incident.declared_at, description, None, "description"))
    return sorted(found, key=lambda line: line.at)


def what_changed(rec: IncidentRecord, question: str) -> Reply:
    found = changes(rec)
    window = _window(question)
    sections = []
    if window is not None:
        since = rec.now - window
        recent = [line for line in found if line.at >= since]
        earlier = [line for line in found if line.at < since]
        sections.append(Section(heading=f"Since {rec.report.at(since)}", entries=[_entry(x) for x in recent],
                                empty="No change recorded in that time."))
        if earlier:
            sections.append(Section(heading="Earlier", entries=[_entry(x) for x in earlier]))
    else:
        sections.append(Section(entries=[_entry(x) for x in found], empty="No deploy, flag or config change is "
                                "recorded on the timeline, in the war room or in the description."))
    count = len(found)
    return _reply("what_changed", rec, f"Changes recorded on {rec.report.public_id}",
                  f"{count} found" if count else NOT_RECORDED, sections)


def _pending(rec: IncidentRecord) -> list[Line]:
    """What the latest updates and notes say is still to happen ("waiting on AWS support…")."""
    candidates = [line for line in [*rec.timeline, *rec.transcript]
                  if line.kind in ("status_update", "note", "message", "pinned_message")]
    return [line for line in candidates if PENDING.search(line.text)][-3:]


def next_steps(rec: IncidentRecord, question: str) -> Reply:
    r = rec.report
    actions = [Entry(text=a.text, done=False) for a in r.open_actions]
    sections = [Section(heading="Open next actions", entries=actions, empty="None open.", numbered=True)]
    gaps = [Entry(text=f"Nobody is {role}: `/incident assign {handle} @user`") for role, handle in rec.unfilled_roles]
    if r.update_overdue:
        gaps.append(Entry(text=f"The status update is overdue: {next_update_text(r)}. `/incident update <text>`"))
    if not r.is_open:
        gaps.append(Entry(text=f"The incident is {r.status}; what is left are the action items and the postmortem"))
    sections.append(Section(heading="Gaps", entries=gaps, empty="Every role is filled and the update is on time."))
    pending = _pending(rec)
    if pending:
        sections.append(Section(heading="Waiting on", entries=[_entry(line) for line in pending]))
    urgent = [i for i in rec.open_items() if i.priority in ("P0", "P1")]
    if urgent:
        sections.append(Section(heading="Urgent action items", entries=[_item_entry(i) for i in urgent]))
    return _reply("next_steps", rec, f"Next on {r.public_id}", None, sections)


def resolution(rec: IncidentRecord, question: str) -> Reply:
    r = rec.report
    if not r.is_open:
        when = rec.incident.resolved_at or rec.incident.closed_at
        answer = f"Yes: {r.status}" + (f" at {r.at(when)}, after {human_duration(when - rec.impact_start)}"
                                       if when else "")
    else:
        answer = f"Not resolved yet: the incident is {r.status}, open {r.duration}"
    entries = [_entry(line) for line in rec.updates[-2:]]
    mitigations = [line for line in changes(rec) if line.at >= rec.impact_start][-2:]
    sections = [Section(heading="Latest updates", entries=entries, empty="No status update posted yet.")]
    if mitigations and r.is_open:
        sections.append(Section(heading="Changes made since impact began", entries=[_entry(x) for x in mitigations]))
    return _reply("resolution_status", rec, f"Is {r.public_id} resolved?", answer, sections)


def affected_service(rec: IncidentRecord, question: str) -> Reply:
    service = rec.incident.affected_service
    answer = service or f"{NOT_RECORDED}: no affected service has been set on the incident"
    return _reply("affected_service", rec, f"Affected service of {rec.report.public_id}", answer,
                  [Section(entries=[Entry(text=f"Title: {rec.incident.title}")])])


def _impact_entries(rec: IncidentRecord) -> list[Entry]:
    i = rec.incident
    customers = i.user_impact or (f"{i.customers_affected:,}" if i.customers_affected else None)
    return [Entry(text=f"{label}: {value or NOT_RECORDED}") for label, value in (
        ("Customers affected", customers), ("Revenue", i.revenue_impact), ("Regions", i.regions),
        ("Service", i.affected_service))]


def impact(rec: IncidentRecord, question: str) -> Reply:
    entries = _impact_entries(rec)
    known = [e for e in entries if not e.text.endswith(NOT_RECORDED)]
    answer = None if known else f"{NOT_RECORDED}: nobody has entered the impact yet"
    sections = [Section(entries=entries)]
    if rec.incident.description:
        sections.append(Section(heading="Declared as", entries=[Entry(text=rec.incident.description)]))
    return _reply("impact", rec, f"Impact of {rec.report.public_id}", answer, sections)


def _item_entry(item: Item) -> Entry:
    tags = [f"owner {ref(item.owner)}" if item.owner else "unassigned"]
    tags += [t for t in (item.priority, f"due {item.due:%Y-%m-%d}" if item.due else None) if t]
    return Entry(text=f"#{item.number} {item.text}", tags=tags)


def action_items(rec: IncidentRecord, question: str) -> Reply:
    open_items = rec.open_items()
    done = len(rec.items) - len(open_items)
    answer = (f"{len(open_items)} open" + (f", {done} done" if done else "") if open_items
              else "No open action items" + (f" ({done} done)" if done else ""))
    sections = [Section(entries=[_item_entry(i) for i in open_items], empty="None recorded. Add one with "
                        "`/incident action add <text> @owner`.")]
    return _reply("action_items", rec, f"Action items on {rec.report.public_id}", answer, sections)


def _words(text: str) -> set[str]:
    """Content words, crudely stemmed, so "rollback" meets "Roll back" and "writing" meets "write"."""
    text = re.sub(r"\broll\s+back", "rollback", text.lower())
    words = set()
    for word in re.findall(r"[a-z0-9]+", text):
        if word in STOPWORDS or len(word) < 2:
            continue
        for suffix in ("ing", "ed", "es", "s", "e"):
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                word = word[: -len(suffix)]
                break
        words.add(word)
    return words


def _best_items(rec: IncidentRecord, question: str) -> list[Item]:
    wanted = _words(question)
    scored = [(len(wanted & _words(item.text)), item) for item in rec.items]
    best = max((score for score, _ in scored), default=0)
    return [item for score, item in scored if score == best and best > 0]


def owner_of(rec: IncidentRecord, question: str) -> Reply:
    """The owner on the action item the question names; a role's holder when it names a role instead."""
    items = _best_items(rec, question)
    role = role_named(question)
    if role is not None and (not items or len(_words(question)) <= 1):  # "who's on comms?"
        return role_holder(rec, question)
    if not items:
        return _reply("owner_of", rec, "Which item?", "no action item matches that", [
            Section(heading="Action items", entries=[_item_entry(i) for i in rec.items], empty="None recorded.")])
    first = items[0]
    owner = f"{ref(first.owner)}" if first.owner else "nobody: it is unassigned"
    status = " (done)" if first.done else ""
    others = [_item_entry(i) for i in items[1:]]
    sections = [Section(entries=[_item_entry(first)])]
    if others:
        sections.append(Section(heading="Also matching", entries=others))
    return _reply("owner_of", rec, f"Owner of #{first.number} {first.text}{status}", owner, sections)


def role_holder(rec: IncidentRecord, question: str) -> Reply:
    role = role_named(question) or "Incident Commander"
    holders = [r for r in rec.report.roles if r.role == role]
    answer = ", ".join(ref(h.user_id) for h in holders) if holders else f"nobody: {role} is not assigned"
    entries = [Entry(text=f"{r.role}: {ref(r.user_id)} ({r.status}, since {rec.report.at(r.since)})")
               for r in rec.report.roles]
    return _reply("role_holder", rec, f"{role} of {rec.report.public_id}", answer,
                  [Section(heading="Everyone's roles", entries=entries, empty="Nobody holds a role.")])


def _plain(text: str) -> str:
    """A sentence an executive can read: without config keys and other identifiers."""
    sentences = re.split(r"(?<=[.!?])\s+", text.strip())
    return " ".join(s for s in sentences if not CONFIG_LIKE.search(s)).strip()


def exec_summary(rec: IncidentRecord, question: str) -> Reply:
    r, i = rec.report, rec.incident
    what = _plain(i.description or "") or i.title
    customers = i.user_impact or (f"{i.customers_affected:,} customers" if i.customers_affected else None)
    impact_bits = [b for b in (customers, i.revenue_impact and f"revenue {i.revenue_impact}",
                               i.regions and f"regions {i.regions}") if b]
    impact_text = "; ".join(impact_bits) or "not recorded yet"
    if r.is_open:
        state = f"Still open ({r.status.lower()}), {human_duration(rec.end - rec.impact_start)} since impact began"
    else:
        state = f"{r.status.capitalize()} after {human_duration(rec.end - rec.impact_start)}"
    latest = next((_plain(u.text) for u in reversed(rec.updates) if _plain(u.text)), "")
    entries = [Entry(text=f"What happened: {what}"), Entry(text=f"Customer impact: {impact_text}"),
               Entry(text=f"Status: {state}."), Entry(text=f"Latest: {latest or 'no update posted yet'}")]
    nxt = next((a.text for a in r.open_actions), None) if r.is_open else None
    if nxt:
        entries.append(Entry(text=f"Next: {nxt}"))
    return _reply("exec_summary", rec, f"Summary of {r.public_id} ({r.severity}): {i.title}", None,
                  [Section(entries=entries)])


def duration(rec: IncidentRecord, question: str) -> Reply:
    start, end, r = rec.impact_start, rec.end, rec.report
    days = r.spans_days or start.date() != end.date()

    def at(value: datetime) -> str:
        return f"{clock(value, days)} UTC"

    basis = "impact began" if rec.impact_start_recorded else "declared (impact start not recorded)"
    until = f"resolved {at(end)}" if not r.is_open else f"now, {at(end)}"
    answer = f"{human_duration(end - start)}, since {at(start)} ({basis}) until {until}"
    return _reply("duration", rec, f"Duration of {r.public_id}", answer,
                  [Section(entries=[Entry(text=f"Declared {at(rec.incident.declared_at)}")])])


def acknowledgement(rec: IncidentRecord, question: str) -> Reply:
    ack = rec.acknowledged
    r = rec.report
    if ack is None:
        answer = "not acknowledged: nobody has acknowledged the page (none recorded)"
    else:
        answer = f"acknowledged at {r.at(ack.at)}" + (f" by {ref(ack.who)}" if ack.who else "")
    entries = [_entry(ack)] if ack else []
    return _reply("acknowledgement", rec, f"Acknowledgement of {r.public_id}", answer,
                  [Section(entries=entries, empty=f"IC is {ref(r.commander)}.")] if entries else [])


ANSWERS = {
    "catch_up": catch_up, "what_changed": what_changed, "next_steps": next_steps, "resolution_status": resolution,
    "affected_service": affected_service, "impact": impact, "action_items": action_items, "owner_of": owner_of,
    "exec_summary": exec_summary, "duration": duration, "role_holder": role_holder,
    "acknowledgement": acknowledgement,
}
