"""Block Kit for agent results, rendered from their typed data."""

from __future__ import annotations

from agents.base import AgentAnswer, Block
from agents.escalation_manager.status import AGENT as ESCALATION_MANAGER
from agents.escalation_manager.status import EscalationStatus
from app.slack.render import escalations


def blocks_for(answer: AgentAnswer) -> list[Block]:
    if answer.agent == ESCALATION_MANAGER and answer.data is not None:
        return escalations.status_blocks(EscalationStatus.model_validate(answer.data))
    return answer.blocks
