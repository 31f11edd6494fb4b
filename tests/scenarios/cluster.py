"""Kubernetes: the objects the API would list at a scenario's snapshot time, as raw JSON, with the events the
controllers and the kubelet record on their own."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from tests.scenarios.meta import SUFFIX_ALPHABET as _SUFFIX_ALPHABET
from tests.scenarios.meta import hexdigest as _hex
from tests.scenarios.meta import meta as _meta
from tests.scenarios.meta import uid as _uid
from tests.scenarios.model import (
    DeploymentSpec,
    EventSpec,
    NodeSpec,
    ObjectRef,
    PodSpec,
    RevisionSpec,
    Scenario,
    Taint,
    iso,
    revision_of,
    seeded,
)
from tests.scenarios.resources import namespaces, resource_events, resource_objects, resource_pods


def pods_of(s: Scenario, workload: str) -> list[PodSpec]:
    """Every pod the workload (a Deployment, StatefulSet or Job) ran in the window, listed or generated."""
    return [p for p in all_pods(s) if p.deployment == workload or (p.owner is not None and p.owner.name == workload)]


def all_pods(s: Scenario) -> list[PodSpec]:
    """The listed pods, plus generated ones for deployments that list none: each revision's replicas, running
    from its rollout until the next one replaced them (those are deleted by the snapshot, their logs remain)."""
    with_pods = {p.deployment for p in s.kubernetes.pods if p.deployment}
    generated = []
    for d in s.kubernetes.deployments:
        if d.name not in with_pods and d.replicas > 0:
            generated.extend(_generated_pods(s, d))
    return [*s.kubernetes.pods, *generated, *resource_pods(s)]


def _generated_pods(s: Scenario, d: DeploymentSpec) -> Iterator[PodSpec]:
    rng = seeded(s.name, "pods", d.name)
    nodes = d.nodes or [n.name for n in s.kubernetes.nodes] or ["node-1"]
    for rev, following in itertools.zip_longest(d.revisions, d.revisions[1:]):
        replaced = following.at + timedelta(seconds=60) if following else None
        if replaced is not None and replaced < s.window.start:
            continue
        for i in range(d.replicas):
            suffix = "".join(rng.choices(_SUFFIX_ALPHABET, k=5))
            yield PodSpec(name=f"{d.name}-{rev.hash}-{suffix}", namespace=d.namespace, deployment=d.name,
                          revision=rev.revision, node=nodes[(i + rev.revision) % len(nodes)],
                          started=rev.at + timedelta(seconds=8 + 20 * i),
                          ended=replaced + timedelta(seconds=15 * i) if replaced else None,
                          deleted=replaced is not None)


def _deployment_labels(d: DeploymentSpec) -> dict[str, str]:
    return {"app": d.name, **d.labels}


def _container(d: DeploymentSpec, image: str, rev: RevisionSpec | None = None) -> dict[str, Any]:
    memory_limit = (rev.memory_limit if rev else None) or d.resources.memory_limit
    limits = {k: v for k, v in (("cpu", d.resources.cpu_limit), ("memory", memory_limit)) if v}
    container: dict[str, Any] = {
        "name": d.container or d.name, "image": image, "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": d.port, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": d.resources.cpu, "memory": d.resources.memory}, "limits": limits},
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}
    if rev and rev.env:
        container["env"] = [{"name": k, "value": v} for k, v in rev.env.items()]
    sources = [{"configMapRef": {"name": n}} for n in d.env_from] + [{"secretRef": {"name": n}} for n in d.secrets_from]
    if sources:
        container["envFrom"] = sources
    return container


def _template(d: DeploymentSpec, rev: RevisionSpec) -> dict[str, Any]:
    return {"metadata": {"labels": {**_deployment_labels(d), "pod-template-hash": rev.hash},
                         "annotations": dict(rev.template_annotations)},
            "spec": {"containers": [_container(d, rev.image, rev)], "restartPolicy": "Always",
                     "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                     "serviceAccountName": d.name, "schedulerName": "default-scheduler"}}


def _replicasets(s: Scenario, d: DeploymentSpec) -> list[dict[str, Any]]:
    """One ReplicaSet per pod template; a rollback reuses the old one, which takes the new revision number."""
    namespace = d.namespace or s.kubernetes.namespace
    owner = {"apiVersion": "apps/v1", "kind": "Deployment", "name": d.name, "uid": _uid(s, "Deployment", namespace,
                                                                                         d.name),
             "controller": True, "blockOwnerDeletion": True}
    latest = d.revisions[-1]
    out = []
    for hash_, revs in itertools.groupby(sorted(d.revisions, key=lambda r: (r.hash, r.revision)), key=lambda r: r.hash):
        group = list(revs)
        current = group[-1]
        annotations = {"deployment.kubernetes.io/desired-replicas": str(d.replicas),
                       "deployment.kubernetes.io/max-replicas": str(d.replicas + 1),
                       "deployment.kubernetes.io/revision": str(current.revision)}
        if len(group) > 1:
            annotations["deployment.kubernetes.io/revision-history"] = ",".join(str(r.revision) for r in group[:-1])
        if current.change_cause:
            annotations["kubernetes.io/change-cause"] = current.change_cause
        replicas = d.replicas if hash_ == latest.hash else 0
        meta = _meta(s, "ReplicaSet", f"{d.name}-{hash_}", namespace, group[0].at,
                     {**_deployment_labels(d), "pod-template-hash": hash_}, annotations)
        meta["ownerReferences"] = [owner]
        meta["generation"] = len(group) * 2
        selector = {"matchLabels": {**_deployment_labels(d), "pod-template-hash": hash_}}
        status = {"replicas": replicas, "fullyLabeledReplicas": replicas, "readyReplicas": replicas,
                  "availableReplicas": replicas, "observedGeneration": len(group) * 2}
        out.append({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta,
                    "spec": {"replicas": replicas, "selector": selector, "template": _template(d, current)},
                    "status": status})
    return sorted(out, key=lambda rs: rs["metadata"]["creationTimestamp"])


def _deployment(s: Scenario, d: DeploymentSpec) -> dict[str, Any]:
    namespace = d.namespace or s.kubernetes.namespace
    latest = d.revisions[-1]
    annotations = {"deployment.kubernetes.io/revision": str(latest.revision)}
    if latest.change_cause:
        annotations["kubernetes.io/change-cause"] = latest.change_cause
    meta = _meta(s, "Deployment", d.name, namespace, d.revisions[0].at - timedelta(days=90), _deployment_labels(d),
                 annotations)
    meta["generation"] = latest.revision + 3
    ready = sum(1 for p in pods_of(s, d.name) if listed(s, p) and p.ready and _running(s, p))
    replicas = d.replicas
    conditions = [
        {"type": "Available", "status": "True" if ready else "False", "reason": "MinimumReplicasAvailable",
         "message": "Deployment has minimum availability.", "lastUpdateTime": iso(latest.at),
         "lastTransitionTime": iso(d.revisions[0].at)},
        {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
         "message": f'ReplicaSet "{d.name}-{latest.hash}" has successfully progressed.',
         "lastUpdateTime": iso(latest.at + timedelta(seconds=75)), "lastTransitionTime": iso(d.revisions[0].at)},
    ]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": {"replicas": replicas, "revisionHistoryLimit": 10,
                     "selector": {"matchLabels": _deployment_labels(d)}, "template": _template(d, latest),
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%",
                                                                             "maxUnavailable": "25%"}},
                     "progressDeadlineSeconds": 600},
            "status": {"observedGeneration": meta["generation"], "replicas": replicas, "updatedReplicas": replicas,
                       "readyReplicas": ready, "availableReplicas": ready, "conditions": conditions}}


def _pod(s: Scenario, p: PodSpec, deployments: dict[str, DeploymentSpec]) -> dict[str, Any]:
    namespace = p.namespace or s.kubernetes.namespace
    d = deployments.get(p.deployment or "")
    rev = revision_of(d, p.revision) if d else None
    labels = {**(_deployment_labels(d) if d else {}), **({"pod-template-hash": rev.hash} if rev else {}), **p.labels}
    image = p.image or (rev.image if rev else "busybox:1.36")
    meta = _meta(s, "Pod", p.name, namespace, p.started - timedelta(seconds=6), labels,
                 dict(rev.template_annotations) if rev else {})
    if d and rev:
        meta["generateName"] = f"{d.name}-{rev.hash}-"
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{d.name}-{rev.hash}",
                                    "uid": _uid(s, "ReplicaSet", d.namespace or s.kubernetes.namespace,
                                                f"{d.name}-{rev.hash}"),
                                    "controller": True, "blockOwnerDeletion": True}]
    elif p.owner:
        meta["ownerReferences"] = [{"apiVersion": p.owner.api_version, "kind": p.owner.kind, "name": p.owner.name,
                                    "uid": _uid(s, p.owner.kind, namespace, p.owner.name), "controller": True,
                                    "blockOwnerDeletion": True}]
    container = _container(d, image, rev) if d else {"name": p.labels.get("app", p.name.rsplit("-", 1)[0]),
                                                 "image": image}
    volumes = [{"name": f"vol-{i}", "persistentVolumeClaim": {"claimName": claim}} for i, claim in enumerate(p.volumes)]
    if volumes:
        container["volumeMounts"] = [{"name": v["name"], "mountPath": f"/var/lib/data{i or ''}"}
                                     for i, v in enumerate(volumes)]
    spec = {"nodeName": p.node, "containers": [container], "restartPolicy": "Always",
            "serviceAccountName": d.name if d else "default", "volumes": volumes, "dnsPolicy": "ClusterFirst"}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": _pod_status(s, p, container)}


def _pod_status(s: Scenario, p: PodSpec, container: dict[str, Any]) -> dict[str, Any]:
    rng = seeded(s.name, "pod", p.name)
    node = next((n for n in s.kubernetes.nodes if n.name == p.node), None)
    running = _running(s, p)
    status: dict[str, Any] = {
        "name": container["name"], "image": container["image"], "ready": p.ready and running,
        "imageID": f"{container['image'].split(':')[0]}@sha256:{_hex(s, 'image', container['image'], length=64)}",
        "containerID": f"containerd://{_hex(s, 'container', p.name, length=64)}", "restartCount": p.restarts,
        "started": running}
    last_start = p.last_termination.at + timedelta(seconds=12) if p.last_termination else p.started
    if running:
        status["state"] = {"running": {"startedAt": iso(last_start)}}
    else:
        exit_code, reason = (0, "Completed") if p.phase == "Succeeded" else (137, "Error")
        status["state"] = {"terminated": {"exitCode": exit_code, "reason": reason, "startedAt": iso(last_start),
                                          "finishedAt": iso(p.ended or s.snapshot_at)}}
    if p.last_termination:
        t = p.last_termination
        status["lastState"] = {"terminated": {"exitCode": t.exit_code, "reason": t.reason,
                                              "startedAt": iso(t.started or p.started), "finishedAt": iso(t.at)}}
    ready = "True" if status["ready"] else "False"
    conditions = [{"type": kind, "status": value, "lastTransitionTime": iso(p.started - timedelta(seconds=delay))}
                  for kind, value, delay in (("PodScheduled", "True", 6), ("Initialized", "True", 5),
                                             ("ContainersReady", ready, 0), ("Ready", ready, 0))]
    out: dict[str, Any] = {"phase": p.phase, "conditions": conditions, "hostIP": node.ip if node else "10.0.0.10",
                           "podIP": f"10.{rng.randint(64, 127)}.{rng.randint(0, 255)}.{rng.randint(2, 254)}",
                           "startTime": iso(p.started - timedelta(seconds=5)), "containerStatuses": [status],
                           "qosClass": "Burstable"}
    if p.reason:
        out["reason"] = p.reason
    if p.message:
        out["message"] = p.message
    return out


_CONDITION_DEFAULTS = {
    "Ready": ("True", "KubeletReady", "kubelet is posting ready status"),
    "MemoryPressure": ("False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    "DiskPressure": ("False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    "PIDPressure": ("False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
}
_CONDITION_CHANGES = {
    ("MemoryPressure", "True"): ("KubeletHasInsufficientMemory", "kubelet has insufficient memory available",
                                 "NodeHasInsufficientMemory"),
    ("DiskPressure", "True"): ("KubeletHasDiskPressure", "kubelet has disk pressure", "NodeHasDiskPressure"),
    ("PIDPressure", "True"): ("KubeletHasInsufficientPID", "kubelet has insufficient PID available",
                              "NodeHasInsufficientPID"),
    ("Ready", "False"): ("KubeletNotReady", "container runtime is down", "NodeNotReady"),
    ("MemoryPressure", "False"): (*_CONDITION_DEFAULTS["MemoryPressure"][1:], "NodeHasSufficientMemory"),
    ("DiskPressure", "False"): (*_CONDITION_DEFAULTS["DiskPressure"][1:], "NodeHasNoDiskPressure"),
    ("PIDPressure", "False"): (*_CONDITION_DEFAULTS["PIDPressure"][1:], "NodeHasSufficientPID"),
    ("Ready", "True"): (*_CONDITION_DEFAULTS["Ready"][1:], "NodeReady"),
}


def _node_created(s: Scenario, n: NodeSpec) -> datetime:
    return n.created or s.window.start - timedelta(days=11 + len(n.name) % 17)


def _node(s: Scenario, n: NodeSpec) -> dict[str, Any]:
    snapshot = s.snapshot_at
    created = _node_created(s, n)
    conditions = []
    for kind, (status, reason, message) in _CONDITION_DEFAULTS.items():
        changes = [c for c in n.conditions if c.type == kind and c.at <= snapshot]
        since = created
        if changes:
            last = changes[-1]
            default_reason, default_message, _ = _CONDITION_CHANGES.get((kind, last.status), (reason, message, ""))
            status, reason, message = last.status, last.reason or default_reason, last.message or default_message
            since = last.at
        conditions.append({"type": kind, "status": status, "reason": reason, "message": message,
                           "lastHeartbeatTime": iso(snapshot - timedelta(seconds=23)),
                           "lastTransitionTime": iso(since)})
    labels = {"kubernetes.io/hostname": n.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
              "topology.kubernetes.io/zone": n.zone, "topology.kubernetes.io/region": _region(n.zone),
              "node.kubernetes.io/instance-type": n.instance_type, **n.labels}
    allocatable_memory = f"{int(n.memory.removesuffix('Gi')) * 1024 * 1024 - 1_700_000}Ki"
    return {"apiVersion": "v1", "kind": "Node", "metadata": _meta(s, "Node", n.name, None, created, labels),
            "spec": {"podCIDR": f"10.{64 + len(n.name) % 64}.{n.ip.split('.')[-1]}.0/24",
                     "providerID": _provider_id(s, n),
                     **({"unschedulable": True} if n.unschedulable else {}),
                     **({"taints": [_taint(t) for t in n.taints
                                 if (t.at is None or t.at <= snapshot) and (t.until is None or t.until > snapshot)]}
                        if n.taints else {})},
            "status": {"capacity": {"cpu": n.cpu, "memory": n.memory, "pods": "110",
                                    "ephemeral-storage": "104845292Ki"},
                       "allocatable": {"cpu": f"{int(n.cpu) * 1000 - 90}m", "memory": allocatable_memory,
                                       "pods": "110", "ephemeral-storage": "95551679124"},
                       "conditions": conditions,
                       "addresses": [{"type": "InternalIP", "address": n.ip}, {"type": "Hostname", "address": n.name}],
                       "nodeInfo": _node_info(s, n)}}


def _taint(t: Taint) -> dict[str, Any]:
    return {"key": t.key, "effect": t.effect, **({"value": t.value} if t.value else {}),
            **({"timeAdded": iso(t.at)} if t.at else {})}


def _region(zone: str) -> str:
    """eu-west-1a → eu-west-1 (AWS); europe-west1-b → europe-west1 (GCP)."""
    return zone[:-2] if zone[-2] == "-" else zone[:-1]


def _provider_id(s: Scenario, n: NodeSpec) -> str:
    if n.provider == "gce":
        return f"gce://shop-prod-4412/{n.zone}/{n.name}"
    return f"aws:///{n.zone}/i-{_hex(s, 'node', n.name, length=17)}"


def _node_info(s: Scenario, n: NodeSpec) -> dict[str, str]:
    if n.provider == "gce":
        kernel, version, image = "6.1.100+", "v1.30.5-gke.1014001", "Container-Optimized OS from Google"
    else:
        kernel, version, image = "6.1.112-124.190.amzn2023.x86_64", "v1.30.4-eks-a737599", "Amazon Linux 2023"
    return {"architecture": "amd64", "bootID": _uid(s, "boot", n.name), "containerRuntimeVersion": "containerd://1.7.22",
            "kernelVersion": kernel, "kubeProxyVersion": version, "kubeletVersion": version,
            "machineID": _hex(s, "machine", n.name, length=32), "operatingSystem": "linux", "osImage": image,
            "systemUUID": _uid(s, "system", n.name)}


_API_VERSIONS = {"Deployment": "apps/v1", "ReplicaSet": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1",
                 "HorizontalPodAutoscaler": "autoscaling/v2", "Job": "batch/v1", "CronJob": "batch/v1",
                 "Certificate": "cert-manager.io/v1"}


def _event(s: Scenario, e: EventSpec, seq: int) -> dict[str, Any]:
    """A core/v1 Event; node events live in the `default` namespace, as the kubelet records them."""
    namespace = e.object.namespace or ("default" if e.object.kind == "Node" else s.kubernetes.namespace)
    name = f"{e.object.name}.{_hex(s, 'event', str(seq), e.reason, length=16)}"
    last = e.last or e.at
    involved = {"kind": e.object.kind, "name": e.object.name, "namespace": namespace,
                "uid": _uid(s, e.object.kind, namespace if e.object.kind != "Node" else "", e.object.name),
                "apiVersion": e.object.api_version or _API_VERSIONS.get(e.object.kind, "v1")}
    if e.object.kind == "Node":
        del involved["namespace"]
    return {"apiVersion": "v1", "kind": "Event", "metadata": _meta(s, "Event", name, namespace, e.at),
            "involvedObject": involved, "reason": e.reason, "message": e.message, "type": e.type,
            "source": {"component": e.source, **({"host": e.host} if e.host else {})},
            "firstTimestamp": iso(e.at), "lastTimestamp": iso(last), "count": e.count,
            "reportingComponent": e.source, "reportingInstance": e.host or ""}


def _generated_events(s: Scenario) -> Iterable[EventSpec]:
    """What the controllers and the kubelet record on their own: rollouts, pod start-up, node condition changes."""
    start, snapshot = s.window.start, s.snapshot_at
    for d in s.kubernetes.deployments:
        ref = ObjectRef(kind="Deployment", name=d.name, namespace=d.namespace)
        for old, new in itertools.pairwise(d.revisions):
            if start <= new.at <= snapshot:
                yield EventSpec(at=new.at, reason="ScalingReplicaSet", source="deployment-controller", object=ref,
                                message=f"Scaled up replica set {d.name}-{new.hash} to {d.replicas}")
                yield EventSpec(at=new.at + timedelta(seconds=70), reason="ScalingReplicaSet", object=ref,
                                source="deployment-controller",
                                message=f"Scaled down replica set {d.name}-{old.hash} to 0 from {d.replicas}")
    for p in all_pods(s):
        if start <= p.started <= snapshot:
            yield from _pod_start_events(s, p)
    yield from (e for e in resource_events(s) if start <= e.at <= snapshot)
    for n in s.kubernetes.nodes:
        for c in n.conditions:
            if start <= c.at <= snapshot and (c.type, c.status) in _CONDITION_CHANGES:
                reason = _CONDITION_CHANGES[(c.type, c.status)][2]
                yield EventSpec(at=c.at, reason=reason, message=f"Node {n.name} status is now: {reason}",
                                object=ObjectRef(kind="Node", name=n.name), host=n.name)


def _pod_start_events(s: Scenario, p: PodSpec) -> Iterator[EventSpec]:
    ref = ObjectRef(kind="Pod", name=p.name, namespace=p.namespace)
    d = next((d for d in s.kubernetes.deployments if d.name == p.deployment), None)
    image = p.image or (revision_of(d, p.revision).image if d else "busybox:1.36")
    container = (d.container or d.name) if d else p.labels.get("app", "main")
    namespace = p.namespace or s.kubernetes.namespace
    yield EventSpec(at=p.started - timedelta(seconds=6), reason="Scheduled", source="default-scheduler", object=ref,
                    message=f"Successfully assigned {namespace}/{p.name} to {p.node}")
    yield EventSpec(at=p.started - timedelta(seconds=3), reason="Pulled", object=ref, host=p.node,
                    message=f'Container image "{image}" already present on machine')
    yield EventSpec(at=p.started - timedelta(seconds=1), reason="Created", object=ref, host=p.node,
                    message=f"Created container {container}")
    yield EventSpec(at=p.started, reason="Started", object=ref, host=p.node, message=f"Started container {container}")


def listed(s: Scenario, p: PodSpec) -> bool:
    """Whether the API lists the pod at the snapshot: it was created, and not yet removed."""
    gone = p.deleted and (p.ended is None or p.ended <= s.snapshot_at)
    return p.started <= s.snapshot_at and not gone


def _running(s: Scenario, p: PodSpec) -> bool:
    return p.phase == "Running" and (p.ended is None or p.ended > s.snapshot_at)


def _as_of(s: Scenario, d: DeploymentSpec) -> DeploymentSpec | None:
    """The deployment as the snapshot sees it: without the revisions rolled out after it."""
    revisions = [r for r in d.revisions if r.at <= s.snapshot_at]
    return d.model_copy(update={"revisions": revisions}) if revisions else None


def _event_key(e: EventSpec) -> tuple[str, str, str, str]:
    return e.object.kind, e.object.name, e.reason, e.message


def kubernetes_objects(s: Scenario) -> dict[str, list[dict[str, Any]]]:
    """The cluster as the API would list it at the snapshot time: raw JSON objects, by resource."""
    deployments = {d.name: d for d in s.kubernetes.deployments}
    current = [d for d in (_as_of(s, d) for d in s.kubernetes.deployments) if d is not None]
    # An explicit event (a repeated "Started" after a restart) replaces the one the loader would make up.
    explicit = {_event_key(e) for e in s.kubernetes.events}
    generated = [e for e in _generated_events(s) if _event_key(e) not in explicit]
    specs = sorted([*s.kubernetes.events, *generated], key=lambda e: e.at)
    events = [_event(s, e, i) for i, e in enumerate(specs) if e.at <= s.snapshot_at]
    objects = {
        "deployments": [_deployment(s, d) for d in current],
        "replicasets": [rs for d in current for rs in _replicasets(s, d)],
        "pods": [_pod(s, p, deployments) for p in all_pods(s) if listed(s, p)],
        "nodes": [_node(s, n) for n in s.kubernetes.nodes],
        "events": events,
        **resource_objects(s),
    }
    objects["namespaces"] = namespaces(s, objects)
    return objects


def grafana_datasources(s: Scenario) -> list[dict[str, Any]]:
    """The scenario's Grafana datasources; by default one Prometheus datasource (uid `prometheus`)."""
    if s.grafana and s.grafana.datasources:
        return s.grafana.datasources
    return [{"id": 1, "uid": "prometheus", "name": "Prometheus", "type": "prometheus", "access": "proxy",
             "isDefault": True, "jsonData": {"httpMethod": "POST", "timeInterval": "15s"}}]
