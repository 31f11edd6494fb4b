"""The loopback-server base every observability fake shares: a Starlette app under uvicorn on a free loopback
port, in a daemon thread, recording requests and injecting failures."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import deque
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send


class LoopbackFake:
    """A Starlette app under uvicorn on a free loopback port, in a daemon thread.

    Every request is recorded as `(method, path)` before anything else, so a test can assert that nothing
    but reads happened. Injected failures (`fail_next`) answer the next requests before routing.
    Subclasses provide `routes()` and may refuse requests early in `intercept()` (authentication).
    """

    service = "fake"

    def __init__(self) -> None:
        self.url = ""
        self._lock = threading.RLock()
        self._requests: list[tuple[str, str]] = []
        self._faults: deque[Response] = deque()
        self._delay = 0.0
        self._app = Starlette(routes=self.routes())
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    # --- for subclasses ----------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        raise NotImplementedError

    def intercept(self, request: Request) -> Response | None:
        """An answer given before routing (a refused credential, a refused method), or None to route."""
        return None

    def server_options(self) -> dict[str, Any]:
        """Extra uvicorn settings, e.g. a TLS certificate for fakes of APIs whose clients insist on https."""
        return {}

    scheme = "http"

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> LoopbackFake:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"{self.scheme}://127.0.0.1:{self._sock.getsockname()[1]}"
        config = uvicorn.Config(self, log_level="warning", lifespan="off", timeout_graceful_shutdown=1,
                                **self.server_options())
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True,
                                        name=f"fake-{self.service}")
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"fake {self.service} did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server and self._thread:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        if self._sock:
            self._sock.close()

    def __enter__(self) -> Any:  # Any: each subclass's `with` target is the subclass itself
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- failure injection and inspection -----------------------------------------------------

    def fail_next(self, status: int, body: str | dict[str, Any] | list[Any], *, times: int = 1,
                  headers: dict[str, str] | None = None) -> None:
        """The next `times` requests get this answer: a str as text/plain, anything else as JSON."""
        response: Response = (PlainTextResponse(body, status, headers=headers) if isinstance(body, str)
                              else JSONResponse(body, status, headers=headers))
        with self._lock:
            self._faults.extend([response] * times)

    def delay(self, seconds: float) -> None:
        """Every later request waits this long before it is answered (0 to stop)."""
        with self._lock:
            self._delay = seconds

    @property
    def requests(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._requests)

    # --- ASGI ---------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request = Request(scope, receive)
            with self._lock:
                self._requests.append((request.method, request.url.path))
                fault, delay = (self._faults.popleft() if self._faults else None), self._delay
            if delay:
                await asyncio.sleep(delay)
            early = fault or self.intercept(request)
            if early is not None:
                await early(scope, receive, send)
                return
        await self._app(scope, receive, send)
