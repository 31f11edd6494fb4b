"""Test helpers: the app on a real loopback HTTP server, and a Slack sender that signs requests."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
import uvicorn
from sqlalchemy.orm import Session

from app.db.engine import create_sync_engine
from app.main import create_app
from app.settings import Settings
from app.tokens import service as tokens
from app.tokens.models import Scope
from tests.fakes.slack import FakeSlack
from tests.sockets import free_socket as free_socket  # where the tests have always imported it from


def postgres_admin_url() -> str:
    return os.environ.get("INCIDENTBOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


T = TypeVar("T")
STOP_TIMEOUT = 15.0  # the app's shutdown: uvicorn's 5 s grace for requests, then its lifespan's own tasks


def stop_process(process: subprocess.Popen[Any], grace: float = 10.0, sig: int = signal.SIGTERM) -> int:
    """Send `sig`, kill the process if it has not exited within `grace` seconds, and return its exit code:
    a child left running after a test keeps its database connections and ports."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            return process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait(timeout=10)


def concurrently(calls: Iterable[Callable[[], T]], workers: int = 4) -> list[T]:
    """Run independent calls at once (each typically one CLI process, which mostly waits on its imports), results
    in the order given. Only for calls no assertion orders: each must pass whichever runs first."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda call: call(), calls))


class AppServer:
    """create_app() under uvicorn in a thread, configured only through Settings fields."""

    def __init__(self, env: dict[str, str]) -> None:
        self.settings = Settings(**{k.lower(): v for k, v in env.items()})
        self.app = create_app(self.settings)
        self._sock = free_socket()
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        # Without a graceful-shutdown limit uvicorn waits for every open request (one stuck on a hung fake) forever.
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="on",
                                                     timeout_graceful_shutdown=5))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    def __enter__(self) -> AppServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("app server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, _: object) -> None:
        """Stop, or say it could not: a server left running keeps its background loops on the test database."""
        self._server.should_exit = True
        self._thread.join(timeout=STOP_TIMEOUT)
        self._sock.close()
        if not self._thread.is_alive():
            return
        message = f"the app server at {self.url} did not stop within {STOP_TIMEOUT:.0f} s"
        if exc is not None:
            exc.add_note(message)  # keep the test's own failure first
            return
        raise RuntimeError(message)

    def api(self, scope: str = "write") -> httpx.Client:
        """A client for /api/v1 carrying a fresh token of this scope, issued as `incidentbot token create` does."""
        token = issue_token(self.settings.database_url, Scope(scope))
        return httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=10)


def issue_token(database_url: str, scope: Scope = Scope.WRITE, name: str | None = None) -> str:
    """Store a new API token through the token service and return its secret."""
    issued = tokens.issue(name or f"test-{uuid.uuid4().hex[:8]}", scope, created_by="tests")
    engine = create_sync_engine(database_url)
    try:
        with Session(engine) as session, session.begin():
            session.add(issued.row)
    finally:
        engine.dispose()
    return issued.secret


def sign(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


class SlackSender:
    """Sends what Slack sends: form-encoded slash commands, signed with the app's signing secret."""

    def __init__(self, app_url: str, secret: str, slack: FakeSlack) -> None:
        self.app_url, self.secret, self.slack = app_url, secret, slack

    def command_body(self, text: str, *, user: str = "U0DECLARER", channel: str = "C0GENERAL",
                     trigger_id: str | None = None) -> str:
        return urlencode({
            "token": "legacy-verification-token", "team_id": self.slack.team_id, "team_domain": "acme",
            "channel_id": channel, "channel_name": "general", "user_id": user, "user_name": "alice",
            "command": "/incident", "text": text, "api_app_id": "A0001", "is_enterprise_install": "false",
            "response_url": self.slack.response_url(), "trigger_id": trigger_id or f"trig.{uuid.uuid4().hex}",
        })

    def post(self, body: str, *, headers: dict[str, str] | None = None, signed: bool = True,
             timestamp: int | None = None) -> httpx.Response:
        all_headers = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        if signed:
            all_headers.update(sign(self.secret, body, timestamp))
        return httpx.post(f"{self.app_url}/slack/events", content=body, headers=all_headers, timeout=10)

    def command(self, text: str, **kwargs: Any) -> httpx.Response:
        return self.post(self.command_body(text, **kwargs))

    def interaction(self, payload: dict[str, Any]) -> httpx.Response:
        """Block actions and view submissions arrive form-encoded as one `payload` JSON field."""
        base = {"team": {"id": self.slack.team_id}, "api_app_id": "A0001", "token": "legacy-verification-token",
                "trigger_id": f"trig.{uuid.uuid4().hex}"}
        return self.post(urlencode({"payload": json.dumps({**base, **payload})}))

    def click(self, action_id: str, value: str, *, user: str, channel: str, message_ts: str) -> httpx.Response:
        return self.interaction({
            "type": "block_actions", "user": {"id": user}, "channel": {"id": channel},
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
            "message": {"ts": message_ts}, "response_url": self.slack.response_url(),
            "actions": [{"type": "button", "action_id": action_id, "block_id": "b", "value": value,
                         "action_ts": str(time.time())}],
        })

    def submit(self, view: dict[str, Any], values: dict[str, Any], *, user: str) -> httpx.Response:
        """Submit a modal the app opened (as the fake recorded it) with the given input values."""
        state = {block_id: {"value": value} for block_id, value in values.items()}
        return self.interaction({"type": "view_submission", "user": {"id": user},
                                 "view": {**view, "state": {"values": state}}})


def ack_text(response: httpx.Response) -> str:
    """The text of a slash-command ack; Bolt answers ephemeral JSON."""
    assert response.status_code == 200, response.text
    payload = json.loads(response.text)
    assert payload.get("response_type", "ephemeral") == "ephemeral"
    return str(payload["text"])


@contextmanager
def serve(env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """`incidentbot serve` in its own process, as an operator runs it."""
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    # The log goes to a file: a pipe nobody reads would block the server once it fills.
    log = tempfile.NamedTemporaryFile(prefix="incidentbot-serve-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=log,
    )
    process.url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    process.log_path = log.name  # type: ignore[attr-defined]
    try:
        _wait_healthy(process, timeout=30)
        yield process
    finally:
        stop_process(process)
        log.close()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_healthy(process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not _healthy(process.url):  # type: ignore[attr-defined]
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"incidentbot serve did not become healthy (exit code {process.poll()})")
        time.sleep(0.05)
