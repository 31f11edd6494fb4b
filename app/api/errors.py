"""The one shape of every API error, {"error": "..."}, its handlers, and the OpenAPI entries that document it.

Routers declare the statuses they can answer with `responses=errors.of(...)`, so that the schema lists every
status a client can get and what its body looks like.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from app.db.errors import DATABASE_UNAVAILABLE

log = logging.getLogger(__name__)


class ErrorOut(BaseModel):
    error: str = Field(description="What was wrong with the request, or what to do about it")


MEANINGS = {
    400: "The body is not valid JSON, or the request cannot apply as given (an unknown name, fields that do "
         "not go together)",
    401: "No API token, or an unknown or revoked one (see WWW-Authenticate)",
    403: "The token's scope does not allow this method (a read token cannot change anything)",
    404: "No such incident, item, version or agent",
    409: "Refused in the incident's current state",
    413: "The request body is larger than INCIDENTBOT_MAX_BODY_BYTES",
    422: "The body or a parameter is malformed or fails validation",
    503: "The incident database is unreachable; try again shortly",
}
# The largest number a path or query parameter may carry: the databases' 32-bit INTEGER.
MAX_INT = 2**31 - 1
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
WWW_AUTHENTICATE = {"WWW-Authenticate": {"description": "Bearer challenge (RFC 6750)", "schema": {"type": "string"}}}


def of(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, each with the shared error body."""
    documented: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"model": ErrorOut, "description": MEANINGS[status]}
        if status in (401, 403):
            entry["headers"] = WWW_AUTHENTICATE
        documented[status] = entry
    return documented


# What any /api/v1 route can answer, whatever it does: no usable token, a body too big or malformed, no database.
EVERY_ROUTE = of(401, 413, 422, 503)


def change(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A route that changes something also answers 400 (a body that is not JSON) and 403 (a read token)."""
    return of(400, 403, *statuses)


def install(app: FastAPI) -> None:
    """Every error the app raises is answered as JSON of the same shape, with the exception's headers."""

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        # Headers carry what the status promises: Allow with 405, WWW-Authenticate with 401.
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        unparsable = next((e for e in exc.errors() if e["type"] == "json_invalid"), None)
        if unparsable is not None:  # not JSON at all: a malformed request, not a value that fails validation
            reason = (unparsable.get("ctx") or {}).get("error", "cannot be parsed")
            return JSONResponse({"error": f"the body is not valid JSON: {reason}"}, status_code=400)
        return JSONResponse({"error": f"invalid request: {describe(exc.errors())}"}, status_code=422)

    @app.exception_handler(DataError)
    async def does_not_fit(_: Request, exc: DataError) -> JSONResponse:
        # Validation should have caught it; when it did not, the value was the client's and the answer a 4xx.
        log.warning("a request value the database refused: %s", type(exc.orig).__name__)
        return JSONResponse({"error": "invalid request: a value does not fit (too long or out of range)"},
                            status_code=422)

    for error in DATABASE_UNAVAILABLE:
        @app.exception_handler(error)
        async def database_down(_: Request, exc: Exception) -> JSONResponse:
            log.error("database unavailable: %s", type(exc).__name__)
            return JSONResponse({"error": "the incident database is unreachable; try again shortly"},
                                status_code=503)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette's own Allow names only the first route's: GET
    /incidents would hide POST /incidents), found by asking the routes as if the request had used each one."""
    routes = request.app.router.routes
    return [method for method in METHODS
            if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)]


def describe(errors: Any) -> str:
    """Pydantic's errors as `field: message; ...`, the location without its `body`/`query` part."""
    problems = []
    for error in errors:
        where = ".".join(map(str, error["loc"][1:]))
        problems.append(f"{where}: {error['msg']}" if where else str(error["msg"]))
    return "; ".join(problems)
