"""The escalation-manager agent: the seed's Escalation Status for an incident, from its chain in the store.

Deterministic: the chain's steps, notifications and outbox say who was told when and who acknowledged.
Escalating or de-escalating (the request's verb) is done first by the runtime through the same domain
flow as `/incident escalate`; this answers with the status after it.
"""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined

from agents.base import AgentAnswer, AgentRequest
from agents.escalation_manager.status import AGENT, EscalationStatus, NotificationRow, build
from app.incidents.render import clock, plain

WHICH = ("Which incident? Name it (\"Who has been notified for INC-2026-1125-001?\"), pass --incident, or ask in "
         "its war room.")

_env = Environment(loader=PackageLoader("agents.escalation_manager", "templates"), undefined=StrictUndefined,
                   trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)


def _who(row: NotificationRow) -> str:
    return f"@{row.person}" if row.slack_user else f"{row.person} (PagerDuty)" if row.via == "pagerduty" else row.person


_env.filters.update(clock=clock, plain=plain, who=_who, cell=lambda t: str(t).replace("|", "\\|").replace("\n", " "),
                    at=lambda value, days=False: clock(value, days) if value else "-")


def markdown(status: EscalationStatus) -> str:
    return _env.get_template("escalation_status.md.j2").render(s=status)


def summary(status: EscalationStatus) -> str:
    told = len(status.rows)
    acked = sum(1 for r in status.rows if r.acknowledged_at)
    nxt = (f"next {status.next.level} at {status.next.due_at:%H:%M} UTC" if status.next and status.next.due_at
           else f"{status.next.level} held (paused)" if status.next else (status.chain_ended or "").lower())
    return f"{status.incident_id} ({status.severity}): {told} notified, {acked} acknowledged; {nxt}"


async def answer(request: AgentRequest, done: str | None = None) -> AgentAnswer:
    if request.incident is None:
        return AgentAnswer(agent=AGENT, intent="escalate", text_markdown=WHICH + "\n", fallback_text=WHICH)
    status = build(request.incident, request.escalation, request.now, done)
    return AgentAnswer(agent=AGENT, intent="escalate", incident_id=status.incident_id, summary=summary(status),
                       text_markdown=markdown(status), fallback_text=summary(status),
                       data=status.model_dump(mode="json"))
