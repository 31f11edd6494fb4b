"""Block Kit for agent results, rendered from their typed data (`AgentAnswer.data`).

Each agent that returns data registers its renderer here, keyed by the agent's name; the Slack handlers
call `blocks_for` and `text_for` and never build an agent's blocks themselves.
"""

from __future__ import annotations

from collections.abc import Callable

from agents.base import AgentAnswer, Block
from agents.escalation_manager.status import AGENT as ESCALATION_MANAGER
from agents.incident_commander.common import AGENT as INCIDENT_COMMANDER
from agents.postmortem.document import AGENT as POSTMORTEM_WRITER
from agents.rca.report import AGENT as RCA
from agents.runbook_executor.report import AGENT as RUNBOOK_EXECUTOR
from app.slack.blocks import escape
from app.slack.render import commander, escalations, postmortem, rca, runbooks

Renderer = Callable[[AgentAnswer], list[Block]]
RENDERERS: dict[str, Renderer] = {
    ESCALATION_MANAGER: escalations.answer_blocks,
    INCIDENT_COMMANDER: commander.answer_blocks,
    POSTMORTEM_WRITER: postmortem.answer_blocks,
    RCA: rca.answer_blocks,
    RUNBOOK_EXECUTOR: runbooks.answer_blocks,
}


def blocks_for(answer: AgentAnswer) -> list[Block]:
    renderer = RENDERERS.get(answer.agent)
    if renderer is None or answer.data is None:
        return answer.blocks  # an agent that still builds its own blocks
    return renderer(answer)


def text_for(answer: AgentAnswer) -> str:
    """The notification line; escaped here for agents whose results are rendered here."""
    return escape(answer.fallback_text) if answer.agent in RENDERERS else answer.fallback_text
