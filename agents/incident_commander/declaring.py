"""Declaring from a request ("Declare SEV2 incident: Payment API returning 500 errors"): what is asked, and the
answer once the declare flow has run (the runtime runs it, as `incidentbot declare` does).
"""

from __future__ import annotations

from dataclasses import dataclass

from agents.base import AgentAnswer
from agents.incident_commander import markdown
from agents.incident_commander.common import AGENT
from agents.incident_commander.intents import DECLARE, SEVERITY_FIRST
from agents.incident_commander.reply import Entry, Reply, Section
from agents.incident_commander.severity import SeverityAssessment
from app.incidents.card import IncidentCard


@dataclass(frozen=True)
class DeclareAsk:
    title: str
    severity: str | None  # as the requester gave it (SEV2); None: assessed from the title
    description: str | None


def declaration_asked(text: str) -> DeclareAsk | None:
    """The declaration a request asks for, if it asks for one: its title, severity and description."""
    match = DECLARE.match(text) or SEVERITY_FIRST.match(text)
    if match is None:
        return None
    title, _, description = match.group("title").strip().partition("\n")
    stated = (match.group("severity") or "").upper().replace(" ", "").replace("-", "")
    if not title.strip():
        return None
    return DeclareAsk(title=title.strip().strip("\"'"), severity=stated if stated.startswith("SEV") else None,
                      description=description.strip() or None)


def declared(card: IncidentCard, assessment: SeverityAssessment | None, problems: list[str]) -> AgentAnswer:
    """The seed's "Incident Declared" card, with why the severity was chosen when nobody gave one."""
    sections = []
    if assessment is not None:
        sections.append(Section(heading="Severity assessment", entries=[Entry(text=r) for r in assessment.reasons]))
    if problems:
        sections.append(Section(heading="Warnings", entries=[Entry(text=p) for p in problems]))
    result = Reply(kind="declared", incident_id=card.public_id, title=f"Declared {card.public_id}", card=card,
                   sections=sections)
    return AgentAnswer(agent=AGENT, intent="declare", incident_id=card.public_id,
                       summary=f"Declared {card.public_id} ({card.severity}): {card.title}",
                       text_markdown=markdown.reply(result),
                       fallback_text=f"Declared {card.public_id} ({card.severity}): {card.title}",
                       data=result.model_dump(mode="json"))
