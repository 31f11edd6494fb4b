"""Escalation's Slack side: the paged person's DM with its Acknowledge button, war-room lines, user groups."""

from __future__ import annotations

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from app.escalations.delivery import Notice, TryLater, Undeliverable
from app.slack.render.escalations import notice_blocks, notice_text

# Slack errors worth trying again later; anything else is a refusal a person has to fix.
TRANSIENT = {"ratelimited", "service_unavailable", "internal_error", "fatal_error", "request_timeout"}


class SlackMessenger:
    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def _call(self, method: str, **kwargs: object) -> dict:
        try:
            response = await getattr(self.client, method)(**kwargs)
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "unknown_error")
            raise (TryLater if error in TRANSIENT else Undeliverable)(f"Slack {method}: {error}") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TryLater(f"Slack unreachable ({type(exc).__name__})") from None
        return dict(response.data)  # type: ignore[arg-type]

    async def notify(self, notice: Notice) -> tuple[str, str]:
        sent = await self._call("chat_postMessage", channel=notice.slack_user, text=notice_text(notice),
                                blocks=notice_blocks(notice), unfurl_links=False)
        return str(sent["channel"]), str(sent["ts"])

    async def post(self, channel_id: str, text: str) -> None:
        await self._call("chat_postMessage", channel=channel_id, text=text, unfurl_links=False)

    async def members(self, usergroup: str) -> list[str]:
        found = await self._call("usergroups_users_list", usergroup=usergroup)
        return [str(u) for u in found.get("users", [])]

    async def user_for_email(self, email: str) -> str | None:
        try:
            found = await self._call("users_lookupByEmail", email=email)
        except Undeliverable:
            return None  # users_not_found: a PagerDuty responder without a Slack account here
        return str(found["user"]["id"])
