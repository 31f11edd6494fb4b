"""Who the bot is in its workspace, learned from `auth.test` once, so that no request waits on Slack for it.

Bolt's single-workspace authorisation calls `auth.test` on the first request after a start and, if Slack is
rate-limiting or down just then, refuses every request ("installation no longer available") and records
nothing. The token is all a request needs to be handled; the bot's user and bot ids only serve to ignore the
bot's own events. So the live app authorises with the token at once, and the ids are learned in the
background with retries. The inbox replays events with `strict` authorisation: an event handled before the
ids are known could be one of the bot's own, so it waits (retried by the inbox) until they are.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from app.slack import failures

log = logging.getLogger(__name__)
FIRST_WAIT, LONGEST_WAIT = 1.0, 60.0

Authorize = Callable[..., Awaitable[AuthorizeResult]]


class IdentityUnknown(ConnectionError):
    """Slack has not answered `auth.test` yet: the request is retried once it has."""


class BotIdentity:
    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client  # without the SDK's own 429 sleeps: the waits here are our own
        self._known: AuthorizeResult | None = None
        self._asking = asyncio.Lock()

    @property
    def known(self) -> bool:
        return self._known is not None

    async def learn(self) -> None:
        """Ask until Slack answers, backing off (Slack's Retry-After when it gives one)."""
        wait = FIRST_WAIT
        while self._known is None:
            try:
                await self.ask()
            except (SlackApiError, TimeoutError, OSError) as exc:
                if isinstance(exc, SlackApiError) and not failures.is_transient(exc):
                    log.error("auth.test refused the bot token (%s); asking again in %ss",
                              exc.response.get("error"), LONGEST_WAIT)
                    wait = LONGEST_WAIT
                else:
                    log.warning("auth.test failed (%s); asking again in %ss", type(exc).__name__, wait)
                await asyncio.sleep(failures.retry_after(exc) or wait)
                wait = min(wait * 2, LONGEST_WAIT)

    async def ask(self) -> None:
        async with self._asking:  # one question at a time: concurrent requests share its answer
            if self._known is None:
                answer = await self._client.auth_test()
                self._known = AuthorizeResult.from_auth_test_response(
                    auth_test_response=answer, bot_token=self._client.token,
                    bot_scopes=answer.headers.get("x-oauth-scopes"))
                log.info("bot identity: user %s in team %s", answer.get("user_id"), answer.get("team_id"))

    def authorize(self, *, strict: bool) -> Authorize:
        """Bolt's `authorize` function: the bot token, with the bot's ids once they are known."""

        async def authorize(enterprise_id: str | None, team_id: str | None, user_id: str | None) -> AuthorizeResult:
            if self._known is None and strict:
                try:
                    await self.ask()
                except (SlackApiError, TimeoutError, OSError) as exc:
                    raise IdentityUnknown(f"auth.test failed: {exc}") from exc
            known = self._known
            if known is None:
                return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id,
                                       bot_token=self._client.token)
            return AuthorizeResult(enterprise_id=known.enterprise_id or enterprise_id,
                                   team_id=known.team_id or team_id, user_id=user_id, bot_token=self._client.token,
                                   bot_id=known.bot_id, bot_user_id=known.bot_user_id, bot_scopes=known.bot_scopes)

        return authorize
