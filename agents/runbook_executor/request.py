"""What a runbook request asks: to execute a named runbook with parameters, or which runbook fits.

Untrusted text: read only for a runbook name and `key=value` words. Nothing here runs anything; an execution
is started by a person (the CLI, a slash command), never by what a model or a message proposes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

EXECUTE = re.compile(r"^\s*(?:execute|run)\s+(?:the\s+)?runbook\s*:?\s*(?P<name>[a-z0-9][-a-z0-9]*)(?P<rest>.*)$",
                     re.IGNORECASE | re.DOTALL)
FOR_TARGET = re.compile(r"\b(?:for|on|of)\s+(?:the\s+)?(?:deployment\s+|service\s+|pod\s+)?([a-z0-9][-a-z0-9]*)\b",
                        re.IGNORECASE)
WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class RunbookAsk:
    execute: bool
    name: str | None = None
    words: list[str] = field(default_factory=list)  # key=value words after the name
    text: str = ""


def read(text: str) -> RunbookAsk:
    """"Execute runbook: pod-restart-graceful deployment=api" → execute pod-restart-graceful [deployment=api]."""
    match = EXECUTE.match(text)
    if match is None:
        return RunbookAsk(execute=False, text=text)
    return RunbookAsk(execute=True, name=match.group("name").lower(), words=split_words(match.group("rest")),
                      text=text)


def split_words(text: str) -> list[str]:
    """Words split on spaces and tabs only: a newline stays inside its value, where it is then refused."""
    return [w for w in re.split(r"[ \t]+", text.strip(" \t")) if w]


def target_word(text: str) -> str | None:
    """The thing a request is about: "... runbook for api-server" → api-server."""
    match = FOR_TARGET.search(text)
    return match.group(1).lower() if match else None


def words(text: str) -> set[str]:
    return set(WORD.findall(text.lower()))
