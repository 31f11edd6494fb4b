"""Routes `@incidentbot <question>` to the agent for its intent, with the incident it is about.

Every intent goes to the incident commander for now; when the RCA, postmortem, runbook or
escalation agent exists, it replaces its entry in HANDLERS (one line).
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Protocol

from agents import incident_commander
from agents.incident_commander import AgentAnswer, named_incident_id
from app.config import TeamConfig
from app.db.base import utcnow
from app.incidents import service
from app.incidents.models import Incident

if TYPE_CHECKING:
    from app.runtime import Runtime

INTENTS = ("status", "investigate", "postmortem", "runbook", "escalate")


def _rx(*alternatives: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")\b", re.IGNORECASE)


# First match wins, in this order; anything else is a status question.
RULES: list[tuple[str, re.Pattern[str]]] = [
    ("investigate", _rx(r"why", r"caus(?:e|ed|es|ing)", r"root[\s-]+cause", r"investigat\w*", r"rca",
                        r"diagnos\w*")),
    ("postmortem", _rx(r"post-?\s*mortems?", r"write-?\s*ups?", r"retro", r"retrospectives?")),
    ("runbook", _rx(r"runbooks?", r"playbooks?", r"restart\w*", r"roll\s*back\w*", r"rollbacks?", r"execut\w*",
                    r"failover")),
    # "page" only as a verb: "the status page" and "the login page" are not escalations.
    ("escalate", _rx(r"escalat\w*", r"paging", r"paged", r"page\s+(?:the|someone|somebody|them|out|on-?call|<@|@)",
                     r"notif(?:y|ies|ied|ying)", r"on-?\s*call")),
]


def route(question: str) -> str:
    """The intent of a question, by keyword: investigate, postmortem, runbook, escalate, else status."""
    return next((intent for intent, pattern in RULES if pattern.search(question)), "status")


class Agent(Protocol):
    def __call__(self, incident: Incident | None, question: str, now: datetime, open_incidents: list[Incident],
                 *, config: TeamConfig) -> AgentAnswer: ...


HANDLERS: dict[str, Agent] = {
    "status": incident_commander.answer,
    "investigate": partial(incident_commander.answer, intent="investigate"),
    "postmortem": partial(incident_commander.answer, intent="postmortem"),
    "runbook": partial(incident_commander.answer, intent="runbook"),
    "escalate": partial(incident_commander.answer, intent="escalate"),
}


async def respond(runtime: Runtime, channel_id: str, question: str) -> AgentAnswer:
    """Answer a question asked in a channel: about the INC id it names, else the channel's incident."""
    intent = route(question)
    named = named_incident_id(question)
    async with runtime.sessions() as session:
        if named is not None:
            incident = await service.get_incident(session, named)
        else:
            incident = await service.incident_for_channel(session, channel_id)
        open_incidents = list(await service.list_incidents(session, open_only=True))
    return HANDLERS[intent](incident, question, utcnow(), open_incidents, config=runtime.config)
