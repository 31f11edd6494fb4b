"""The resources beyond Deployments, Pods and Nodes, as the API lists them at the snapshot: ConfigMaps and Secrets
(with `managedFields` saying who wrote them when), Services, StatefulSets and their volume claims, Jobs and
CronJobs, HorizontalPodAutoscalers, Namespaces; the pods StatefulSets and Jobs run; and the events their
controllers record."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from tests.scenarios.meta import hexdigest, meta, uid
from tests.scenarios.model import (
    ConfigSpec,
    CronJobSpec,
    EventSpec,
    HpaSpec,
    JobSpec,
    ObjectRef,
    OwnerSpec,
    PodSpec,
    Scenario,
    ServiceSpec,
    StatefulSetSpec,
    iso,
)

Obj = dict[str, Any]


def _ns(s: Scenario, namespace: str | None) -> str:
    return namespace or s.kubernetes.namespace


def _owner(s: Scenario, kind: str, api_version: str, namespace: str, name: str) -> Obj:
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": uid(s, kind, namespace, name),
            "controller": True, "blockOwnerDeletion": True}


# --- ConfigMaps and Secrets ---------------------------------------------------------------------------------


def _data_as_of(c: ConfigSpec, at: datetime) -> tuple[dict[str, str], list[tuple[datetime, str, str]]]:
    """The data after the last edit up to `at`, and (time, manager, operation) of each manager's latest write."""
    data, writes = dict(c.data), {c.manager: (c.created, c.manager, "Apply" if c.manager == "helm" else "Update")}
    for edit in c.edits:
        if edit.at <= at:
            data = dict(edit.data)
            writes[edit.manager] = (edit.at, edit.manager, edit.operation)
    return data, sorted(writes.values())


def _managed_fields(data: dict[str, str], writes: list[tuple[datetime, str, str]], field: str) -> list[Obj]:
    keys = {f"f:{k}": {} for k in data}
    return [{"manager": manager, "operation": operation, "apiVersion": "v1", "time": iso(at), "fieldsType": "FieldsV1",
             "fieldsV1": {f"f:{field}": keys}} for at, manager, operation in writes]


def _config(s: Scenario, c: ConfigSpec, kind: str) -> Obj:
    namespace = _ns(s, c.namespace)
    data, writes = _data_as_of(c, s.snapshot_at)
    metadata = meta(s, kind, c.name, namespace, c.created, dict(c.labels), dict(c.annotations))
    metadata["managedFields"] = _managed_fields(data, writes, "data")
    metadata["resourceVersion"] = str(int(writes[-1][0].timestamp()) % 10_000_000 + 1000)
    if kind == "Secret":
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": c.type, "data": encoded}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


# --- Services, StatefulSets, volume claims ------------------------------------------------------------------


def _service(s: Scenario, svc: ServiceSpec) -> Obj:
    namespace = _ns(s, svc.namespace)
    created = s.window.start - timedelta(days=200)
    spec: Obj = {"type": svc.type}
    if svc.type == "ExternalName":
        spec["externalName"] = svc.external_name
    else:
        octets = hexdigest(s, "service", namespace, svc.name, length=4)
        ip = f"172.20.{int(octets[:2], 16)}.{int(octets[2:], 16) or 1}"
        spec.update({"selector": svc.selector, "clusterIP": ip, "clusterIPs": [ip], "ipFamilies": ["IPv4"],
                     "ports": [{"name": "http", "port": svc.port, "targetPort": svc.target_port, "protocol": "TCP"}],
                     "sessionAffinity": "None"})
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta(s, "Service", svc.name, namespace, created,
                                                                    svc.labels or {"app": svc.name}),
            "spec": spec, "status": {"loadBalancer": {}}}


def _sts_labels(st: StatefulSetSpec) -> dict[str, str]:
    return {"app": st.name, **st.labels}


def _statefulset(s: Scenario, st: StatefulSetSpec) -> Obj:
    namespace = _ns(s, st.namespace)
    labels = _sts_labels(st)
    container = {"name": st.container or st.name, "image": st.image,
                 "ports": [{"containerPort": st.port, "protocol": "TCP"}],
                 "volumeMounts": [{"name": st.volume, "mountPath": "/var/lib/data"}]}
    claim = {"metadata": {"name": st.volume}, "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "gp3",
                                                      "resources": {"requests": {"storage": st.storage}}}}
    revision = f"{st.name}-{st.revision_hash}"
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": meta(s, "StatefulSet", st.name, namespace, st.created, labels),
            "spec": {"replicas": st.replicas, "serviceName": st.name, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
                     "volumeClaimTemplates": [claim], "podManagementPolicy": "OrderedReady",
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}},
            "status": {"replicas": st.replicas, "readyReplicas": st.replicas, "currentReplicas": st.replicas,
                       "updatedReplicas": st.replicas, "currentRevision": revision, "updateRevision": revision,
                       "observedGeneration": 1, "availableReplicas": st.replicas}}


def _claims(s: Scenario, st: StatefulSetSpec) -> Iterator[Obj]:
    namespace = _ns(s, st.namespace)
    for i in range(st.replicas):
        name = f"{st.volume}-{st.name}-{i}"
        yield {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
               "metadata": meta(s, "PersistentVolumeClaim", name, namespace, st.created, _sts_labels(st)),
               "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "gp3", "volumeMode": "Filesystem",
                        "resources": {"requests": {"storage": st.storage}},
                        "volumeName": f"pvc-{uid(s, 'pv', namespace, name)}"},
               "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": st.storage}}}


def statefulset_pods(s: Scenario, st: StatefulSetSpec) -> Iterator[PodSpec]:
    nodes = st.nodes or [n.name for n in s.kubernetes.nodes] or ["node-1"]
    for i in range(st.replicas):
        name = f"{st.name}-{i}"
        yield PodSpec(name=name, namespace=st.namespace, node=nodes[i % len(nodes)], image=st.image,
                      started=st.created + timedelta(minutes=i), volumes=[f"{st.volume}-{st.name}-{i}"],
                      owner=OwnerSpec(kind="StatefulSet", name=st.name),
                      labels={**_sts_labels(st), "apps.kubernetes.io/pod-index": str(i),
                              "controller-revision-hash": f"{st.name}-{st.revision_hash}",
                              "statefulset.kubernetes.io/pod-name": name})


# --- Jobs and CronJobs ----------------------------------------------------------------------------------------


def _job_labels(s: Scenario, j: JobSpec) -> dict[str, str]:
    controller = uid(s, "Job", _ns(s, j.namespace), j.name)
    return {"batch.kubernetes.io/controller-uid": controller, "batch.kubernetes.io/job-name": j.name,
            "controller-uid": controller, "job-name": j.name, **j.labels}


def _finished(s: Scenario, j: JobSpec) -> bool:
    return j.finished is not None and j.finished <= s.snapshot_at


def _job(s: Scenario, j: JobSpec) -> Obj:
    namespace = _ns(s, j.namespace)
    metadata = meta(s, "Job", j.name, namespace, j.started - timedelta(seconds=1), _job_labels(s, j),
                    dict(j.annotations))
    if j.cronjob:
        metadata["ownerReferences"] = [_owner(s, "CronJob", "batch/v1", namespace, j.cronjob)]
    container = {"name": j.labels.get("app", j.cronjob or j.name), "image": j.image, "command": j.command}
    status: Obj = {"startTime": iso(j.started), "active": 0 if _finished(s, j) else 1, "ready": 0}
    if _finished(s, j) and j.finished is not None:
        kind = "Failed" if j.failed else "Complete"
        status["conditions"] = [{"type": kind, "status": "True", "lastProbeTime": iso(j.finished),
                                 "lastTransitionTime": iso(j.finished),
                                 **({"reason": "BackoffLimitExceeded",
                                     "message": "Job has reached the specified backoff limit"} if j.failed else {})}]
        status["failed" if j.failed else "succeeded"] = 1
        if not j.failed:
            status["completionTime"] = iso(j.finished)
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata,
            "spec": {"parallelism": 1, "completions": 1, "backoffLimit": 0 if j.failed else 6,
                     "completionMode": "NonIndexed", "suspend": False,
                     "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid":
                                                  _job_labels(s, j)["controller-uid"]}},
                     "template": {"metadata": {"labels": _job_labels(s, j)},
                                  "spec": {"containers": [container], "restartPolicy": "Never"}}},
            "status": status}


def job_pods(s: Scenario, j: JobSpec) -> Iterator[PodSpec]:
    done = _finished(s, j)
    phase = ("Failed" if j.failed else "Succeeded") if done else "Running"
    yield PodSpec(name=f"{j.name}-{j.pod_suffix}", namespace=j.namespace, node=j.node, image=j.image,
                  started=j.started + timedelta(seconds=4), ended=j.finished,
                  owner=OwnerSpec(kind="Job", name=j.name, api_version="batch/v1"), phase=phase,
                  ready=not done, labels={"app": j.labels.get("app", j.cronjob or j.name), **_job_labels(s, j)})


def _cronjob(s: Scenario, c: CronJobSpec) -> Obj:
    namespace = _ns(s, c.namespace)
    runs = [j for j in s.kubernetes.jobs if j.cronjob == c.name and j.started <= s.snapshot_at]
    status: Obj = {}
    if runs:
        last = max(runs, key=lambda j: j.started)
        status["lastScheduleTime"] = iso(last.started - timedelta(seconds=1))
        ok = [j for j in runs if _finished(s, j) and not j.failed]
        if ok:
            status["lastSuccessfulTime"] = iso(max(j.finished for j in ok if j.finished))
        active = [j for j in runs if not _finished(s, j)]
        if active:
            status["active"] = [{"kind": "Job", "namespace": namespace, "name": j.name, "apiVersion": "batch/v1",
                                 "uid": uid(s, "Job", namespace, j.name)} for j in active]
    container = {"name": c.labels.get("app", c.name), "image": c.image, "command": c.command}
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": meta(s, "CronJob", c.name, namespace, c.created, dict(c.labels)),
            "spec": {"schedule": c.schedule, "concurrencyPolicy": "Forbid", "suspend": c.suspend,
                     "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
                     "jobTemplate": {"spec": {"template": {"spec": {"containers": [container],
                                                                    "restartPolicy": "OnFailure"}}}}},
            "status": status}


# --- HorizontalPodAutoscalers -----------------------------------------------------------------------------


def _replicas_at(h: HpaSpec, at: datetime) -> tuple[int, datetime]:
    """Current replicas at `at` and since when."""
    current, since = h.history[0].replicas, h.created
    for point in h.history:
        if point.at <= at:
            current, since = point.replicas, point.at
    return current, since


def _hpa(s: Scenario, h: HpaSpec) -> Obj:
    namespace = _ns(s, h.namespace)
    current, since = _replicas_at(h, s.snapshot_at)
    at_max = current >= h.max_replicas
    limited = {"type": "ScalingLimited", "status": "True" if at_max else "False",
               "reason": "TooManyReplicas" if at_max else "DesiredWithinRange",
               "message": "the desired replica count is more than the maximum replica count" if at_max
               else "the desired count is within the acceptable range", "lastTransitionTime": iso(since)}
    conditions = [
        {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale",
         "message": "recommended size matches current size", "lastTransitionTime": iso(h.created)},
        {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound",
         "message": "the HPA was able to successfully calculate a replica count from cpu resource utilization "
                    "(percentage of request)", "lastTransitionTime": iso(h.created)},
        limited,
    ]
    utilization = h.cpu_utilization + (58 if at_max else -12)
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": meta(s, "HorizontalPodAutoscaler", h.name, namespace, h.created, {"app": h.target}),
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": h.target},
                     "minReplicas": h.min_replicas, "maxReplicas": h.max_replicas,
                     "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                         "type": "Utilization", "averageUtilization": h.cpu_utilization}}}]},
            "status": {"currentReplicas": current, "desiredReplicas": current, "lastScaleTime": iso(since),
                       "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {
                           "averageUtilization": utilization}}}], "conditions": conditions}}


# --- namespaces and the lot ---------------------------------------------------------------------------------


def namespaces(s: Scenario, objects: dict[str, list[Obj]]) -> list[Obj]:
    names = {o["metadata"]["namespace"] for items in objects.values() for o in items if "namespace" in o["metadata"]}
    created = s.window.start - timedelta(days=400)
    return [{"apiVersion": "v1", "kind": "Namespace",
             "metadata": meta(s, "Namespace", n, None, created, {"kubernetes.io/metadata.name": n}),
             "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}} for n in sorted(names)]


def resource_objects(s: Scenario) -> dict[str, list[Obj]]:
    k = s.kubernetes
    at = s.snapshot_at
    out = {
        "configmaps": [_config(s, c, "ConfigMap") for c in k.configmaps if c.created <= at],
        "secrets": [_config(s, c, "Secret") for c in k.secrets if c.created <= at],
        "services": [_service(s, svc) for svc in k.services],
        "statefulsets": [_statefulset(s, st) for st in k.statefulsets],
        "persistentvolumeclaims": [claim for st in k.statefulsets for claim in _claims(s, st)],
        "jobs": [_job(s, j) for j in k.jobs if j.started <= at],
        "cronjobs": [_cronjob(s, c) for c in k.cronjobs],
        "horizontalpodautoscalers": [_hpa(s, h) for h in k.hpas],
    }
    out.update({plural: list(items) for plural, items in k.custom.items()})
    return out


def resource_pods(s: Scenario) -> list[PodSpec]:
    return [*(p for st in s.kubernetes.statefulsets for p in statefulset_pods(s, st)),
            *(p for j in s.kubernetes.jobs for p in job_pods(s, j))]


def resource_events(s: Scenario) -> Iterator[EventSpec]:
    """What the job, cronjob and HPA controllers record on their own."""
    for j in s.kubernetes.jobs:
        ref = ObjectRef(kind="Job", name=j.name, namespace=j.namespace, api_version="batch/v1")
        if j.cronjob:
            yield EventSpec(at=j.started - timedelta(seconds=1), reason="SuccessfulCreate",
                            source="cronjob-controller", message=f"Created job {j.name}",
                            object=ObjectRef(kind="CronJob", name=j.cronjob, namespace=j.namespace,
                                             api_version="batch/v1"))
        yield EventSpec(at=j.started, reason="SuccessfulCreate", source="job-controller", object=ref,
                        message=f"Created pod: {j.name}-{j.pod_suffix}")
        if j.finished:
            if j.failed:
                yield EventSpec(at=j.finished, type="Warning", reason="BackoffLimitExceeded", source="job-controller",
                                object=ref, message="Job has reached the specified backoff limit")
            else:
                yield EventSpec(at=j.finished, reason="Completed", source="job-controller", object=ref,
                                message="Job completed")
    for h in s.kubernetes.hpas:
        ref = ObjectRef(kind="HorizontalPodAutoscaler", name=h.name, namespace=h.namespace,
                        api_version="autoscaling/v2")
        previous = h.history[0].replicas
        for point in h.history[1:]:
            if point.replicas != previous:
                direction = "above" if point.replicas > previous else "below"
                yield EventSpec(at=point.at, reason="SuccessfulRescale", source="horizontal-pod-autoscaler",
                                object=ref, message=f"New size: {point.replicas}; reason: cpu resource utilization "
                                                    f"(percentage of request) {direction} target")
            previous = point.replicas
