"""The scenario data is realistic and valid: every generated scenario (train and held-out) backfills into a real
Prometheus that answers for every series, its objects are ones the official Kubernetes client reads, with valid
names from Kubernetes' alphabets, its expected answer names things that exist, it has changes to rule out, and
the generator gives the same bytes every run. The fakes' documented errors reach the real clients as the real
APIs send them. The legacy hand-written scenarios still load and deserialize for the tests that use them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import kubernetes
import pytest
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from tests.fakes.kubernetes import FakeKubernetes
from tests.fakes.loki import FakeLoki
from tests.prometheus import RunningPrometheus
from tests.scenarios.generator.spec import CAUSE_KINDS
from tests.scenarios.harness import hanging_endpoint, heldout_scenarios, shared_prometheus, train_scenarios
from tests.scenarios.loader import (
    CAUSES,
    Scenario,
    kubernetes_objects,
    load,
    load_spec,
    log_entries,
    log_records,
    openmetrics,
    pod_logs,
    scenario_names,
    series,
)

TRAIN, HELDOUT, LEGACY = train_scenarios(), heldout_scenarios(), scenario_names()
GENERATED = TRAIN + HELDOUT
LOOKBACK = timedelta(hours=3)
DNS_1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
DNS_1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
SAFE = "bcdfghjklmnpqrstvwxz2456789"
MODELS = {"pods": "V1Pod", "deployments": "V1Deployment", "replicasets": "V1ReplicaSet", "nodes": "V1Node",
          "events": "CoreV1Event", "configmaps": "V1ConfigMap", "secrets": "V1Secret", "services": "V1Service",
          "statefulsets": "V1StatefulSet", "jobs": "V1Job", "cronjobs": "V1CronJob", "namespaces": "V1Namespace",
          "horizontalpodautoscalers": "V2HorizontalPodAutoscaler",
          "persistentvolumeclaims": "V1PersistentVolumeClaim"}


@functools.cache
def scenario(name: str) -> Scenario:
    return load(name)


@functools.cache
def objects(name: str) -> dict[str, list[dict[str, Any]]]:
    return kubernetes_objects(scenario(name))


@pytest.fixture(scope="session")
def k8s_client() -> Iterator[ApiClient]:
    client = ApiClient()
    yield client
    client.close()


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPrometheus]:
    """One Prometheus over every generated scenario, each on its own day."""
    with shared_prometheus(GENERATED, tmp_path_factory.mktemp("prometheus")) as running:
        yield running


# --- the sets -------------------------------------------------------------------------------------------------


def test_the_sets_are_large_varied_and_apart() -> None:
    specs = {n: load_spec(n) for n in GENERATED}
    assert len(TRAIN) >= 10 and not set(TRAIN) & set(HELDOUT)
    kinds = Counter(s.cause.kind for s in specs.values())
    assert len(kinds) >= 10, kinds
    assert all(s.expected.cause in CAUSES and s.cause.kind in CAUSE_KINDS for s in specs.values())
    days = [s.day for s in specs.values()] + [scenario(n).window.start.date() for n in LEGACY]
    assert len(days) == len(set(days)), "each scenario on its own day, so that one TSDB holds them all"
    conventions = {(s.conventions.scrape, s.conventions.logs, s.conventions.loki) for s in specs.values()}
    assert len(conventions) >= 4, conventions
    if HELDOUT:
        train_styles = {(specs[n].conventions.scrape, specs[n].conventions.loki) for n in TRAIN}
        assert any((specs[n].conventions.scrape, specs[n].conventions.loki) not in train_styles for n in HELDOUT)


@pytest.mark.parametrize("name", GENERATED)
def test_every_scenario_has_changes_to_rule_out_and_a_sound_window(name: str) -> None:
    spec, s = load_spec(name), scenario(name)
    assert spec.distractions and len(s.expected.ruled_out) >= len(spec.distractions)
    assert s.window.start <= s.incident.declared_at - LOOKBACK
    assert s.incident.declared_at < (s.incident.resolved_at or s.window.end) <= s.window.end
    assert s.window.start <= spec.at(spec.cause.at) < s.incident.declared_at, "the cause comes before the declaration"


@pytest.mark.parametrize("name", GENERATED)
def test_the_expected_answer_names_what_exists(name: str) -> None:
    s, found = scenario(name), objects(name)
    expected = s.expected
    names = {kind: {o["metadata"]["name"] for o in items} for kind, items in found.items()}
    workloads = names["deployments"] | names["statefulsets"] | names["cronjobs"] | names["jobs"] | names["nodes"]
    external = {c.removeprefix("external:") for svc in load_spec(name).services for c in svc.calls}
    assert expected.component in workloads | external, expected.component
    if expected.component_kind and expected.component_kind in ("Deployment", "StatefulSet", "CronJob", "Job", "Node"):
        plural = {"Deployment": "deployments", "StatefulSet": "statefulsets", "CronJob": "cronjobs", "Job": "jobs",
                  "Node": "nodes"}[expected.component_kind]
        assert expected.component in names[plural]
    trigger = expected.trigger
    if trigger and trigger.object:
        plural = {"Deployment": "deployments", "ConfigMap": "configmaps", "Secret": "secrets", "Job": "jobs",
                  "HorizontalPodAutoscaler": "horizontalpodautoscalers", "Node": "nodes",
                  "Application": "applications", "Certificate": "certificates"}[trigger.object.kind]
        matching = [o for o in found[plural] if o["metadata"]["name"] == trigger.object.name
                    and o["metadata"].get("namespace") in (None, trigger.object.namespace)]
        assert matching, f"{trigger.object} is not in the cluster"
        _trigger_values_are_in_the_objects(found, trigger)


def _trigger_values_are_in_the_objects(found: dict[str, list[dict[str, Any]]], trigger: Any) -> None:
    """An image or env change is in the Deployment's ReplicaSets; a ConfigMap key is in the ConfigMap."""
    if trigger.object.kind == "Deployment" and trigger.key:
        templates = [rs["spec"]["template"]["spec"]["containers"][0] for rs in found["replicasets"]
                     if rs["metadata"]["ownerReferences"][0]["name"] == trigger.object.name]
        if trigger.key == "image":
            images = {c["image"] for c in templates}
            assert {v for v in (trigger.old, trigger.new) if v} <= images, images
        elif trigger.key.startswith("env."):
            values = {e["value"] for c in templates for e in c.get("env", []) if e["name"] == trigger.key[4:]}
            assert {v for v in (trigger.old, trigger.new) if v} <= values, values
    if trigger.object.kind == "ConfigMap" and trigger.key:
        [config] = [c for c in found["configmaps"] if c["metadata"]["name"] == trigger.object.name]
        assert any(trigger.key in key or trigger.key in value for key, value in config["data"].items())


@pytest.mark.parametrize("name", GENERATED)
def test_names_are_valid_kubernetes_names(name: str) -> None:
    found = objects(name)
    for kind, items in found.items():
        for obj in items:
            assert DNS_1123_SUBDOMAIN.fullmatch(obj["metadata"]["name"]), (kind, obj["metadata"]["name"])
            assert len(obj["metadata"]["name"]) <= 253
    for rs in found["replicasets"]:
        template_hash = rs["metadata"]["labels"]["pod-template-hash"]
        assert set(template_hash) <= set(SAFE), template_hash
    owned = {rs["metadata"]["name"] for rs in found["replicasets"]}
    for pod in found["pods"]:
        [owner] = pod["metadata"]["ownerReferences"]
        if owner["kind"] == "ReplicaSet":
            assert owner["name"] in owned and pod["metadata"]["name"].startswith(owner["name"] + "-")
            suffix = pod["metadata"]["name"].removeprefix(owner["name"] + "-")
            assert len(suffix) == 5 and set(suffix) <= set(SAFE), pod["metadata"]["name"]
        for label in pod["metadata"]["labels"].values():
            assert len(label) <= 63


def test_the_generator_is_deterministic() -> None:
    """Each spec expands to the same scenario every time, and the smallest renders to the same bytes."""
    for name in GENERATED:
        assert load(name).model_dump_json() == scenario(name).model_dump_json()
    smallest = min(GENERATED, key=lambda n: len(scenario(n).metrics))
    first, second = load(smallest), load(smallest)
    assert hashlib.sha256(openmetrics(first).encode()).digest() == \
        hashlib.sha256(openmetrics(second).encode()).digest()
    assert [r.line for r in log_records(first)] == [r.line for r in log_records(second)]
    assert json.dumps(kubernetes_objects(first), sort_keys=True) == json.dumps(objects(smallest), sort_keys=True)


# --- served as the real servers serve it --------------------------------------------------------------------


@pytest.mark.parametrize("name", GENERATED)
def test_prometheus_holds_every_series(name: str, prometheus: RunningPrometheus) -> None:
    s = scenario(name)
    expected = Counter(d.name for d in series(s))
    span = int((s.window.end - s.window.start).total_seconds())
    with httpx.Client(base_url=prometheus.url, timeout=20) as http:
        def query(promql: str) -> list[dict[str, Any]]:
            body = http.get("/api/v1/query", params={"query": promql, "time": s.window.end.timestamp()}).json()
            assert body["status"] == "success", (promql, body)
            return body["data"]["result"]

        found = {r["metric"]["__name__"]: int(r["value"][1])
                 for r in query(f'count by (__name__) (last_over_time({{__name__=~".+"}}[{span}s]))')}
        assert found == dict(expected)
        for alert in load_spec(name).alerts:
            assert query(f'ALERTS{{alertname="{alert.name}",alertstate="firing"}}[{span}s]')


def test_prometheus_rejects_a_bad_query_as_bad_data(prometheus: RunningPrometheus) -> None:
    answer = httpx.get(f"{prometheus.url}/api/v1/query", params={"query": "rate(http_requests_total[5m]"})
    assert answer.status_code == 400 and answer.json()["errorType"] == "bad_data"


@pytest.mark.parametrize("name", GENERATED)
def test_kubernetes_objects_deserialize(name: str, k8s_client: ApiClient) -> None:
    s, found = scenario(name), objects(name)
    for resource, model in MODELS.items():
        for obj in found[resource]:
            parsed = k8s_client._ApiClient__deserialize(obj, model)  # type: ignore[attr-defined]
            assert parsed.metadata.name == obj["metadata"]["name"]
    snapshot = s.snapshot_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert all(e["lastTimestamp"] <= snapshot for e in found["events"])
    for item in found["configmaps"] + found["secrets"]:
        assert all(f["time"] <= snapshot for f in item["metadata"]["managedFields"])


@pytest.mark.parametrize("name", GENERATED)
def test_logs_are_ordered_and_parse_as_their_format(name: str) -> None:
    s = scenario(name)
    records = log_records(s)
    assert [r.at for r in records] == sorted(r.at for r in records)
    minutes = (s.window.end - s.window.start).total_seconds() / 60
    assert 10 <= len(records) / minutes <= 400, f"{len(records) / minutes:.0f} lines a minute"
    for r in records[:: max(1, len(records) // 500)]:
        fmt = s.logs.streams[r.stream].format
        if fmt in ("zap", "logstash", "structlog", "pino"):
            assert isinstance(json.loads(r.line.split("\n")[0] if fmt != "logstash" else r.line), dict)
        elif fmt == "logfmt":
            assert re.match(r'time=\S+ level=[A-Z]+ msg=', r.line), r.line
    entries = log_entries(s)
    assert len(entries) == len(records)
    for r, (_, _, line) in list(zip(records, entries, strict=True))[:: max(1, len(records) // 500)]:
        if s.logs.streams[r.stream].envelope == "otlp-json":  # the Collector's record, the line as its body
            assert json.loads(line)["body"] == r.line
    assert all(at <= s.snapshot_at for lines in pod_logs(s).values() for at, _ in lines)


@pytest.mark.parametrize("name", LEGACY)
def test_legacy_scenarios_still_load(name: str, k8s_client: ApiClient) -> None:
    for resource, items in kubernetes_objects(scenario(name)).items():
        for obj in items:
            k8s_client._ApiClient__deserialize(obj, MODELS[resource])  # type: ignore[attr-defined]


# --- the fakes' errors, through the real clients ------------------------------------------------------------


def _api(fake: FakeKubernetes, tmp_path: Path) -> ApiClient:
    config = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=str(fake.write_kubeconfig(tmp_path / "kubeconfig")),
                                       client_configuration=config)
    return ApiClient(config)


def test_a_forbidden_resource_answers_the_rbac_status(tmp_path: Path) -> None:
    name = GENERATED[0]
    with FakeKubernetes(objects(name), forbidden=["secrets"]) as fake, _api(fake, tmp_path) as api:
        core = kubernetes.client.CoreV1Api(api)
        with pytest.raises(ApiException) as refused:
            core.list_namespaced_secret(scenario(name).kubernetes.namespace)
        status = json.loads(refused.value.body)
        assert refused.value.status == 403 and status["kind"] == "Status" and status["reason"] == "Forbidden"
        namespace = scenario(name).kubernetes.namespace
        assert status["message"] == ('secrets is forbidden: User "system:serviceaccount:incidentbot:incidentbot" '
                                     f'cannot list resource "secrets" in API group "" in the namespace "{namespace}"')
        assert core.list_namespaced_config_map(namespace).items  # the rest is still readable


def test_every_resource_lists_at_its_real_path(tmp_path: Path) -> None:
    name = next(n for n in GENERATED if objects(n)["jobs"]) if any(objects(n)["jobs"] for n in GENERATED) \
        else GENERATED[0]
    found = objects(name)
    with FakeKubernetes(found) as fake, _api(fake, tmp_path) as api:
        assert len(kubernetes.client.AppsV1Api(api).list_deployment_for_all_namespaces().items) == \
            len(found["deployments"])
        assert len(kubernetes.client.BatchV1Api(api).list_job_for_all_namespaces().items) == len(found["jobs"])
        assert len(kubernetes.client.AutoscalingV2Api(api).list_horizontal_pod_autoscaler_for_all_namespaces()
                   .items) == len(found["horizontalpodautoscalers"])
        events = kubernetes.client.EventsV1Api(api).list_event_for_all_namespaces()
        assert len(events.items) == len(found["events"]) and all(e.regarding and e.note for e in events.items)
        warning = kubernetes.client.CoreV1Api(api).list_event_for_all_namespaces(field_selector="type=Warning")
        assert all(e.type == "Warning" for e in warning.items)
        groups = {g["name"] for g in httpx.get(f"{fake.url}/apis", headers={"Authorization": "Bearer test-token"})
                  .json()["groups"]}
        assert {"apps", "batch", "autoscaling", "events.k8s.io", "argoproj.io", "cert-manager.io"} <= groups


def test_a_hanging_tool_times_out_the_client() -> None:
    with hanging_endpoint() as url, pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{url}/api/v1/query", params={"query": "up"}, timeout=0.3)


def test_loki_parses_json_and_logfmt_lines_as_loki_does() -> None:
    name = next(n for n in GENERATED if load_spec(n).conventions.logs == "json")
    s = scenario(name)
    entries = log_entries(s)
    with FakeLoki(entries) as loki, httpx.Client(base_url=loki.url) as http:
        window = {"start": str(int(s.window.start.timestamp())), "end": str(int(s.window.end.timestamp())),
                  "limit": "5000"}
        key = "app" if "app" in entries[0][1] else "service_name"
        app = next(labels[key] for _, labels, line in entries if line.startswith('{"level":"error"'))
        query = f'{{{key}="{app}"}} | json | level="error" | __error__=""'
        result = http.get("/loki/api/v1/query_range", params={"query": query, **window}).json()["data"]["result"]
        assert result and all(stream["stream"]["level"] == "error" for stream in result)
        assert all("msg" in stream["stream"] for stream in result)  # extracted fields are labels


def test_loki_refuses_more_than_5000_entries_and_lists_labels() -> None:
    s = scenario(GENERATED[0])
    entries = log_entries(s)
    with FakeLoki(entries) as loki, httpx.Client(base_url=loki.url) as http:
        window = {"start": str(int(s.window.start.timestamp())), "end": str(int(s.window.end.timestamp()))}
        labels = http.get("/loki/api/v1/labels", params=window).json()["data"]
        first = entries[0][1]
        key = next(iter(first))
        assert set(first) <= set(labels)
        values = http.get(f"/loki/api/v1/label/{key}/values", params=window).json()["data"]
        assert first[key] in values
        too_many = http.get("/loki/api/v1/query_range",
                            params={"query": f'{{{key}="{first[key]}"}}', "limit": "5001", **window})
        assert too_many.status_code == 400
        assert too_many.text == "max entries limit per query exceeded, limit > max_entries_limit (5001 > 5000)"
