"""Every table, imported in one place so metadata is complete for Alembic and tests."""

from app.agent_runs.models import AgentRun
from app.db.base import Base
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
from app.warroom.models import WarRoomStep

__all__ = [
    "AgentRun", "Base", "DaySequence", "Incident", "NextAction", "Participant", "ProcessedRequest", "RoleAssignment",
    "TimelineEvent", "TimelineMark", "TranscriptMessage", "WarRoomStep",
]
