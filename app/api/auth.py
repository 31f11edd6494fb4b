"""Bearer-token authentication: every /api/v1 route needs a token; changes need one with write scope.

`require_token` is the FastAPI dependency the API routers are included with (it also puts the bearer scheme in
the OpenAPI schema). `TokenGate` asks for a token (of any scope) on the few paths outside /api/v1 an operator
chose to close: /metrics and the API docs. Neither ever logs the token.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.incidents import RuntimeDep
from app.db.errors import DATABASE_UNAVAILABLE
from app.tokens import service
from app.tokens.models import ApiToken
from app.tokens.models import Scope as TokenScope

REALM = 'Bearer realm="incidentbot"'
MISSING = ("this API needs a token: send `Authorization: Bearer <token>` "
           "(create one with `incidentbot token create NAME`)")
INVALID = "unknown or revoked API token"

bearer = HTTPBearer(auto_error=False,
                    description="An API token from `incidentbot token create NAME [--scope read|write]`")


class Refused(Exception):
    def __init__(self, status: int, message: str, challenge: str) -> None:
        super().__init__(message)
        self.status, self.message, self.challenge = status, message, challenge

    def as_http(self) -> HTTPException:
        return HTTPException(self.status, self.message, headers={"WWW-Authenticate": self.challenge})


async def check(sessions: async_sessionmaker[AsyncSession], credentials: str | None, method: str) -> ApiToken:
    """The token for these credentials if it allows `method`; Refused (401 or 403) otherwise."""
    if not credentials:
        raise Refused(401, MISSING, REALM)
    async with sessions() as session:
        token = await service.authenticate(session, credentials)
        if session.dirty:
            await session.commit()  # the last use, noted at most once a minute
    if token is None:
        raise Refused(401, INVALID, f'{REALM}, error="invalid_token"')
    if not TokenScope(token.scope).allows(method):
        raise Refused(403, f"token {token.name!r} has read scope; {method} needs a token with write scope",
                      f'{REALM}, error="insufficient_scope", scope="write"')
    return token


async def require_token(request: Request, runtime: RuntimeDep,
                        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> ApiToken:
    try:
        return await check(runtime.sessions, credentials.credentials if credentials else None, request.method)
    except Refused as refused:
        raise refused.as_http() from None


def bearer_credentials(headers: Headers) -> str | None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


class TokenGate:
    """ASGI middleware: requests for `paths` need a valid token (read scope is enough: they only read)."""

    def __init__(self, app: ASGIApp, paths: frozenset[str], sessions: async_sessionmaker[AsyncSession]) -> None:
        self.app, self.paths, self.sessions = app, paths, sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.paths:
            try:
                await check(self.sessions, bearer_credentials(Headers(scope=scope)), "GET")
            except Refused as refused:
                response = JSONResponse({"error": refused.message}, status_code=refused.status,
                                        headers={"WWW-Authenticate": refused.challenge})
                await response(scope, receive, send)
                return
            except DATABASE_UNAVAILABLE:
                await JSONResponse({"error": "the incident database is unreachable; try again shortly"},
                                   status_code=503)(scope, receive, send)
                return
        await self.app(scope, receive, send)
