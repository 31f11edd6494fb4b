"""Constants and small helpers shared by several of the incident-commander modules."""

from __future__ import annotations

import re
from typing import Any

AGENT = "incident-commander"
UPDATE_HINT = "Post one with `/incident update <text>`."
Block = dict[str, Any]


def _rx(*alternatives: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")\b", re.IGNORECASE)



def _number(name: str) -> int:
    return int(name[3:])

