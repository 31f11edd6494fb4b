"""Block Kit for agent results, rendered from their typed data."""

from __future__ import annotations

from agents.base import AgentAnswer, Block
from agents.escalation_manager.status import AGENT as ESCALATION_MANAGER
from agents.escalation_manager.status import EscalationStatus
from agents.runbook_executor.agent import RunbookSuggestions
from agents.runbook_executor.report import AGENT as RUNBOOK_EXECUTOR
from app.slack.render import escalations, runbooks


def blocks_for(answer: AgentAnswer) -> list[Block]:
    if answer.agent == ESCALATION_MANAGER and answer.data is not None:
        return escalations.status_blocks(EscalationStatus.model_validate(answer.data))
    if answer.agent == RUNBOOK_EXECUTOR and answer.data is not None and answer.data.get("kind") == "suggestions":
        return runbooks.suggestion_blocks(RunbookSuggestions.model_validate(answer.data))
    return answer.blocks
