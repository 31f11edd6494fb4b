"""Every incident scenario is well formed and servable: it loads, backfills into a real Prometheus that answers
for each of its metrics, its Kubernetes objects are ones the official client reads, and its logs are in order.

The RCA tests rely on these; a scenario that fails here would fail them for reasons unrelated to the engine.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes.client import ApiClient

from agents.rca.signals import DEFAULT_SIGNALS
from tests.prometheus import RunningPrometheus
from tests.scenarios.harness import prepare_tsdb
from tests.scenarios.loader import (
    CAUSES,
    Scenario,
    all_pods,
    datadog_logs,
    kubernetes_objects,
    listed,
    load,
    log_entries,
    log_records,
    pod_logs,
    scenario_names,
)

NAMES = scenario_names()
LOOKBACK = timedelta(hours=3)  # how far before the declaration the engine reads
MODELS = {"pods": "V1Pod", "deployments": "V1Deployment", "replicasets": "V1ReplicaSet", "nodes": "V1Node",
          "events": "CoreV1Event"}


@functools.cache
def scenario(name: str) -> Scenario:
    """Each scenario parsed once per session: its generated logs are cached on the object."""
    return load(name)


@pytest.fixture(scope="session")
def tsdb(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """A scenario's backfilled TSDB, built on first use and reused for the rest of the session."""
    root = tmp_path_factory.mktemp("tsdb")
    built: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in built:
            built[name] = prepare_tsdb(scenario(name), root / name)
        return built[name]

    return get


@pytest.fixture(scope="session")
def k8s_client() -> Iterator[ApiClient]:
    client = ApiClient()
    yield client
    client.close()


def test_there_are_enough_varied_scenarios() -> None:
    scenarios = [scenario(n) for n in NAMES]
    assert len(scenarios) >= 10
    assert len({s.expected.cause for s in scenarios}) >= 9
    assert {s.logs.backend for s in scenarios} == {"loki", "datadog"}
    assert len({s.window.start.date() for s in scenarios}) == len(scenarios), "each scenario on its own day"
    assert len({s.service for s in scenarios}) >= 6


@pytest.mark.parametrize("name", NAMES)
def test_scenario_is_consistent(name: str) -> None:
    s = scenario(name)
    assert s.expected.cause in CAUSES
    assert s.window.start <= s.incident.declared_at - LOOKBACK, "the window covers the engine's look-back"
    assert s.incident.declared_at < (s.incident.resolved_at or s.window.end) <= s.window.end
    assert all(s.window.start <= entry.at <= s.window.end for entry in s.timeline)
    own = [labels for spec in s.metrics for labels in spec.label_sets() if labels.get("service") == s.service]
    codes = {labels.get("code", "") for labels in own}
    assert any(c.startswith("2") for c in codes) and any(c.startswith("5") for c in codes), codes
    assert any(labels.get("quantile") == "0.99" for labels in own), "p99 latency of the service"
    _trigger_is_recorded(s)


def _trigger_is_recorded(s: Scenario) -> None:
    """The triggering change is somewhere an investigator could find it, before the declaration."""
    trigger = s.expected.trigger
    if trigger is None:
        return
    before = s.incident.declared_at
    if trigger.kind == "deploy":
        deployment = next(d for d in s.kubernetes.deployments if d.name == trigger.subject)
        assert any(s.window.start <= r.at < before for r in deployment.revisions)
    elif trigger.kind == "node":
        node = next(n for n in s.kubernetes.nodes if n.name == trigger.subject)
        assert any(c.at < before and c.status == "True" for c in node.conditions)
    else:
        notes = [e.text for e in s.timeline] + [r.change_cause or "" for d in s.kubernetes.deployments
                                                for r in d.revisions]
        assert any(trigger.subject in text for text in notes), f"{trigger.subject} is not mentioned anywhere"


@pytest.mark.parametrize("name", NAMES)
def test_prometheus_serves_every_metric(name: str, tsdb: Callable[[str], Path]) -> None:
    s = scenario(name)
    expected = Counter(spec.name for spec in s.metrics for _ in spec.label_sets())
    span = int((s.window.end - s.window.start).total_seconds())
    with RunningPrometheus(tsdb(name)) as prometheus, httpx.Client(base_url=prometheus.url, timeout=10) as http:
        def query(promql: str, at: float) -> list[dict[str, Any]]:
            body = http.get("/api/v1/query", params={"query": promql, "time": at}).json()
            assert body["status"] == "success", (promql, body)
            return body["data"]["result"]

        declared = s.incident.declared_at.timestamp()
        assert query(f'http_requests_total{{service="{s.service}"}}', declared), "requests at the incident time"
        for metric, count in expected.items():
            found = query(f"count(last_over_time({metric}[{span}s]))", s.window.end.timestamp())
            assert found and int(found[0]["value"][1]) == count, f"{metric}: {found} series, {count} defined"
        for signal in DEFAULT_SIGNALS:
            result = query(signal.promql(s.service), declared)
            if signal.name in ("error_ratio", "latency_p99", "request_rate"):
                assert result, f"{signal.name} has no data for {s.service}"


@pytest.mark.parametrize("name", NAMES)
def test_kubernetes_objects_deserialize(name: str, k8s_client: ApiClient) -> None:
    s = scenario(name)
    objects = kubernetes_objects(s)
    for resource, model in MODELS.items():
        for obj in objects[resource]:
            parsed = k8s_client._ApiClient__deserialize(obj, model)  # type: ignore[attr-defined]
            assert parsed.metadata.name == obj["metadata"]["name"]
    replicasets = {rs["metadata"]["name"] for rs in objects["replicasets"]}
    for pod in objects["pods"]:
        owners = [o["name"] for o in pod["metadata"].get("ownerReferences", []) if o["kind"] == "ReplicaSet"]
        assert set(owners) <= replicasets, f"{pod['metadata']['name']} is owned by a missing ReplicaSet"
    assert {d["metadata"]["name"] for d in objects["deployments"]} >= {
        t.subject for t in [s.expected.trigger] if t and t.kind == "deploy"}
    assert all(e["lastTimestamp"] <= s.snapshot_at.strftime("%Y-%m-%dT%H:%M:%SZ") for e in objects["events"])


@pytest.mark.parametrize("name", NAMES)
def test_logs_are_ordered_and_realistic(name: str) -> None:
    s = scenario(name)
    records = log_records(s)
    times = [r.at for r in records]
    assert times == sorted(times)
    assert s.window.start <= times[0] and times[-1] <= s.window.end
    minutes = (s.window.end - s.window.start).total_seconds() / 60
    assert 100 <= len(records) / minutes <= 800, f"{len(records) / minutes:.0f} lines a minute"
    levels = Counter(r.level for r in records if r.at < s.incident.declared_at - timedelta(minutes=60))
    assert levels["warn"] + levels["error"] > 0, "routine warnings before the incident"
    own = [r for r in records if s.logs.streams[r.stream].labels["service"] == s.service]
    assert own, "the service logs"
    view = log_entries(s) if s.logs.backend == "loki" else datadog_logs(s)
    assert len(view) == len(records)
    by_pod = pod_logs(s)
    assert set(by_pod) == {(p.namespace or s.kubernetes.namespace, p.name) for p in all_pods(s) if listed(s, p)}
    assert all(at <= s.snapshot_at for lines in by_pod.values() for at, _ in lines)
