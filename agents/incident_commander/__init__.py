"""The incident-commander agent: severity assessment, status reports, answers and the resolve handoff.

Deterministic: every answer comes from the incident store (already-loaded ORM objects) and the team config, so
it can be trusted in the middle of an incident and tested exactly. Each function returns a typed result; Markdown
(CLI, exports) and Block Kit (Slack) are rendered separately from it. The work is split by concern: `severity`
(assess_severity), `status` (the status report and its renderers), `answers` (replies to `@incidentbot`) and
`resolve_handoff` (the resolve handoff), with shared constants in `common`; this package re-exports what callers use.
"""

from agents.incident_commander.answers import AgentAnswer, answer, named_incident_id
from agents.incident_commander.resolve_handoff import (
    handoff,
    handoff_fallback,
    render_handoff_blocks,
    render_handoff_markdown,
)
from agents.incident_commander.severity import SeverityAssessment, assess_severity
from agents.incident_commander.status import (
    human_duration,
    next_update_text,
    render_status_blocks,
    render_status_markdown,
    status_report,
)

__all__ = [
    "AgentAnswer",
    "SeverityAssessment",
    "answer",
    "assess_severity",
    "handoff",
    "handoff_fallback",
    "human_duration",
    "named_incident_id",
    "next_update_text",
    "render_handoff_blocks",
    "render_handoff_markdown",
    "render_status_blocks",
    "render_status_markdown",
    "status_report",
]
