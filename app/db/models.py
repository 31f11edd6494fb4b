"""Every table, imported in one place so metadata is complete for Alembic and tests."""

from app.action_items.models import ActionItem
from app.agent_runs.models import AgentRun
from app.db.base import Base
from app.escalations.models import EscalationChain, EscalationNotification, EscalationStep, OutboxMessage
from app.inbox.models import InboxItem
from app.incidents.models import (
    DaySequence,
    Incident,
    NextAction,
    Participant,
    ProcessedRequest,
    RoleAssignment,
    TimelineEvent,
    TimelineMark,
    TranscriptMessage,
)
from app.postmortems.models import PostmortemVersion
from app.runbooks.models import RunbookRun, RunbookStep
from app.tokens.models import ApiToken
from app.warroom.models import WarRoomStep

__all__ = [
    "ActionItem", "AgentRun", "ApiToken", "Base", "DaySequence", "EscalationChain", "EscalationNotification",
    "EscalationStep", "InboxItem", "Incident", "NextAction", "OutboxMessage", "Participant", "PostmortemVersion",
    "ProcessedRequest", "RoleAssignment", "RunbookRun", "RunbookStep", "TimelineEvent", "TimelineMark",
    "TranscriptMessage", "WarRoomStep",
]
