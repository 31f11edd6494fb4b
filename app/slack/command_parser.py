"""Parsing `/incident` command text into what the user asked for, with the error to show if not.

Slack escapes the command text (the manifest sets should_escape): users arrive as `<@U123|name>`,
and `&`, `<`, `>` as entities, which are turned back into text here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.db.text import clean
from app.slack.blocks import unescape

SEVERITY_TOKEN = re.compile(r"^sev-?(\d+)$", re.IGNORECASE)
INCIDENT_ID = re.compile(r"^INC-\d{4}-\d{4}-\d{3,}$", re.IGNORECASE)
USER_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
STATUS_FLAG = re.compile(r"\s--status[= ](\S+)", re.IGNORECASE)
ITEM_NUMBER = re.compile(r"^#?([0-9]{1,9})$")
MARK_ACTION = {"done": "done", "reopen": "open"}  # action done|reopen <n>: the item's new status

USAGE = """*Incident commands* (in a war room the incident is the channel's; elsewhere add its id)
• `/incident declare [SEV1-SEV5] <title>`: declare an incident and open its war room (no title: a form)
• `/incident status [INC-…]`: the status card; outside a war room, the open incidents
• `/incident update <text> [--status identified|monitoring]`: post a status update
• `/incident severity <SEVn> [reason]`, `/incident resolve [summary]`, `/incident reopen`, `/incident close`
• `/incident assign <role> @user`, `/incident roles`: roles are ic, comms, scribe, sme, postmortem
• `/incident note <text>`, `/incident timeline`: add to and show the timeline
• `/incident action <text> [@owner] [P0-P3] [due YYYY-MM-DD|tomorrow|+3d]`: add a follow-up action item
• `/incident actions`: list them · `/incident action done <n>`, `/incident action reopen <n>`: tick one off or reopen it
• `/incident postmortem [regenerate --force]`: write the postmortem and post it here
• `/incident postmortem status draft|in-review|final`: move its review along
• `/incident escalate [SEVn] <reason>`: notify the next level now (name a role to go up to it)
• `/incident deescalate [SEVn] <reason>`: lower the severity and hold further escalation
• `/incident notified`: who was paged and told, who acknowledged, what is next
• `/incident runbook list|show NAME|run NAME key=value … [--dry-run]|guide NAME …|resume`: runbooks
• `/incident list`: open incidents · `/incident help`: this message
React with :pushpin: to a war-room message (or pin it) to put it on the timeline."""


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Declare:
    title: str
    severity: str | None


@dataclass(frozen=True)
class OpenDeclareForm:
    severity: str | None = None


@dataclass(frozen=True)
class ListOpen:
    pass


@dataclass(frozen=True)
class OnIncident:
    """A subcommand about one incident: the channel's, or the one named by `ref`."""

    name: str  # one of ON_INCIDENT
    ref: str | None
    text: str = ""
    status: str | None = None  # update --status; action done|reopen: the item's new status, done or open
    severity: str | None = None  # severity SEVn
    user_id: str | None = None  # assign @user
    number: int | None = None  # action done|reopen <n>


@dataclass(frozen=True)
class Invalid:
    message: str


Command = Help | Declare | OpenDeclareForm | ListOpen | OnIncident | Invalid
ON_INCIDENT = ("status", "update", "severity", "resolve", "reopen", "close", "assign", "roles", "note",
               "timeline", "action", "actions", "postmortem", "escalate", "deescalate", "notified")
SUBCOMMANDS = ("declare", *ON_INCIDENT, "list", "runbook", "help")  # runbook: parsed by runbook_commands


def parse(text: str) -> Command:
    words = text.split()
    if not words or words[0].lower() == "help":
        return Help()
    name, rest = words[0].lower(), words[1:]
    if name == "declare":
        return _declare(rest)
    if name == "list":
        return ListOpen()
    if name in ON_INCIDENT:
        return _on_incident(name, rest)
    typed = clean(unescape(words[0]))[:40]  # quoted back: no NUL or escape sequences into Slack
    return Invalid(f"Unknown subcommand `{typed}`. Try one of: {', '.join(SUBCOMMANDS)}.\n\n{USAGE}")


def _declare(words: list[str]) -> Command:
    severity = None
    if words and (match := SEVERITY_TOKEN.match(words[0])):
        severity, words = f"SEV{int(match.group(1))}", words[1:]
    title = unescape(" ".join(words))
    return Declare(title=title, severity=severity) if title else OpenDeclareForm(severity)


def _on_incident(name: str, words: list[str]) -> Command:
    ref = None
    if words and INCIDENT_ID.match(words[0]):
        ref, words = words[0].upper(), words[1:]
    rest = " ".join(words)
    if name == "update":
        return _update(ref, rest)
    if name == "severity":
        return _severity(ref, words)
    if name == "assign":
        return _assign(ref, words)
    if name == "action":
        return _action(ref, words)
    if name in ("escalate", "deescalate"):
        return _escalation(name, ref, words)
    if name == "note" and not rest:
        return Invalid("A note needs some text: `/incident note <what happened>`.")
    return OnIncident(name, ref, text=unescape(rest))


def _update(ref: str | None, rest: str) -> Command:
    status = None
    if match := STATUS_FLAG.search(" " + rest):
        status = match.group(1).lower()
        rest = STATUS_FLAG.sub("", " " + rest).strip()
        if status not in ("investigating", "identified", "monitoring"):
            return Invalid(f"`--status {status}` isn't an update status; use identified or monitoring "
                           "(or `/incident resolve` when it's fixed).")
    if not rest:
        return Invalid("An update needs some text: `/incident update <what changed> [--status identified]`.")
    return OnIncident("update", ref, text=unescape(rest), status=status)


def _severity(ref: str | None, words: list[str]) -> Command:
    match = SEVERITY_TOKEN.match(words[0]) if words else None
    if match is None:
        return Invalid("Give the new severity: `/incident severity SEV1 [reason]`.")
    return OnIncident("severity", ref, text=unescape(" ".join(words[1:])), severity=f"SEV{int(match.group(1))}")


def _escalation(name: str, ref: str | None, words: list[str]) -> Command:
    severity = None
    if words and (match := SEVERITY_TOKEN.match(words[0])):
        severity, words = f"SEV{int(match.group(1))}", words[1:]
    reason = unescape(" ".join(words)).strip()
    if not reason:
        return Invalid(f"Say why: `/incident {name} [SEVn] <reason>`"
                       + (" (name a role, e.g. `need VP Engineering`, to go up to it)." if name == "escalate"
                          else "."))
    return OnIncident(name, ref, text=reason, severity=severity)


def _assign(ref: str | None, words: list[str]) -> Command:
    mention = next((USER_MENTION.match(w) for w in words if USER_MENTION.match(w)), None)
    role = " ".join(w for w in words if not USER_MENTION.match(w))
    if mention is None or not role:
        return Invalid("Name a role and a person: `/incident assign <role> @user` "
                       "(roles: ic, comms, scribe, sme, postmortem).")
    return OnIncident("assign", ref, text=role, user_id=mention.group(1))


def _action(ref: str | None, words: list[str]) -> Command:
    """`action done|reopen <n>` marks an item; anything else is a new item, parsed when it is added."""
    verb = words[0].lower() if words else ""
    if verb not in MARK_ACTION:
        return OnIncident("action", ref, text=unescape(" ".join(words)))
    match = ITEM_NUMBER.match(words[1]) if len(words) == 2 else None
    if match is None or int(match.group(1)) < 1:
        return Invalid(f"Give the item's number: `/incident action {verb} 3` (`/incident actions` lists them).")
    return OnIncident("action", ref, status=MARK_ACTION[verb], number=int(match.group(1)))
