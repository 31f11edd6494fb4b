"""Read-only Prometheus HTTP API client: instant and range queries, parsed into `Series`.

It talks to Prometheus directly or through Grafana's datasource proxy (`through_grafana`), which forwards
the same `/api/v1/...` paths to the datasource with Grafana's own authentication.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from app.integrations.http import ApiClient, client, json_object, redact, secrets_in, unreachable
from app.integrations.telemetry import Sample, Series, ToolFailed, aware

NAME = "Prometheus"


class PrometheusClient(ApiClient):
    """Runs PromQL. Every returned `Series` carries the PromQL that produced it."""

    def __init__(self, base_url: str, *, headers: dict[str, str] | None = None, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._secrets = secrets_in(headers or {})
        self._http = client(self.base_url, headers, timeout)

    @classmethod
    def through_grafana(
        cls, grafana_url: str, token: str, datasource_uid: str, *, timeout: float = 10.0
    ) -> PrometheusClient:
        """The same client, reaching Prometheus through Grafana's datasource proxy with a Grafana token."""
        base = f"{grafana_url.rstrip('/')}/api/datasources/proxy/uid/{datasource_uid}"
        return cls(base, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)


    async def query(self, promql: str, at: datetime) -> list[Series]:
        """Evaluate `promql` at one instant (GET /api/v1/query)."""
        data = await self._get("/api/v1/query", {"query": promql, "time": _unix(at)})
        return parse_result(data, promql)

    async def query_range(self, promql: str, start: datetime, end: datetime, step_seconds: float) -> list[Series]:
        """Evaluate `promql` every `step_seconds` from `start` to `end` (GET /api/v1/query_range)."""
        params = {"query": promql, "start": _unix(start), "end": _unix(end), "step": step_seconds}
        data = await self._get("/api/v1/query_range", params)
        return parse_result(data, promql)

    async def series(self, matchers: list[str], start: datetime, end: datetime) -> list[dict[str, str]]:
        """The label sets of every series any of `matchers` selects in [start, end] (GET /api/v1/series)."""
        params = {"match[]": matchers, "start": _unix(start), "end": _unix(end)}
        data = await self._get("/api/v1/series", params)
        return [{str(k): str(v) for k, v in item.items()} for item in data if isinstance(item, dict)]

    async def metadata(self) -> dict[str, str]:
        """Metric name -> type (counter, gauge, histogram, summary...) from the scrape targets' metadata.
        Empty when nothing is scraped (remote-written or backfilled data): callers fall back to name conventions."""
        data = await self._get("/api/v1/metadata", {})
        return {name: str(entries[0].get("type") or "") for name, entries in data.items()
                if isinstance(entries, list) and entries and isinstance(entries[0], dict)}

    async def alerts(self) -> list[dict[str, Any]]:
        """The alerts the server's rules hold now (GET /api/v1/alerts): labels, annotations, state, activeAt."""
        data = await self._get("/api/v1/alerts", {})
        return [a for a in data.get("alerts") or [] if isinstance(a, dict)]

    async def _get(self, path: str, params: dict[str, Any]) -> Any:
        """The `data` member of a successful answer; any failure becomes a one-line ToolFailed."""
        try:
            response = await self._http.get(path, params=params)
        except httpx.TransportError as exc:
            raise unreachable(NAME, self.base_url, exc, self.timeout) from exc
        body = json_object(response)
        if response.is_success and body.get("status") == "success":
            data = body.get("data")
            return data if isinstance(data, list | dict) else {}
        raise ToolFailed(redact(f"{NAME}: {_error_text(response, body)}", self._secrets))


def parse_result(data: dict[str, Any], promql: str) -> list[Series]:
    """Vector, matrix and scalar results as `Series`; native-histogram samples (no float value) are skipped."""
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        return [Series(metric="", samples=[_sample(result)], query=promql)]
    if kind == "vector":
        return [_series(item, [item["value"]] if "value" in item else [], promql) for item in result or []]
    if kind == "matrix":
        return [_series(item, item.get("values", []), promql) for item in result or []]
    raise ToolFailed(f"{NAME}: unsupported result type {kind!r} for {promql}")


def _series(item: dict[str, Any], values: list[list[Any]], promql: str) -> Series:
    labels = {str(k): str(v) for k, v in (item.get("metric") or {}).items()}
    metric = labels.pop("__name__", "")
    return Series(metric=metric, labels=labels, samples=[_sample(v) for v in values], query=promql)


def _sample(pair: list[Any]) -> Sample:
    """`[<unix seconds>, "<value>"]`; values are strings so that NaN and ±Inf survive JSON."""
    return Sample(at=datetime.fromtimestamp(float(pair[0]), UTC), value=float(pair[1]))


def _error_text(response: httpx.Response, body: dict[str, Any]) -> str:
    """Prometheus's `errorType: error`, Grafana's proxy `message`, or the start of whatever else came back."""
    if body.get("error"):
        return f"{body.get('errorType') or 'error'}: {body['error']}"
    if body.get("message"):
        return f"{body['message']} (HTTP {response.status_code})"
    text = " ".join(response.text.split())[:200]
    return f"HTTP {response.status_code}" + (f": {text}" if text else "")


def _unix(at: datetime) -> float:
    """Seconds since the epoch; a naive datetime is taken as UTC."""
    return aware(at).timestamp()
