"""The Slack Web API client, with slack_sdk's retry handlers for 429s, 5xx and dropped connections."""

from __future__ import annotations

from typing import Any

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.web.async_client import AsyncWebClient

from app.metrics import slack_api_calls, slack_api_errors
from app.settings import Settings


class CountCalls(AsyncRetryHandler):
    """Counts every Slack answer by method, and the errors by Slack's error code, and never retries.

    The SDK asks each retry handler about every response (and every dropped connection), and Bolt copies the
    handlers into the clients it makes per request, so this sees every call the process makes.
    """

    async def can_retry_async(self, *, state: Any, request: HttpRequest, response: HttpResponse | None = None,
                              error: Exception | None = None) -> bool:
        method = request.url.rsplit("/api/", 1)[-1] if "/api/" in request.url else "file_upload"
        slack_api_calls.labels(method).inc()
        if (failure := _failure(response, error)) is not None:
            slack_api_errors.labels(method, failure).inc()
        return False


def _failure(response: HttpResponse | None, error: Exception | None) -> str | None:
    if error is not None:
        return type(error).__name__
    assert response is not None
    body = response.body or {}
    if body.get("ok") is False:
        return str(body.get("error") or "unknown_error")
    return f"http_{response.status_code}" if response.status_code >= 400 else None


def create_client(settings: Settings, *, wait_on_ratelimit: bool = True) -> AsyncWebClient:
    """`wait_on_ratelimit=False` for callers that schedule their own retry (the inbox): a 429 is raised at once."""
    assert settings.slack_bot_token is not None
    # Only a few waits in the call: a war-room step that still fails is kept and retried later from its step
    # table (app/warroom/flows.py), so a long storm does not hold a set-up slot.
    ratelimit = [AsyncRateLimitErrorRetryHandler(max_retry_count=2)] if wait_on_ratelimit else []
    return AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=10,
        retry_handlers=[
            CountCalls(),  # first: it sees every answer, then lets the others decide on a retry
            *ratelimit,  # sleeps for Slack's Retry-After, then retries
            AsyncServerErrorRetryHandler(max_retry_count=2),
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
        ],
    )
