"""The rca-agent: investigate an incident (or a service at a time) and return the seed's root-cause analysis.

Deterministic first, always: the engine's analysis is the answer when there is no LLM key, and the fallback
when the model fails. With a key, the model may re-read the evidence through the same read-only tools and
rewrite the prose, choosing among the hypotheses the engine tested; it cannot add evidence of its own.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta

from agents.base import AgentAnswer, AgentRequest
from agents.rca import render
from agents.rca.engine import Subject, analyse
from agents.rca.llm_mode import refine
from agents.rca.observe import TextRecord, Window, observe
from agents.rca.report import AGENT, RcaReport
from agents.toolbox import Toolbox
from app.incidents.capture import PINNED_KIND

# Timeline entries people wrote (changes, updates, pinned messages); the bot's own entries are not evidence.
HUMAN_KINDS = {"declared", "note", "status_update", PINNED_KIND, "resolved"}
AFTER_RESOLVE = timedelta(minutes=15)  # read past resolution, to see the recovery hold
OPEN_HORIZON = timedelta(hours=2)

_TIME = re.compile(r"\b(?:at|around|about|since|from|after)\s+(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)\b",
                   re.IGNORECASE)
_ISO_TIME = re.compile(r"\b(?P<d>\d{4}-\d\d-\d\d)[T ](?P<t>\d\d:\d\d)(?::\d\d)?Z?\b")
_SERVICE_WORD = re.compile(r"\b(?P<name>[a-z][\w-]*?)\s+(?:api|service|svc|backend|app)\b", re.IGNORECASE)
_TOPIC = re.compile(r"(?:(?:root\s+)?cause\s+of|why\s+(?:is|are|did|was|were)|investigate|analy[sz]e|caus\w+)\s+"
                    r"(?:the\s+)?(?P<topic>.+?)(?:\s+(?:at|around|since|from)\s+\d|[?.!]|$)", re.IGNORECASE)
_CAUSE_OF = re.compile(r"^(?:the\s+)?(?:root\s+)?cause\s+of\s+(?:the\s+)?", re.IGNORECASE)


WHICH_SERVICE = ("Which service? Name it in the request (\"why is the payments API failing at 14:30?\"), ask in "
                 "an incident's war room, or pass `--incident INC-...`.")


async def investigate(request: AgentRequest) -> AgentAnswer:
    subject = subject_of(request)
    report = await _report(request, subject) if subject is not None else None
    if report is None:
        return AgentAnswer(agent=AGENT, intent="investigate", text_markdown=WHICH_SERVICE + "\n",
                           fallback_text=WHICH_SERVICE, summary="no service named")
    return AgentAnswer(agent=AGENT, mode=report.mode, note=report.note, intent="investigate",
                       incident_id=report.incident_id, summary=report.executive_summary,
                       text_markdown=render.markdown(report),
                       fallback_text=render.fallback_text(report), data=report.model_dump(mode="json"))


async def _report(request: AgentRequest, subject: Subject) -> RcaReport | None:
    """The analysis; None when no service was named and none could be found (no alert, no workload named)."""
    toolbox = Toolbox(request.settings)
    try:
        end = min(request.now, (subject.resolved_at + AFTER_RESOLVE) if subject.resolved_at
                  else subject.reference + OPEN_HORIZON)
        window = Window(reference=subject.reference, end=max(end, subject.reference + timedelta(minutes=5)))
        service = request.config.service(subject.service)
        texts = records(request)
        incident = request.incident
        about = " ".join(t for t in (incident.title if incident else "", incident.description if incident else "",
                                     request.text) if t)
        seen = await observe(toolbox, service, window, texts, text=about)
        if not subject.service:
            if not seen.scope.subjects or seen.scope.subjects[0].via == "unnamed":
                return None
            subject = replace(subject, service=seen.scope.subjects[0].name)
        report = analyse(seen, subject, toolbox.statuses())
        if request.settings.anthropic_api_key is not None:
            report = await refine(report, request, toolbox, texts)
        return report
    finally:
        await toolbox.aclose()


def records(request: AgentRequest) -> list[TextRecord]:
    """What people wrote: timeline entries and war-room messages, read as data to parse, never as orders."""
    found: list[TextRecord] = []
    if request.incident is not None:
        incident = request.incident
        if incident.description:
            found.append(TextRecord(at=incident.declared_at, text=incident.description, source="timeline"))
        found.extend(TextRecord(at=e.occurred_at, text=e.text, source="timeline")
                     for e in incident.timeline if e.kind in HUMAN_KINDS)
    found.extend(TextRecord(at=m.posted_at, text=m.text, source="transcript")
                 for m in request.transcript if m.deleted_at is None)
    return found


def subject_of(request: AgentRequest) -> Subject | None:
    """What to analyse and when. A time the request names ("at 14:30") wins over the declaration time; a
    service nobody named is looked for in the alerts and the cluster (service ""), unless no tool could."""
    incident = request.incident
    named_at = named_time(request.text, request.now) if names_a_time(request.text) else None
    tools = request.settings.prometheus_url or request.settings.grafana_url or request.settings.kubeconfig
    if incident is not None:
        service = (incident.affected_service or request.config.service_for(incident.title)
                   or _service_in(incident.title) or _service_in(request.text) or "")
        if not service and not tools:
            return None
        reference = named_at if named_at is not None and named_at <= (incident.resolved_at or request.now) \
            else incident.declared_at
        return Subject(title=incident.title, service=service, reference=reference,
                       incident_id=incident.public_id, severity=incident.severity, resolved_at=incident.resolved_at)
    service = request.config.service_for(request.text) or _service_in(request.text) or ""
    if not service and not tools:
        return None
    return Subject(title=_topic(request.text), service=service, reference=named_at or request.now)


def names_a_time(text: str) -> bool:
    return bool(_ISO_TIME.search(text) or _TIME.search(text))


def named_time(text: str, now: datetime) -> datetime:
    """The time a request names ("at 14:30" is the latest 14:30 UTC not in the future), else now."""
    iso = _ISO_TIME.search(text)
    if iso:
        try:
            return datetime.fromisoformat(f"{iso['d']}T{iso['t']}:00+00:00")
        except ValueError:
            pass  # 2024-02-30: not a date; read the rest as if it were not there
    match = _TIME.search(text)
    if match is None:
        return now
    at = now.replace(hour=int(match["h"]), minute=int(match["m"]), second=0, microsecond=0)
    return at - timedelta(days=1) if at > now else at


def _service_in(text: str) -> str | None:
    match = _SERVICE_WORD.search(text)
    return match["name"].lower() if match else None


def _topic(text: str) -> str:
    # "Investigate the cause of the payment API outage at 14:30" is about "Payment API Outage".
    match = _TOPIC.search(text)
    topic = _CAUSE_OF.sub("", (match["topic"] if match else text).strip())[:80]
    return " ".join(w if w.isupper() else w[:1].upper() + w[1:] for w in topic.split()) or "Investigation"
