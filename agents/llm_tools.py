"""The read-only tools offered to the model in LLM mode, over the same clients the engines use.

Only configured tools are offered. Results are trimmed (series downsampled, lists capped) so one call cannot
blow the token budget; credentials stay inside the clients.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from agents.llm import Tool
from agents.toolbox import Toolbox
from app.integrations.telemetry import LogLine, Series

MAX_SERIES = 10
MAX_POINTS = 60
MAX_ITEMS = 100
Json = dict[str, Any]

_TIME = {"type": "string", "description": "RFC 3339 UTC time, e.g. 2024-12-20T14:30:00Z"}
_NAMESPACE = {"type": "string", "description": "Kubernetes namespace"}


def _capped(value: object, default: int = 50) -> int:
    """The model's limits are requests, not orders: never more than MAX_ITEMS."""
    try:
        return max(1, min(int(value), MAX_ITEMS)) if value is not None else default  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return default


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _series(found: list[Series]) -> list[Json]:
    out = []
    for series in found[:MAX_SERIES]:
        stride = max(1, len(series.samples) // MAX_POINTS)
        out.append({"labels": series.labels, "points": [[s.at.strftime("%H:%M:%S"), round(s.value, 4)]
                                                        for s in series.samples[::stride]]})
    return out


def _lines(found: list[LogLine], limit: int) -> list[Json]:
    return [{"at": line.at.isoformat(), "level": line.level, "message": line.message[:400]}
            for line in found[:min(limit, MAX_ITEMS)]]


def _tool(name: str, description: str, properties: Json, required: list[str],
          call: Callable[[Json], Awaitable[Any]]) -> Tool:
    return Tool(name=name, description=description, call=call,
                input_schema={"type": "object", "properties": properties, "required": required})


def read_tools(toolbox: Toolbox, records: list[Json]) -> list[Tool]:
    """Every read-only tool this deployment has, plus the incident's own timeline and transcript."""
    tools = [_tool("incident_timeline", "The incident's timeline entries and war-room messages (deploys, flag "
                   "changes, alerts people recorded).", {}, [], lambda _: _records(records))]
    if toolbox.settings.prometheus_url or toolbox.grafana:
        tools.append(_tool("prometheus_query_range", "Run a PromQL range query (read-only).",
                           {"query": {"type": "string"}, "start": _TIME, "end": _TIME,
                            "step_seconds": {"type": "number", "minimum": 15}},
                           ["query", "start", "end"], lambda a: _prometheus(toolbox, a)))
    if toolbox.grafana is not None:
        grafana = toolbox.grafana
        tools.append(_tool("grafana_dashboard_get", "Get a Grafana dashboard's panels and their queries.",
                           {"uid": {"type": "string"}}, ["uid"],
                           lambda a: _dump(grafana.dashboard(a["uid"]))))
    if toolbox.loki is not None:
        loki = toolbox.loki
        tools.append(_tool("loki_query", "Run a LogQL log query over a time range (read-only).",
                           {"logql": {"type": "string"}, "start": _TIME, "end": _TIME,
                            "limit": {"type": "integer", "maximum": MAX_ITEMS}}, ["logql", "start", "end"],
                           lambda a: _logs(loki.query_range(a["logql"], _time(a["start"]), _time(a["end"]),
                                                            limit=_capped(a.get("limit")), max_lines=MAX_ITEMS),
                                           _capped(a.get("limit")))))
    if toolbox.datadog is not None:
        datadog = toolbox.datadog
        tools.append(_tool("datadog_log_query", "Search Datadog logs (Datadog query syntax) over a time range.",
                           {"query": {"type": "string"}, "start": _TIME, "end": _TIME,
                            "limit": {"type": "integer", "maximum": MAX_ITEMS}}, ["query", "start", "end"],
                           lambda a: _logs(datadog.search(a["query"], _time(a["start"]), _time(a["end"]),
                                                          max_lines=MAX_ITEMS), _capped(a.get("limit")))))
    if toolbox.kubernetes is not None:
        tools.extend(_kubernetes_tools(toolbox))
    return tools


def _kubernetes_tools(toolbox: Toolbox) -> list[Tool]:
    k8s = toolbox.kubernetes
    assert k8s is not None
    return [
        _tool("kubectl_get_events", "Kubernetes events in a namespace (read-only).", {"namespace": _NAMESPACE},
              [], lambda a: _dump_list(k8s.events(a.get("namespace")))),
        _tool("kubectl_get_pods", "Pods in a namespace, optionally by label selector (read-only).",
              {"namespace": _NAMESPACE, "label_selector": {"type": "string"}}, ["namespace"],
              lambda a: _dump_list(k8s.pods(a["namespace"], a.get("label_selector")))),
        _tool("kubectl_rollout_history", "A deployment's rollout history (read-only).",
              {"namespace": _NAMESPACE, "deployment": {"type": "string"}}, ["namespace", "deployment"],
              lambda a: _dump_list(k8s.rollout_history(a["namespace"], a["deployment"]))),
        _tool("kubectl_logs", "The last lines of a pod's log (read-only).",
              {"namespace": _NAMESPACE, "pod": {"type": "string"},
               "tail_lines": {"type": "integer", "maximum": MAX_ITEMS}}, ["namespace", "pod"],
              lambda a: _logs(k8s.pod_logs(a["namespace"], a["pod"], tail_lines=_capped(a.get("tail_lines"))),
                              _capped(a.get("tail_lines")))),
    ]


async def _records(records: list[Json]) -> list[Json]:
    return records[-MAX_ITEMS:]


async def _prometheus(toolbox: Toolbox, a: Json) -> list[Json]:
    client = await toolbox.prometheus()
    if client is None:
        raise ValueError("Prometheus is not configured")
    return _series(await client.query_range(a["query"], _time(a["start"]), _time(a["end"]),
                                            float(a.get("step_seconds", 60))))


async def _logs(found: Awaitable[list[LogLine]], limit: int) -> list[Json]:
    return _lines(await found, limit)


async def _dump(found: Awaitable[Any]) -> Json:
    return (await found).model_dump(mode="json")


async def _dump_list(found: Awaitable[list[Any]]) -> list[Json]:
    return [item.model_dump(mode="json") for item in (await found)[:MAX_ITEMS]]
