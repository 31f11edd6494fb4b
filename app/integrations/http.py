"""What the HTTP clients of this package share: reading error bodies, naming an unreachable server, and keeping
credentials out of every message."""

from __future__ import annotations

import functools
import re
import ssl
from typing import Any, Self

import certifi
import httpx

from app.integrations.telemetry import ToolFailed


class ApiClient:
    """What every HTTP client here shares: an `httpx.AsyncClient` in `_http`, closed by `aclose` or `async with`."""

    _http: httpx.AsyncClient

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()


def client(base_url: str, headers: dict[str, str] | None, timeout: float) -> httpx.AsyncClient:
    """An HTTP client for one API; they share one TLS context, which is costly to build (CA bundle)."""
    return httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout, verify=_tls())


@functools.cache
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=certifi.where())


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The body as a JSON object, or {} when it is not one (an HTML error page, plain text)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def unreachable(service: str, url: str, exc: httpx.TransportError, timeout: float) -> ToolFailed:
    """`Loki at http://host:3100 unreachable: connection refused`, without credentials or a stack dump."""
    if isinstance(exc, httpx.TimeoutException):
        reason = f"timed out after {timeout:g}s"
    else:
        text = re.sub(r"^\[Errno -?\d+\]\s*", "", str(exc)).strip() or type(exc).__name__
        reason = text[:1].lower() + text[1:]
    public = httpx.URL(url).copy_with(userinfo=b"")
    return ToolFailed(f"{service} at {public} unreachable: {reason}")


SENSITIVE_HEADER = re.compile(r"auth|key|token|secret|cookie", re.IGNORECASE)


def secrets_in(headers: dict[str, str]) -> list[str]:
    """Credential values among request headers (and the bare token of `Bearer <token>`), longest first."""
    found = {value for name, value in headers.items() if SENSITIVE_HEADER.search(name) and value}
    found |= {value.split(" ", 1)[1] for value in found if " " in value}
    return sorted((s for s in found if len(s) >= 4), key=len, reverse=True)


def redact(message: str, secrets: list[str]) -> str:
    """An error body may echo a request header back; a message must never carry it on."""
    for secret in secrets:
        message = message.replace(secret, "***")
    return message
