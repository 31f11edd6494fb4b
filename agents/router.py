"""Routes `@incidentbot <question>` to the agent for its intent, with the incident it is about."""

from __future__ import annotations

import re

from agents.incident_commander.declaring import declaration_asked

INTENTS = ("status", "investigate", "postmortem", "runbook", "escalate")
AGENT_FOR_INTENT = {
    "status": "incident-commander",
    "investigate": "rca-agent",
    "postmortem": "postmortem-writer",
    "runbook": "runbook-executor",
    "escalate": "escalation-manager",
}


def _rx(*alternatives: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")\b", re.IGNORECASE)


# First match wins, in this order; anything else is a status question.
RULES: list[tuple[str, re.Pattern[str]]] = [
    ("investigate", _rx(r"why", r"caus(?:e|ed|es|ing)", r"root[\s-]+cause", r"investigate", r"rca",
                        r"diagnos\w*")),
    ("postmortem", _rx(r"post-?\s*mortems?", r"write-?\s*ups?", r"retro", r"retrospectives?")),
    ("runbook", _rx(r"runbooks?", r"playbooks?", r"restart\w*", r"roll\s*back\w*", r"rollbacks?", r"execut\w*",
                    r"failover")),
    # "page" only as a verb: "the status page" and "the login page" are not escalations.
    ("escalate", _rx(r"escalat\w*", r"paging", r"paged", r"page\s+(?:the|someone|somebody|them|out|on-?call|<@|@)",
                     r"notif(?:y|ies|ied|ying)", r"on-?\s*call",
                     r"(?:bump|raise|upgrade|increase|move|make|set|lower|downgrade|drop)\b[^.?!]{0,30}\bsev\s?-?\d",
                     r"(?:get|bring|pull|loop|wake)\s+(?:up\s+)?(?:the\s+|our\s+|an?\s+)?(?:\w+\s+){0,2}"
                     r"(?:manager|lead|vp|director|cto|ceo|ciso|on-?call|team|exec\w*)\s+(?:in|on|up)\b",
                     r"loop\s+in", r"wake\s+(?:up\s+)?\w+")),
]
# "Who owns the rollback?" asks for an action item's owner, not for a rollback: the commander answers it.
OWNER_QUESTION = _rx(r"who(?:'s|\s+is|\s+are)?\s+(?:owns?|owning|handling|doing|writing|drafting|taking|on|"
                     r"working\s+on|responsible\s+for|assigned|fixing|driving)", r"who\s+(?:has|took|will\s+do)",
                     r"whose", r"owner\s+of", r"owned\s+by")


# "Did the rollback fix it?" asks whether it is fixed, not for a rollback: the commander answers it.
FIX_QUESTION = re.compile(r"\b(?:did|has|have|is|was)\s+(?:the\s+|that\s+|this\s+|our\s+)?[\w-]+(?:\s+[\w-]+)?\s+"
                          r"(?:fix(?:ed)?|work(?:ed|ing)?|help(?:ed|ing)?|solv(?:e|ed)|resolv(?:e|ed)|stick|stuck|"
                          r"hold|held)(?:\s+(?:it|this|that|things|anything))?\s*\??\s*$", re.IGNORECASE)


# "I just got paged into this" is about the asker, not a request to page anyone; "has anyone been paged?" asks who
# has been notified, which the escalation manager answers.
SELF_PAGED = _rx(r"(?:i|we|i'?ve|we'?ve|i'?m|me|us)\s+(?:just\s+|also\s+)?(?:got|get|getting|was|were|been|have been|"
                 r"am being|are being)\s+paged(?:\s+(?:in|into|for|about))?",
                 r"(?:got|getting)\s+paged\s+(?:in|into)")


def route(question: str) -> str:
    """The intent of a question, by keyword: investigate, postmortem, runbook, escalate, else status."""
    question = SELF_PAGED.sub(" ", question)
    if declaration_asked(question) is not None:
        return "status"  # the commander declares it
    if OWNER_QUESTION.search(question) and not dict(RULES)["escalate"].search(question):
        return "status"
    if FIX_QUESTION.search(question) and not re.search(r"\b(?:why|how come)\b", question, re.IGNORECASE):
        return "status"
    return next((intent for intent, pattern in RULES if pattern.search(question)), "status")


def agent_for(question: str) -> str:
    return AGENT_FOR_INTENT[route(question)]
