"""The incident-commander agent: severity assessment, status reports, answers and the resolve handoff.

Deterministic: every answer comes from the incident store (already-loaded ORM objects) and the team config, so
it can be trusted in the middle of an incident and tested exactly. Each function returns typed data (pydantic);
`markdown` renders it from the templates beside it, and app/slack/render/commander.py renders the same data as
Block Kit. The work is split by concern: `severity` (assess_severity), `status` (the status report), `answers`
(replies to `@incidentbot`, as a `reply.Reply`) and `resolve_handoff` (the resolve handoff).
"""

from agents.base import AgentAnswer
from agents.incident_commander import markdown
from agents.incident_commander.answers import answer, named_incident_id, reply
from agents.incident_commander.declaring import DeclareAsk, declaration_asked, declared
from agents.incident_commander.reply import Entry, Reply, Section
from agents.incident_commander.resolve_handoff import Handoff, handoff
from agents.incident_commander.severity import SeverityAssessment, assess_severity
from agents.incident_commander.status import StatusReport, human_duration, next_update_text, status_report

__all__ = [
    "AgentAnswer",
    "DeclareAsk",
    "Entry",
    "Handoff",
    "Reply",
    "Section",
    "SeverityAssessment",
    "StatusReport",
    "answer",
    "assess_severity",
    "declaration_asked",
    "declared",
    "handoff",
    "human_duration",
    "markdown",
    "named_incident_id",
    "next_update_text",
    "reply",
    "status_report",
]
