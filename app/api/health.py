"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text

from app.db.errors import DATABASE_UNAVAILABLE

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up and serving."""
    return {"status": "ok"}


class ReadyOut(BaseModel):
    status: Literal["ready", "unavailable"]
    database: str = Field(description='"ok", or the kind of error the database gave')


@router.get("/readyz", response_model=ReadyOut,
            responses={503: {"model": ReadyOut, "description": "The database does not answer"}})
async def readyz(request: Request) -> JSONResponse:
    """Ready to take traffic: the database answers a query."""
    try:
        async with request.app.state.runtime.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except DATABASE_UNAVAILABLE as exc:
        return JSONResponse({"status": "unavailable", "database": type(exc).__name__}, status_code=503)
    return JSONResponse({"status": "ready", "database": "ok"})
