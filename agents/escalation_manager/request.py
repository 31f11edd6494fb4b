"""What an escalation request asks: to escalate (to a severity, up to a role), to de-escalate, or who was told.

Untrusted text: read only for a severity, an escalate/de-escalate verb, and the reason after it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ESCALATE = re.compile(r"\b(?:escalat(?:e|ing)|raise)\b", re.IGNORECASE)
DEESCALATE = re.compile(r"\b(?:de-?\s?escalat(?:e|ing)|stand\s+down|lower)\b", re.IGNORECASE)
SEVERITY = re.compile(r"\bsev-?\s?(\d)\b", re.IGNORECASE)
INCIDENT = re.compile(r"\bINC-\d{4}-\d{4}-\d{3,}\b", re.IGNORECASE)
REASON_AFTER = re.compile(r"\s(?:-|–|—|:|because|since)\s+(.+)$", re.IGNORECASE)


@dataclass(frozen=True)
class EscalationAsk:
    action: str  # escalate, deescalate or status
    severity: str | None = None
    reason: str = ""


def read(text: str) -> EscalationAsk:
    """"Escalate INC-… to SEV1 - need VP Engineering" → escalate, SEV1, "need VP Engineering"."""
    action = "deescalate" if DEESCALATE.search(text) else "escalate" if ESCALATE.search(text) else "status"
    if action == "status":
        return EscalationAsk("status")
    match = SEVERITY.search(text)
    severity = f"SEV{int(match.group(1))}" if match else None
    reason = REASON_AFTER.search(text)
    return EscalationAsk(action, severity, reason.group(1).strip() if reason else "")

