"""GET /: a page for whoever opens the service in a browser. It shows no incident data, so it needs no token
(a browser cannot send a bearer header); it says where things are and how to get a token."""

from __future__ import annotations

from html import escape
from importlib.metadata import version

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

router = APIRouter()

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>incidentbot</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; line-height: 1.5">
<h1>incidentbot {version}</h1>
<p>Slack-first incident response: declare with <code>/incident declare</code> in Slack.</p>
<ul>{links}</ul>
<p>The REST API is under <code>/api/v1</code> and needs <code>Authorization: Bearer &lt;token&gt;</code>;
make a token with <code>incidentbot token create NAME [--scope read|write]</code>.</p>
</body></html>
"""


@router.get("/", include_in_schema=False)
async def home(request: Request) -> HTMLResponse:
    settings = request.app.state.runtime.settings
    links = [("/docs", "API reference (Swagger UI)"), ("/redoc", "API reference (ReDoc)")] \
        if settings.public_docs else []
    links += [("/healthz", "liveness"), ("/readyz", "readiness")]
    if settings.public_metrics:
        links.append(("/metrics", "Prometheus metrics"))
    items = "".join(f'<li><a href="{href}">{escape(text)}</a></li>' for href, text in links)
    return HTMLResponse(PAGE.format(version=escape(version("incidentbot")), links=items))
