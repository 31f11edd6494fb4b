"""Every table, imported in one place so metadata is complete for Alembic and tests."""

from app.db.base import Base
from app.incidents.models import DaySequence, Incident, ProcessedRequest, RoleAssignment, TimelineEvent
from app.warroom.models import WarRoomStep

__all__ = ["Base", "DaySequence", "Incident", "ProcessedRequest", "RoleAssignment", "TimelineEvent", "WarRoomStep"]
