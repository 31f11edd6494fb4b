"""Read-only Grafana HTTP API client: find dashboards, read their panels' queries, find the Prometheus datasource.

A dashboard tells an investigation which queries a team already trusts for a service; the datasource uid lets
`PrometheusClient.through_grafana` run PromQL when Prometheus itself is only reachable through Grafana.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel, Field

from app.integrations.http import ApiClient, client, json_object, redact, unreachable
from app.integrations.telemetry import ToolFailed

NAME = "Grafana"


class DashboardRef(BaseModel):
    uid: str
    title: str
    tags: list[str] = Field(default_factory=list)
    url: str  # absolute, to link from Slack


class Panel(BaseModel):
    title: str
    datasource_uid: str | None = None
    datasource_type: str | None = None
    queries: list[str] = Field(default_factory=list)  # each target's `expr` (PromQL or LogQL)


class Dashboard(BaseModel):
    uid: str
    title: str
    tags: list[str] = Field(default_factory=list)
    panels: list[Panel] = Field(default_factory=list)


class GrafanaClient(ApiClient):
    """Bearer-token client (a service account token or API key)."""

    def __init__(self, base_url: str, token: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._token = token
        self._http = client(self.base_url, {"Authorization": f"Bearer {token}"}, timeout)


    async def search_dashboards(self, query: str = "", tag: str | None = None) -> list[DashboardRef]:
        """Dashboards whose title contains `query` (and carrying `tag`), as Grafana's search ranks them."""
        params = {"type": "dash-db", "query": query, **({"tag": tag} if tag else {})}
        hits = await self._get("/api/search", params)
        return [
            DashboardRef(uid=hit["uid"], title=hit.get("title", ""), tags=hit.get("tags") or [],
                         url=self._absolute(hit.get("url") or f"/d/{hit['uid']}"))
            for hit in hits if hit.get("type", "dash-db") == "dash-db"
        ]

    async def dashboard(self, uid: str) -> Dashboard:
        """One dashboard's panels and their queries, panels inside rows included."""
        body = await self._get(f"/api/dashboards/uid/{uid}", {})
        model = body.get("dashboard") or {}
        return Dashboard(uid=model.get("uid", uid), title=model.get("title", ""), tags=model.get("tags") or [],
                         panels=[_panel(p) for p in _leaf_panels(model)])

    async def prometheus_datasource_uid(self) -> str | None:
        """The default Prometheus datasource, else the first one; None when Grafana has none."""
        sources = [s for s in await self._get("/api/datasources", {}) if s.get("type") == "prometheus"]
        chosen = next((s for s in sources if s.get("isDefault")), sources[0] if sources else None)
        return chosen.get("uid") if chosen else None

    async def _get(self, path: str, params: dict[str, str]) -> Any:
        try:
            response = await self._http.get(path, params=params)
        except httpx.TransportError as exc:
            raise unreachable(NAME, self.base_url, exc, self.timeout) from exc
        if response.is_success:
            return response.json()
        message = json_object(response).get("message") or " ".join(response.text.split())[:200] or "no message"
        secrets = [f"Bearer {self._token}", self._token] if self._token else []
        raise ToolFailed(redact(f"{NAME}: {message} (HTTP {response.status_code})", secrets))

    def _absolute(self, url: str) -> str:
        return url if url.startswith(("http://", "https://")) else f"{self.base_url}{url}"


def _leaf_panels(model: dict[str, Any]) -> list[dict[str, Any]]:
    """Panels in layout order. A row lists its panels under `panels` when collapsed; pre-5.0 dashboards keep
    them under `rows[].panels`. Rows themselves hold no queries and are left out."""
    found: list[dict[str, Any]] = []
    for panel in model.get("panels") or []:
        if panel.get("type") == "row":
            found.extend(panel.get("panels") or [])
        else:
            found.append(panel)
    for row in model.get("rows") or []:
        found.extend(row.get("panels") or [])
    return found


def _panel(panel: dict[str, Any]) -> Panel:
    """The panel's datasource, or (for "-- Mixed --" panels or ones without one) its first target's."""
    targets = [t for t in panel.get("targets") or [] if isinstance(t, dict)]
    candidates = [panel.get("datasource"), *(t.get("datasource") for t in targets)]
    refs = [c for c in candidates if isinstance(c, dict) and c.get("uid") not in (None, "", "-- Mixed --")]
    source = refs[0] if refs else {}
    return Panel(title=panel.get("title") or "", datasource_uid=source.get("uid"),
                 datasource_type=source.get("type"), queries=[t["expr"] for t in targets if t.get("expr")])
