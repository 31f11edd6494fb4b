"""Answering the person who asked, privately, whatever the request came from."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from app.db.errors import DATABASE_UNAVAILABLE
from app.inbox.worker import will_retry

Blocks = list[dict[str, Any]] | None
P = ParamSpec("P")
log = logging.getLogger(__name__)

DATABASE_DOWN = (":warning: Couldn't record that: the incident database is unreachable. "
                 "Nothing was changed; please try again in a minute.")


def tells_when_database_down(listener: Callable[P, Awaitable[None]]) -> Callable[P, Awaitable[None]]:
    """For listeners that ack first: a database outage gets a private answer instead of silence (unless the
    request is retried from the inbox).

    Caught here rather than in Bolt's error handler, which cannot answer once the ack has gone.
    Bolt passes arguments by name, and reads the names through functools.wraps.
    """

    @functools.wraps(listener)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            await listener(*args, **kwargs)
        except DATABASE_UNAVAILABLE:
            if will_retry():
                raise  # from the inbox: it is tried again when the database is back
            log.exception("%s failed: database unavailable", listener.__name__)
            respond = kwargs.get("respond")
            if callable(respond):
                await respond(response_type="ephemeral", replace_original=False, text=DATABASE_DOWN)

    return wrapper


class Reply:
    """The first answer to a slash command is its ack (Slack's 3 s limit); later ones go by response_url."""

    def __init__(self, ack: Callable[..., Awaitable[None]] | None,
                 respond: Callable[..., Awaitable[Any]]) -> None:
        self._ack, self._respond = ack, respond

    async def silently(self) -> None:
        """Acknowledge with nothing to say (a form opened instead)."""
        if self._ack is not None:
            ack, self._ack = self._ack, None
            await ack()

    async def __call__(self, text: str, blocks: Blocks = None) -> None:
        if self._ack is not None:
            ack, self._ack = self._ack, None
            await ack(response_type="ephemeral", text=text, blocks=blocks)
            return
        await self._respond(response_type="ephemeral", replace_original=False, text=text, blocks=blocks)


class EphemeralReply(Reply):
    """For modal submissions, which have no response_url: an ephemeral message in the war room."""

    def __init__(self, client: AsyncWebClient, channel_id: str | None, user_id: str) -> None:
        super().__init__(None, self._post)
        self._client, self._channel_id, self._user_id = client, channel_id, user_id

    async def _post(self, *, text: str, blocks: Blocks = None, **_: Any) -> None:
        target = self._channel_id or self._user_id
        try:
            await self._client.chat_postEphemeral(channel=target, user=self._user_id, text=text, blocks=blocks)
        except SlackApiError:
            await self._client.chat_postMessage(channel=self._user_id, text=text, blocks=blocks)
