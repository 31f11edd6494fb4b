"""Which Slack API failures pass (try again later) and which don't (report them)."""

from __future__ import annotations

import aiohttp
from slack_sdk.errors import SlackApiError

# Slack's own words for "not now": https://api.slack.com/docs/rate-limits and the methods' error lists.
TRANSIENT_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, SlackApiError):
        status = getattr(exc.response, "status_code", 200)
        return status == 429 or status >= 500 or str(exc.response.get("error")) in TRANSIENT_ERRORS
    return isinstance(exc, TimeoutError | aiohttp.ClientError | ConnectionError)


def retry_after(exc: BaseException) -> float | None:
    """Slack's Retry-After for a 429, in seconds, when it gave one."""
    if not isinstance(exc, SlackApiError):
        return None
    headers = {str(k).lower(): v for k, v in (getattr(exc.response, "headers", None) or {}).items()}
    value = headers.get("retry-after")
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
