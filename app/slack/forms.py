"""Modals: declare (when `/incident declare` has no title), post an update, resolve."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from app.db.errors import DATABASE_UNAVAILABLE
from app.inbox.worker import will_retry
from app.incidents.flows import Declaration
from app.incidents.lifecycle import UPDATE_STATUSES, Actor
from app.incidents.models import Incident, Source
from app.runtime import Runtime
from app.slack import incident_commands
from app.slack.changes import find_incident
from app.slack.declaring import declare_and_open_war_room
from app.slack.replies import DATABASE_DOWN, EphemeralReply, Reply

log = logging.getLogger(__name__)
DECLARE, UPDATE, RESOLVE = "declare_form", "update_form", "resolve_form"


def _text_input(block_id: str, label: str, *, multiline: bool = False, optional: bool = False,
                placeholder: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": "value", "multiline": multiline}
    if placeholder:
        element["placeholder"] = {"type": "plain_text", "text": placeholder}
    return {"type": "input", "block_id": block_id, "optional": optional, "element": element,
            "label": {"type": "plain_text", "text": label}}


def _select(block_id: str, label: str, options: list[tuple[str, str]], initial: str | None,
            *, optional: bool = False) -> dict[str, Any]:
    choices = [{"text": {"type": "plain_text", "text": text[:75]}, "value": value} for value, text in options]
    element: dict[str, Any] = {"type": "static_select", "action_id": "value", "options": choices}
    chosen = next((c for c in choices if c["value"] == initial), None)
    if chosen:
        element["initial_option"] = chosen
    return {"type": "input", "block_id": block_id, "optional": optional, "element": element,
            "label": {"type": "plain_text", "text": label}}


def _modal(callback_id: str, title: str, submit: str, blocks: list[dict[str, Any]], metadata: dict[str, str]
           ) -> dict[str, Any]:
    return {"type": "modal", "callback_id": callback_id, "title": {"type": "plain_text", "text": title},
            "submit": {"type": "plain_text", "text": submit}, "close": {"type": "plain_text", "text": "Cancel"},
            "private_metadata": json.dumps(metadata), "blocks": blocks}


async def open_declare_form(runtime: Runtime, client: AsyncWebClient, command: dict[str, Any],
                            severity: str | None) -> None:
    config = runtime.config
    severities = [(s.name, s.label) for s in config.severities]
    blocks = [
        _text_input("title", "Title", placeholder="Payment API returning 500 errors"),
        _select("severity", "Severity (leave empty to have it assessed)", severities, severity, optional=True),
        _text_input("description", "What is happening", multiline=True, optional=True),
        _text_input("service", "Affected service", optional=True),
        {"type": "input", "block_id": "private", "optional": True,
         "label": {"type": "plain_text", "text": "War room"},
         "element": {"type": "checkboxes", "action_id": "value", "options": [
             {"text": {"type": "plain_text", "text": "Private channel"}, "value": "private"}]}},
    ]
    # The command's response_url outlives the modal, so the result can be told to the declarer.
    metadata = {"response_url": command.get("response_url", ""), "channel_id": command.get("channel_id", "")}
    await client.views_open(trigger_id=command["trigger_id"],
                            view=_modal(DECLARE, "Declare an incident", "Declare", blocks, metadata))


async def open_update_form(client: AsyncWebClient, trigger_id: str, public_id: str) -> None:
    statuses = [(name, name.title()) for name in UPDATE_STATUSES]
    blocks = [_text_input("text", "What changed", multiline=True),
              _select("status", "Status", statuses, None, optional=True)]
    await client.views_open(trigger_id=trigger_id,
                            view=_modal(UPDATE, f"Update {public_id}"[:24], "Post", blocks, {"incident": public_id}))


async def open_resolve_form(client: AsyncWebClient, trigger_id: str, public_id: str) -> None:
    blocks = [_text_input("summary", "Resolution summary", multiline=True, optional=True,
                          placeholder="What fixed it, and what is left to do")]
    await client.views_open(trigger_id=trigger_id,
                            view=_modal(RESOLVE, f"Resolve {public_id}"[:24], "Resolve", blocks,
                                        {"incident": public_id}))


def _value(view: dict[str, Any], block_id: str) -> Any:
    element = view["state"]["values"].get(block_id, {}).get("value", {})
    if element.get("type") == "static_select":
        return (element.get("selected_option") or {}).get("value")
    if element.get("type") == "checkboxes":
        return [o["value"] for o in element.get("selected_options") or []]
    return (element.get("value") or "").strip() or None


def accepts(view: dict[str, Any]) -> bool:
    """Whether a submitted form is complete; an incomplete one gets its errors back in the ack."""
    if view.get("callback_id") == DECLARE:
        return bool(_value(view, "title"))
    return view.get("callback_id") in (UPDATE, RESOLVE)


def channel_of(view: dict[str, Any]) -> str | None:
    """The channel the form was opened from, when it recorded one."""
    return _metadata(view).get("channel_id") or None


def _metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        metadata = json.loads(view.get("private_metadata") or "{}")
    except json.JSONDecodeError:
        return {}
    return metadata if isinstance(metadata, dict) else {}


def register(app: AsyncApp, runtime: Runtime) -> None:
    @app.view(DECLARE)
    async def declare_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        title = _value(view, "title")
        if not title:
            await ack(response_action="errors", errors={"title": "Give the incident a title."})
            return
        await ack()
        metadata = _metadata(view)
        declaration = Declaration(
            title=title, severity=_value(view, "severity"), description=_value(view, "description"),
            affected_service=_value(view, "service"), is_private="private" in (_value(view, "private") or []),
            declared_by=body["user"]["id"], source=Source.SLACK,
        )
        reply = _reply_for(runtime, body, metadata)
        await _telling_outages(reply, declare_and_open_war_room(runtime, reply, declaration,
                                                                f"slack:view:{view['id']}"))

    @app.view(UPDATE)
    async def update_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        await ack()
        status = UPDATE_STATUSES.get(_value(view, "status") or "")
        text = _value(view, "text") or ""
        await _on_incident(runtime, body, view, lambda incident, reply, actor: incident_commands.post_update(
            runtime, reply, incident, text, status, actor))

    @app.view(RESOLVE)
    async def resolve_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        await ack()
        summary = _value(view, "summary")
        await _on_incident(runtime, body, view, lambda incident, reply, actor: incident_commands.resolve_incident(
            runtime, reply, incident, summary, actor))


async def _telling_outages(reply: Reply, work: Awaitable[None]) -> None:
    """A modal has no response_url, so Bolt's error handler can't answer; answer a database outage here."""
    try:
        await work
    except DATABASE_UNAVAILABLE:
        if will_retry():
            raise
        log.exception("form submission failed: database unavailable")
        await reply(DATABASE_DOWN)


def _reply_for(runtime: Runtime, body: dict[str, Any], metadata: dict[str, str]) -> Reply:
    assert runtime.war_room is not None
    if metadata.get("response_url"):
        webhook = AsyncWebhookClient(metadata["response_url"])
        return Reply(None, lambda **kwargs: webhook.send(**kwargs))
    return EphemeralReply(runtime.slack, metadata.get("channel_id"), body["user"]["id"])


async def _on_incident(runtime: Runtime, body: dict[str, Any], view: dict[str, Any],
                       work: Callable[[Incident, Reply, Actor], Awaitable[None]]) -> None:
    """Run a form's change on the incident it was opened for, answering privately in its war room."""
    assert runtime.war_room is not None
    user = body["user"]["id"]
    public_id = _metadata(view).get("incident")

    async def run() -> None:
        incident = await find_incident(runtime, None, public_id)
        reply = EphemeralReply(runtime.slack, incident.channel_id if incident else None, user)
        if incident is None:
            await reply(f"{public_id} no longer exists.")
            return
        await work(incident, reply, Actor(user, Source.SLACK))

    await _telling_outages(EphemeralReply(runtime.slack, None, user), run())
