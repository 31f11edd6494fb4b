"""A fake Grafana HTTP API served over loopback HTTP.

It serves dashboard search, dashboards by uid, the datasource list, and the datasource proxy, which forwards
GETs to a real upstream (`prometheus_url`, else the datasource's own `url`) as Grafana does, without the
caller's Authorization header. Every call needs `Authorization: Bearer <token>`; errors are Grafana's JSON
`{"message": ...}` answers.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from tests.fakes.loopback import LoopbackFake

# Grafana's proxy drops hop-by-hop headers and its own credentials before forwarding.
_NOT_FORWARDED = {"host", "authorization", "cookie", "connection", "content-length", "transfer-encoding"}


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


class FakeGrafana(LoopbackFake):
    """`dashboards` are dashboard JSON models (uid, title, tags, panels...); `datasources` are as
    `GET /api/datasources` lists them (uid, name, type, url, isDefault...)."""

    service = "grafana"

    def __init__(self, token: str, dashboards: list[dict[str, Any]], datasources: list[dict[str, Any]],
                 prometheus_url: str | None = None) -> None:
        self.token, self.prometheus_url = token, prometheus_url
        self.dashboards = {d["uid"]: {"id": n, "version": 1, "schemaVersion": 39, **copy.deepcopy(d)}
                           for n, d in enumerate(dashboards, 1)}
        self.datasources = [{"id": n, "orgId": 1, "access": "proxy", "isDefault": False, "readOnly": False,
                             **copy.deepcopy(d)} for n, d in enumerate(datasources, 1)]
        super().__init__()

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/search", self._search),
            Route("/api/dashboards/uid/{uid}", self._dashboard),
            Route("/api/datasources", self._datasources),
            Route("/api/datasources/proxy/uid/{uid}/{path:path}", self._proxy, methods=["GET", "POST"]),
            Route("/api/health", self._health),
        ]

    def intercept(self, request: Request) -> Response | None:
        if request.url.path == "/api/health":  # unauthenticated in Grafana too
            return None
        if request.headers.get("authorization", "") != f"Bearer {self.token}":
            return JSONResponse({"message": "Unauthorized"}, 401)
        return None

    async def _health(self, _request: Request) -> Response:
        return JSONResponse({"database": "ok", "version": "11.3.0"})

    async def _search(self, request: Request) -> Response:
        """Title substring (case-insensitive), every `tag` given, `type`; sorted by title as Grafana does."""
        params = request.query_params
        query, tags, kind = params.get("query", "").lower(), params.getlist("tag"), params.get("type", "dash-db")
        found = [d for d in self.dashboards.values()
                 if query in d.get("title", "").lower() and all(t in d.get("tags", []) for t in tags)]
        hits = [self._hit(d) for d in sorted(found, key=lambda d: d.get("title", "").lower())]
        limit = int(params.get("limit", "1000"))
        return JSONResponse([h for h in hits if h["type"] == kind][:limit] if kind != "dash-folder" else [])

    def _hit(self, dashboard: dict[str, Any]) -> dict[str, Any]:
        slug = _slug(dashboard.get("title", ""))
        return {"id": dashboard["id"], "uid": dashboard["uid"], "title": dashboard.get("title", ""),
                "uri": f"db/{slug}", "url": f"/d/{dashboard['uid']}/{slug}", "slug": "", "type": "dash-db",
                "tags": dashboard.get("tags", []), "isStarred": False, "sortMeta": 0}

    async def _dashboard(self, request: Request) -> Response:
        dashboard = self.dashboards.get(request.path_params["uid"])
        if dashboard is None:
            return JSONResponse({"message": "Dashboard not found"}, 404)
        slug = _slug(dashboard.get("title", ""))
        meta = {"type": "db", "canSave": True, "canEdit": True, "canStar": True, "slug": slug,
                "url": f"/d/{dashboard['uid']}/{slug}", "folderId": 0, "folderTitle": "General", "version": 1}
        return JSONResponse({"dashboard": dashboard, "meta": meta})

    async def _datasources(self, _request: Request) -> Response:
        return JSONResponse(self.datasources)

    async def _proxy(self, request: Request) -> Response:
        """GET only, as the fake is a read-only Grafana; other methods get Grafana's 403."""
        source = next((d for d in self.datasources if d.get("uid") == request.path_params["uid"]), None)
        if source is None:
            return JSONResponse({"message": "Unable to find datasource"}, 404)
        if request.method != "GET":
            return JSONResponse({"message": "non allow-listed POSTs not allowed on proxied Prometheus datasource"},
                                403)
        upstream = self.prometheus_url or source.get("url")
        if not upstream:
            return JSONResponse({"message": "Datasource has no URL"}, 502)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _NOT_FORWARDED}
        url = f"{upstream.rstrip('/')}/{request.path_params['path']}"
        try:
            async with httpx.AsyncClient(timeout=30) as client:
                answer = await client.get(url, params=list(request.query_params.multi_items()), headers=headers)
        except httpx.TransportError:
            return JSONResponse({"message": "Bad Gateway"}, 502)
        kept = {k: v for k, v in answer.headers.items() if k.lower() == "content-type"}
        return Response(answer.content, answer.status_code, headers=kept)
