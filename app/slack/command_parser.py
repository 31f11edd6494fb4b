"""Parsing `/incident` command text into what the user asked for, with the error to show if not."""

from __future__ import annotations

import re
from dataclasses import dataclass

SEVERITY_TOKEN = re.compile(r"^sev-?(\d+)$", re.IGNORECASE)
SUBCOMMANDS = ("declare", "help")

USAGE = (
    "*Incident commands*\n"
    "• `/incident declare [SEV1-SEV5] <title>`: declare an incident and open its war room\n"
    "  e.g. `/incident declare SEV2 Payment API returning 500 errors`\n"
    "• `/incident help`: this message"
)


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Declare:
    title: str
    severity: str | None


@dataclass(frozen=True)
class Invalid:
    message: str


Command = Help | Declare | Invalid


def parse(text: str) -> Command:
    words = text.split()
    if not words or words[0].lower() == "help":
        return Help()
    name, rest = words[0].lower(), words[1:]
    if name == "declare":
        return _declare(rest)
    return Invalid(f"Unknown subcommand `{words[0][:40]}`. Try one of: {', '.join(SUBCOMMANDS)}.\n\n{USAGE}")


def _declare(words: list[str]) -> Command:
    severity = None
    if words and (match := SEVERITY_TOKEN.match(words[0])):
        severity, words = f"SEV{int(match.group(1))}", words[1:]
    title = " ".join(words)
    if not title:
        return Invalid("Give the incident a title: `/incident declare [SEV1-SEV5] <title>`, "
                       "e.g. `/incident declare SEV2 Payment API returning 500 errors`.")
    return Declare(title=title, severity=severity)
