"""Run the rca-agent on a scenario and judge its answer against the scenario's expected root cause.

Shared by the scenario tests and `bench/rca_accuracy.py`. The incident is a transient record built from the
scenario (its title, times and timeline), so the agent reads exactly what the store would give it.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from agents.base import AgentRequest
from agents.rca.agent import investigate
from agents.rca.report import Hypothesis, RcaReport
from app.config import Observability, Service, TeamConfig
from app.incidents.models import Incident, Status, TimelineEvent, TranscriptMessage
from app.settings import Settings
from tests.scenarios.loader import Expected, Scenario


def settings_for(env: dict[str, str], **extra: Any) -> Settings:
    return Settings(_env_file=None, database_url="sqlite://", **{k.lower(): v for k, v in env.items()}, **extra)


def config_for(s: Scenario) -> TeamConfig:
    namespace = s.kubernetes.namespace if s.kubernetes else None
    return TeamConfig(services=[Service(name=s.incident.service, observability=Observability(namespace=namespace))])


def incident_for(s: Scenario) -> Incident:
    spec = s.incident
    incident = Incident(public_id=f"INC-{spec.declared_at:%Y-%m%d}-001", title=spec.title, severity=spec.severity,
                        status=Status.RESOLVED if spec.resolved_at else Status.INVESTIGATING,
                        affected_service=spec.service, description=spec.description, declared_by="U0DECLARER",
                        declared_at=spec.declared_at, resolved_at=spec.resolved_at)
    incident.timeline = [TimelineEvent(kind=entry.kind, text=entry.text, occurred_at=entry.at, source="slack")
                         for entry in s.timeline]
    return incident


def request_for(s: Scenario, env: dict[str, str], text: str = "why did this happen?",
                transcript: list[TranscriptMessage] | None = None, **settings: Any) -> AgentRequest:
    now = max(s.window.end, s.incident.resolved_at or s.window.end)
    return AgentRequest(text=text, now=now.astimezone(UTC), config=config_for(s),
                        settings=settings_for(env, **settings), incident=incident_for(s),
                        transcript=transcript or [])


async def analyse(s: Scenario, env: dict[str, str], **settings: Any) -> RcaReport:
    answer = await investigate(request_for(s, env, **settings))
    assert answer.data is not None, answer.text_markdown
    return RcaReport.model_validate(answer.data)


def _same(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a is b
    a, b = a.lower(), b.lower()
    return a == b or a in b or b in a


def matches(found: RcaReport | Hypothesis, expected: Expected) -> bool:
    """The cause, the component and the triggering change (or none) all as expected."""
    if found.cause != expected.cause or not _same(found.component, expected.component):
        return False
    if expected.trigger is None:
        return found.trigger is None
    return found.trigger is not None and found.trigger.kind == expected.trigger.kind \
        and _same(found.trigger.subject, expected.trigger.subject)


def rank_of_expected(report: RcaReport, expected: Expected) -> int | None:
    """1 when the answer is right; the rank of the right hypothesis otherwise, or None if not among them."""
    if matches(report, expected):
        return 1
    return next((i for i, h in enumerate(report.hypotheses, 1) if matches(h, expected)), None)


def describe(report: RcaReport) -> str:
    trigger = f"{report.trigger.kind}:{report.trigger.subject}" if report.trigger else "none"
    return f"{report.cause} / {report.component} / {trigger}"
