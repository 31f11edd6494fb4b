"""The read-only tools agents may use, built from the service's settings.

Credentials are injected here, from the environment, and never pass through a model or a prompt. A tool whose
URL or key is unset is reported unavailable with the variable that would enable it.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from pydantic import BaseModel

from agents.base import AgentSettings
from app.config import Service
from app.integrations.datadog import DatadogLogsClient
from app.integrations.grafana import GrafanaClient
from app.integrations.kubernetes import KubernetesClient
from app.integrations.logs import DatadogLogs, LogSource, LokiLogs, PodLogs
from app.integrations.loki import LokiClient
from app.integrations.prometheus import PrometheusClient
from app.integrations.telemetry import ToolFailed


class ToolStatus(BaseModel):
    name: str
    available: bool
    detail: str  # the URL it reads, or what would enable it, or why it failed


class Toolbox:
    """One per agent run; `aclose()` releases the HTTP clients."""

    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings
        self.grafana = (GrafanaClient(settings.grafana_url, settings.grafana_token.get_secret_value())
                        if settings.grafana_url and settings.grafana_token else None)
        self.loki = LokiClient(settings.loki_url) if settings.loki_url else None
        self.datadog = (DatadogLogsClient(settings.datadog_api_url, settings.datadog_api_key.get_secret_value(),
                                          settings.datadog_app_key.get_secret_value())
                        if settings.datadog_api_key and settings.datadog_app_key else None)
        self.failures: dict[str, str] = {}
        self.kubernetes = self._kubernetes(settings.kubeconfig)
        self._prometheus = PrometheusClient(settings.prometheus_url) if settings.prometheus_url else None
        self._prometheus_resolved = self._prometheus is not None or self.grafana is None

    def _kubernetes(self, kubeconfig: Path | None) -> KubernetesClient | None:
        """A kubeconfig that exists but can't be used makes Kubernetes unavailable, not the analysis fail."""
        if kubeconfig is None or not Path(kubeconfig).exists():
            return None
        try:
            return KubernetesClient(kubeconfig)
        except ToolFailed as failed:
            self.failures["kubernetes"] = str(failed)
            return None

    async def prometheus(self) -> PrometheusClient | None:
        """Prometheus directly, else through Grafana's datasource proxy (GRAFANA_URL and GRAFANA_TOKEN)."""
        if not self._prometheus_resolved and self.grafana is not None:
            self._prometheus_resolved = True
            try:
                uid = await self.grafana.prometheus_datasource_uid()
            except ToolFailed as failed:
                self.failures["prometheus"] = str(failed)
                uid = None
            if uid:
                token = self.settings.grafana_token.get_secret_value() if self.settings.grafana_token else ""
                self._prometheus = PrometheusClient.through_grafana(self.settings.grafana_url or "", token, uid)
        return self._prometheus

    def log_source(self, service: Service) -> LogSource | None:
        """Where the service's logs are read: Loki, else Datadog, else its pods' own logs."""
        seen = service.observability
        if self.loki is not None:
            return LokiLogs(self.loki, seen.loki_selector)
        if self.datadog is not None:
            return DatadogLogs(self.datadog, seen.datadog_query)
        if self.kubernetes is not None and seen.namespace:
            return PodLogs(self.kubernetes, seen.namespace, seen.pod_selector)
        return None

    def statuses(self) -> list[ToolStatus]:
        s = self.settings
        via_grafana = s.prometheus_url is None and self.grafana is not None
        rows = [  # URLs without any user:password they may carry
            ("prometheus", self._prometheus is not None or via_grafana,
             _public(s.prometheus_url) or ("through Grafana's datasource proxy" if via_grafana
                                           else "set PROMETHEUS_URL")),
            ("grafana", self.grafana is not None,
             _public(s.grafana_url) if self.grafana else "set GRAFANA_URL and GRAFANA_TOKEN"),
            ("loki", self.loki is not None, _public(s.loki_url) or "set LOKI_URL"),
            ("datadog", self.datadog is not None,
             _public(s.datadog_api_url) if self.datadog else "set DATADOG_API_KEY and DATADOG_APP_KEY"),
            ("kubernetes", self.kubernetes is not None,
             str(s.kubeconfig) if self.kubernetes else (f"{s.kubeconfig} not found" if s.kubeconfig
                                                        else "set KUBECONFIG")),
        ]
        return [ToolStatus(name=name, available=ok and name not in self.failures,
                           detail=self.failures.get(name, detail or "")) for name, ok, detail in rows]

    def failed(self, tool: str, error: Exception) -> None:
        """Remember a configured tool's failure, to say so in the result (first failure wins)."""
        self.failures.setdefault(tool, str(error))

    async def aclose(self) -> None:
        for client in (self._prometheus, self.grafana, self.loki, self.datadog, self.kubernetes):
            if client is not None:
                await client.aclose()


def _public(url: str | None) -> str | None:
    return str(httpx.URL(url).copy_with(userinfo=b"")) if url else None
