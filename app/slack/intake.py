"""What happens to a Slack request between its arrival and its listener.

A request that changes the record and can't be answered from the change itself (events, card buttons,
submitted forms) is stored in the inbox before the ack and handled from there (see `app.inbox`). Slash
commands are answered by their ack, so they are handled at once, and committed before it.
Every change-making request is named by a key, so that the same request twice is one change:
events by Slack's event id, forms by view id and hash, buttons by action, message and person,
slash commands by a digest of the signed body.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

from app.slack.render.escalations import ACKNOWLEDGE

# Buttons that change the record; those that only open a form answer at once (the trigger id expires in 3 s).
CHANGING_ACTIONS = {"take_ic", "next_action_done", "next_action_undo", ACKNOWLEDGE}
# A second click of the same button on the same message within this window is a double click; later, the
# card has changed and clicking again is meant (done, undone, done again).
DOUBLE_CLICK = timedelta(seconds=60)


@dataclass(frozen=True)
class Durable:
    """How an inbox request is named: `key` for this delivery, `claim` for the change it makes."""

    key: str
    claim: str
    window: timedelta | None = None


class Malformed(ValueError):
    """A signed body that isn't one of Slack's request formats."""


def parse(raw: bytes, content_type: str | None) -> dict[str, Any]:
    """The request as Bolt will read it, or Malformed (Bolt itself would fail with a 500)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("the body is not UTF-8") from None
    if not text:
        return {}
    kind = (content_type or "").split(";")[0].strip().lower()
    try:
        if kind == "application/json" or text.startswith("{"):
            body = _object(json.loads(text), "the JSON body")
            if body.get("type") == "event_callback":
                _object(body.get("event"), "the event_callback's event")
            return body
        form = dict(parse_qsl(text, keep_blank_values=True))
        if "payload" in text:
            if "payload" not in form:
                raise Malformed("the form has no payload field")
            return _object(json.loads(form["payload"]), "the payload")
        return form
    except (json.JSONDecodeError, RecursionError):
        raise Malformed("the body is not valid JSON") from None


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Malformed(f"{what} is not a JSON object")
    return value


def durable(body: dict[str, Any], accepts_form: Any) -> Durable | None:
    """How to name the request if it goes through the inbox; None for requests handled at once.

    `accepts_form(view)` says whether a submitted form is valid as it stands (else its errors go back in
    the ack, so it can't wait in the inbox).
    """
    kind = body.get("type")
    if kind == "event_callback" and body.get("event_id"):
        key = f"slack:event:{body['event_id']}"
        return Durable(key, key)
    if kind == "block_actions":
        return _clicked(body)
    if kind == "view_submission":
        view = body.get("view") or {}
        if view.get("id") and accepts_form(view):
            key = f"slack:view:{view['id']}:{view.get('hash') or ''}"
            return Durable(key, key)
    return None


def _clicked(body: dict[str, Any]) -> Durable | None:
    actions = body.get("actions") or [{}]
    action = actions[0] if isinstance(actions[0], dict) else {}
    if action.get("action_id") not in CHANGING_ACTIONS:
        return None
    message_ts = (body.get("container") or {}).get("message_ts") or (body.get("message") or {}).get("ts") or ""
    user = (body.get("user") or {}).get("id") or ""
    click = f"{action['action_id']}:{action.get('value') or ''}:{message_ts}:{user}"
    claim = "slack:action:" + hashlib.sha256(click.encode()).hexdigest()[:40]
    return Durable(f"{claim}:{action.get('action_ts') or ''}", claim, DOUBLE_CLICK)


def command_key(raw_body: str, body: dict[str, Any]) -> str:
    """A slash command's name: the digest of the body Slack signed (it carries a unique trigger id), so a
    replay of the same signed request is recognised; Socket Mode has no raw body, the fields serve."""
    signed = raw_body or json.dumps(body, sort_keys=True)
    return "slack:command:" + hashlib.sha256(signed.encode()).hexdigest()[:40]
