"""Baseline for the ack benchmarks: a Bolt app on FastAPI that verifies the signature and only acks
(slash commands and message events)."""

from __future__ import annotations

import argparse
import os

import uvicorn
from fastapi import FastAPI, Request, Response
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient


def create() -> FastAPI:
    client = AsyncWebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"])
    bolt = AsyncApp(client=client, signing_secret=os.environ["SLACK_SIGNING_SECRET"])

    @bolt.command("/incident")
    async def incident(ack) -> None:  # type: ignore[no-untyped-def]
        await ack(text="ok")

    @bolt.event("message")
    async def message() -> None:  # Bolt acks events itself, before the listener runs
        return None

    handler = AsyncSlackRequestHandler(bolt)
    api = FastAPI()

    @api.post("/slack/events")
    async def events(request: Request) -> Response:
        return await handler.handle(request)

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return api


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    uvicorn.run(create(), host="127.0.0.1", port=parser.parse_args().port, log_level="warning")
