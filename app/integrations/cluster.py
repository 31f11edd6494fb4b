"""The cluster as an analysis reads it: its workloads (who owns which pod, what each talks to) and every change
in a time window, each with its time, its object and what changed.

Built from raw API objects (`KubernetesClient.objects`), so any kind that could not be read (a 403 on Secrets)
simply contributes nothing. Pods map to workloads through ownerReferences (Pod -> ReplicaSet -> Deployment,
Pod -> Job -> CronJob, StatefulSet, DaemonSet), never through the shape of their names.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.integrations.kubernetes import REVISION, _time
from app.integrations.telemetry import ChangeEvent, ChangeKind

Obj = dict[str, Any]
APP_LABELS = ("app.kubernetes.io/name", "app", "k8s-app", "app.kubernetes.io/instance", "component", "service")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# Host names in env values, args and config data: svc.cluster.local names, URLs, host:port pairs.
_LABEL = r"[a-z](?:[a-z0-9-]*[a-z0-9])?"
_HOST = re.compile(rf"(?:[a-z][a-z0-9+.-]*://(?:[^@/\s]+@)?(?P<url>{_LABEL}(?:\.{_LABEL})*)"
                   rf"|\b(?P<hostport>{_LABEL}(?:\.{_LABEL})*):\d{{2,5}}\b)")  # host names are written lower-case
_CLUSTER_HOST = re.compile(r"\b(?P<name>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)\.(?P<ns>[a-z0-9-]+)\.svc"
                           r"(?:\.cluster\.local)?\b")
HOST_OPTIONS = {"-h", "--host", "--hostname"}
_BARE_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job")
CERTIFICATE_KINDS = {"Certificate", "CertificateRequest", "Issuer", "ClusterIssuer", "Order", "Challenge"}


@dataclass
class Workload:
    kind: str
    name: str
    namespace: str
    labels: dict[str, str] = field(default_factory=dict)
    pods: set[str] = field(default_factory=set)
    nodes: set[str] = field(default_factory=set)
    hosts: set[str] = field(default_factory=set)  # what its env, args and config point at
    configs: set[str] = field(default_factory=set)  # ConfigMaps and Secrets it reads
    images: list[str] = field(default_factory=list)

    @property
    def names(self) -> set[str]:
        """Every name it goes by: its own and its app labels."""
        return {self.name, *(self.labels[k] for k in APP_LABELS if self.labels.get(k))}


@dataclass
class Cluster:
    workloads: dict[tuple[str, str], Workload] = field(default_factory=dict)  # (namespace, name)
    pod_owner: dict[tuple[str, str], str] = field(default_factory=dict)  # (namespace, pod) -> workload name
    pod_node: dict[tuple[str, str], str] = field(default_factory=dict)
    services: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)  # Service -> its selector
    node_ips: dict[str, str] = field(default_factory=dict)  # node name -> InternalIP
    claims: dict[tuple[str, str], str] = field(default_factory=dict)  # (namespace, PVC) -> the workload mounting it

    def workload(self, namespace: str, name: str) -> Workload | None:
        return self.workloads.get((namespace, name))

    def named(self, name: str) -> list[Workload]:
        """Workloads called `name`, or labelled so, or behind a Service of that name."""
        lowered = name.lower()
        found = [w for w in self.workloads.values() if lowered in {n.lower() for n in w.names}]
        for (ns, service), selector in self.services.items():
            if service.lower() == lowered and selector:
                found += [w for w in self.workloads.values() if w.namespace == ns and w not in found
                          and all(w.labels.get(k) == v for k, v in selector.items())]
        return found

    def owner_of_claim(self, namespace: str, claim: str) -> str | None:
        """The workload whose pods mount a PersistentVolumeClaim; for a pod gone from the API, the StatefulSet
        whose claims are named `<volumeClaimTemplate>-<statefulset>-<ordinal>`, as its controller names them."""
        known = self.claims.get((namespace, claim))
        if known:
            return known
        sets = [w.name for w in self.workloads.values() if w.kind == "StatefulSet" and w.namespace == namespace
                and re.fullmatch(rf".+-{re.escape(w.name)}-\d+", claim)]
        return max(sets, key=len, default=None)

    def owner_of_pod(self, namespace: str, pod: str) -> str | None:
        known = self.pod_owner.get((namespace, pod))
        if known:
            return known
        # A pod gone from the API (replaced in a rollout) still has series: the longest workload name it extends.
        prefixes = [w.name for w in self.workloads.values() if (not namespace or w.namespace == namespace)
                    and pod.startswith(w.name + "-")]
        return max(prefixes, key=len, default=None)


def build(objects: dict[str, list[Obj]]) -> Cluster:
    cluster = Cluster()
    owners = _owners(objects)
    for kind, resource in (("Deployment", "deployments"), ("StatefulSet", "statefulsets"),
                           ("DaemonSet", "daemonsets"), ("CronJob", "cronjobs"), ("Job", "jobs")):
        for item in objects.get(resource, []):
            meta = item.get("metadata") or {}
            if kind == "Job" and _controller(item, "CronJob"):
                continue  # a CronJob's runs belong to the CronJob
            template = _pod_template(item)
            tmeta = template.get("metadata") or {}
            workload = Workload(kind=kind, name=meta.get("name", ""), namespace=meta.get("namespace", ""),
                                labels={**(tmeta.get("labels") or {}), **(meta.get("labels") or {})},
                                images=[c.get("image", "") for c in _containers(template)])
            workload.hosts, workload.configs = _references(template)
            cluster.workloads[(workload.namespace, workload.name)] = workload
    for pod in objects.get("pods", []):
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        key = (meta.get("namespace", ""), meta.get("name", ""))
        owner = _top_owner(pod, owners)
        if spec.get("nodeName"):
            cluster.pod_node[key] = spec["nodeName"]
        if owner and (key[0], owner) in cluster.workloads:
            cluster.pod_owner[key] = owner
            for volume in spec.get("volumes") or []:
                claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
                if claim:
                    cluster.claims[(key[0], claim)] = owner
            workload = cluster.workloads[(key[0], owner)]
            workload.pods.add(key[1])
            if spec.get("nodeName"):
                workload.nodes.add(spec["nodeName"])
    for config in objects.get("configmaps", []):
        meta = config.get("metadata") or {}
        hosts = {h for value in (config.get("data") or {}).values() for h in hosts_in(str(value))}
        for workload in cluster.workloads.values():
            if workload.namespace == meta.get("namespace") and meta.get("name") in workload.configs:
                workload.hosts |= hosts
    for service in objects.get("services", []):
        meta = service.get("metadata") or {}
        cluster.services[(meta.get("namespace", ""), meta.get("name", ""))] = dict(
            (service.get("spec") or {}).get("selector") or {})
    for node in objects.get("nodes", []):
        addresses = (node.get("status") or {}).get("addresses") or []
        ip = next((a.get("address") for a in addresses if a.get("type") == "InternalIP"), None)
        if ip:
            cluster.node_ips[(node.get("metadata") or {}).get("name", "")] = ip
    return cluster


# `caller=server/handler.go:142`, `(OrderService.java:88)`: a source file and line, not a host and port.
_SOURCE_FILE = re.compile(r"\.(?:go|py|java|kt|scala|js|mjs|cjs|ts|rb|rs|php|cs|c|cc|cpp|h|hpp|ex|exs|erl|clj)$")


def _host(match: re.Match[str]) -> str | None:
    host = (match["url"] or match["hostport"]).lower()
    return host if len(host) > 1 and not (match["hostport"] and _SOURCE_FILE.search(host)) else None


def ordered_hosts(text: str) -> list[str]:
    """The hosts a line names, in the order it names them."""
    found = [h for m in _HOST.finditer(text) if (h := _host(m))]
    found += [f"{m['name']}.{m['ns']}.svc".lower() for m in _CLUSTER_HOST.finditer(text)]
    return list(dict.fromkeys(h for h in found if len(h) > 1))


def hosts_in(text: str) -> set[str]:
    """Host names a string points at: `postgres.db.svc.cluster.local:5432`, `redis://cache:6379/0`, URLs."""
    found = {h for m in _HOST.finditer(text) if (h := _host(m))}
    found |= {m["name"].lower() for m in _CLUSTER_HOST.finditer(text)}
    return {h for h in found if len(h) > 1}


def _references(template: Obj) -> tuple[set[str], set[str]]:
    hosts, configs = set(), set()
    spec = template.get("spec") or {}
    for container in _containers(template):
        for env in container.get("env") or []:
            if env.get("value"):
                hosts |= hosts_in(str(env["value"]))
            source = env.get("valueFrom") or {}
            for ref in ("configMapKeyRef", "secretKeyRef"):
                if (source.get(ref) or {}).get("name"):
                    configs.add(source[ref]["name"])
        for env_from in container.get("envFrom") or []:
            for ref in ("configMapRef", "secretRef"):
                if (env_from.get(ref) or {}).get("name"):
                    configs.add(env_from[ref]["name"])
        argv = [str(a) for a in [*(container.get("command") or []), *(container.get("args") or [])]]
        for i, arg in enumerate(argv):
            hosts |= hosts_in(arg)
            # `redis-cli -h cache`, `psql --host db`, `mysql -h db`: the client tools' host option names the server.
            if arg in HOST_OPTIONS and i + 1 < len(argv) and _BARE_HOST.fullmatch(argv[i + 1]):
                hosts.add(argv[i + 1])
    for volume in spec.get("volumes") or []:
        for ref, key in (("configMap", "name"), ("secret", "secretName")):
            if (volume.get(ref) or {}).get(key):
                configs.add(volume[ref][key])
        for source in (volume.get("projected") or {}).get("sources") or []:
            for ref in ("configMap", "secret"):
                if (source.get(ref) or {}).get("name"):
                    configs.add(source[ref]["name"])
    return hosts, configs


def _pod_template(item: Obj) -> Obj:
    spec = item.get("spec") or {}
    if "jobTemplate" in spec:
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    return spec.get("template") or {}


def _containers(template: Obj) -> list[Obj]:
    spec = template.get("spec") or {}
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


def _controller(item: Obj, kind: str | None = None) -> tuple[str, str] | None:
    for ref in (item.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller", True) and (kind is None or ref.get("kind") == kind):
            return ref.get("kind", ""), ref.get("name", "")
    return None


def _owners(objects: dict[str, list[Obj]]) -> dict[tuple[str, str, str], tuple[str, str]]:
    """(kind, namespace, name) of a ReplicaSet or Job -> its controller's (kind, name)."""
    found = {}
    for kind, resource in (("ReplicaSet", "replicasets"), ("Job", "jobs")):
        for item in objects.get(resource, []):
            owner = _controller(item)
            meta = item.get("metadata") or {}
            if owner:
                found[(kind, meta.get("namespace", ""), meta.get("name", ""))] = owner
    return found


def _top_owner(pod: Obj, owners: dict[tuple[str, str, str], tuple[str, str]]) -> str | None:
    owner = _controller(pod)
    namespace = (pod.get("metadata") or {}).get("namespace", "")
    while owner is not None and owner[0] in ("ReplicaSet", "Job") and (owner[0], namespace, owner[1]) in owners:
        owner = owners[(owner[0], namespace, owner[1])]
    return owner[1] if owner else None


# --- changes ------------------------------------------------------------------------------------------------


def changes(objects: dict[str, list[Obj]], cluster: Cluster, start: datetime, end: datetime) -> list[ChangeEvent]:
    window = (start, end)
    found = [*_rollouts(objects, cluster, window), *_controller_revisions(objects, window),
             *_config_edits(objects, cluster, window), *_job_runs(objects, window), *_autoscalers(objects, window),
             *_node_changes(objects, window), *_events(objects, cluster, window)]
    return sorted(found, key=lambda c: c.at)


def _inside(at: datetime | None, window: tuple[datetime, datetime]) -> bool:
    return at is not None and window[0] <= at <= window[1]


def _revision(item: Obj) -> int | None:
    value = ((item.get("metadata") or {}).get("annotations") or {}).get(REVISION)
    return int(value) if value and str(value).isdigit() else None


def _rollouts(objects: dict[str, list[Obj]], cluster: Cluster,
              window: tuple[datetime, datetime]) -> list[ChangeEvent]:
    by_owner: dict[tuple[str, str], list[Obj]] = defaultdict(list)
    for rs in objects.get("replicasets", []):
        owner = _controller(rs, "Deployment")
        if owner and _revision(rs) is not None:
            by_owner[((rs.get("metadata") or {}).get("namespace", ""), owner[1])].append(rs)
    scaled_up = _scale_ups(objects)
    found = []
    for (namespace, deployment), sets in by_owner.items():
        # A rollback reuses an old ReplicaSet: it holds the new revision and lists the ones it held before.
        held = sorted(((n, rs) for rs in sets for n in _revisions_held(rs)), key=lambda pair: pair[0])
        for number, rs in held:
            meta = rs.get("metadata") or {}
            current = number == _revision(rs)
            at = _rollout_time(rs, scaled_up, window) if current else None
            if number != _revision(rs) and not _history_time_known(rs):
                at = _time(meta.get("creationTimestamp")) if number == min(_revisions_held(rs)) else None
            if at is None or not _inside(at, window):
                continue
            previous = next((r for n, r in reversed(held) if n < number), None)
            diff = template_diff(_pod_template(previous), _pod_template(rs)) if previous is not None else []
            images = ", ".join(c.get("image", "") for c in _containers(_pod_template(rs)))
            cause = (meta.get("annotations") or {}).get("kubernetes.io/change-cause")
            back = " (a rollback)" if len(_revisions_held(rs)) > 1 and current else ""
            text = f"{deployment} rolled out revision {number}{back}" + (
                f" ({'; '.join(diff[:4])})" if diff else f" (image {images})")
            if cause:
                text += f"; change-cause {cause}"
            found.append(ChangeEvent(
                at=at, kind=ChangeKind.DEPLOY, subject=deployment, component=deployment, description=text,
                source="kubernetes", object_ref=f"Deployment/{namespace}/{deployment}", version=str(number),
                diff=diff, query=f"kubectl rollout history deployment/{deployment} -n {namespace} --revision={number}"))
    return found


def _revisions_held(rs: Obj) -> list[int]:
    history = ((rs.get("metadata") or {}).get("annotations") or {}).get("deployment.kubernetes.io/revision-history")
    held = [int(n) for n in (history or "").split(",") if n.strip().isdigit()]
    return sorted({*held, _revision(rs) or 0})


def _history_time_known(rs: Obj) -> bool:
    return False  # the API keeps no time for a ReplicaSet's earlier revisions, only its creation


def _scale_ups(objects: dict[str, list[Obj]]) -> dict[str, list[datetime]]:
    """ReplicaSet name -> when the deployment controller scaled it up ("Scaled up replica set X to N")."""
    found: dict[str, list[datetime]] = defaultdict(list)
    for event in objects.get("events", []):
        match = re.search(r"Scaled up replica set (\S+)", event.get("message") or "")
        at = _time(event.get("firstTimestamp")) or _time(event.get("eventTime"))
        if match and at is not None:
            found[match.group(1)].append(at)
    return found


def _rollout_time(rs: Obj, scaled_up: dict[str, list[datetime]], window: tuple[datetime, datetime]) -> datetime | None:
    """When a revision went live: its creation, or for a rollback to an old ReplicaSet, when it was scaled up."""
    meta = rs.get("metadata") or {}
    created = _time(meta.get("creationTimestamp"))
    if len(_revisions_held(rs)) > 1:
        later = [t for t in scaled_up.get(meta.get("name", ""), []) if created is None or t > created]
        inside = [t for t in later if _inside(t, window)]
        if inside:
            return max(inside)
        times = [t for m in meta.get("managedFields") or [] if (t := _time(m.get("time")))]
        return max(times, default=created)
    return created


def _controller_revisions(objects: dict[str, list[Obj]], window: tuple[datetime, datetime]) -> list[ChangeEvent]:
    by_owner: dict[tuple[str, str, str], list[Obj]] = defaultdict(list)
    for item in objects.get("controllerrevisions", []):
        owner = _controller(item)
        if owner:
            by_owner[((item.get("metadata") or {}).get("namespace", ""), *owner)].append(item)
    found = []
    for (namespace, kind, name), revisions in by_owner.items():
        revisions.sort(key=lambda r: r.get("revision") or 0)
        for previous, item in zip([None, *revisions], revisions, strict=False):
            at = _time((item.get("metadata") or {}).get("creationTimestamp"))
            if previous is None or at is None or not _inside(at, window):
                continue
            old, new = (((r.get("data") or {}).get("spec") or {}).get("template") or {} for r in (previous, item))
            diff = template_diff(old, new)
            found.append(ChangeEvent(
                at=at, kind=ChangeKind.DEPLOY, subject=name, component=name, source="kubernetes",
                description=f"{name} rolled out revision {item.get('revision')}"
                            + (f" ({'; '.join(diff[:4])})" if diff else ""),
                object_ref=f"{kind}/{namespace}/{name}", version=str(item.get("revision")), diff=diff,
                query=f"kubectl rollout history {kind.lower()}/{name} -n {namespace}"))
    return found


def template_diff(old: Obj, new: Obj) -> list[str]:
    """What differs between two pod templates: images, env, args, resources, annotations and labels."""
    out = []
    old_meta, new_meta = old.get("metadata") or {}, new.get("metadata") or {}
    for part in ("annotations", "labels"):
        a, b = old_meta.get(part) or {}, new_meta.get(part) or {}
        out += [f"{part[:-1]} {k}: {a.get(k, '(none)')} -> {b.get(k, '(none)')}" for k in sorted(set(a) | set(b))
                if a.get(k) != b.get(k) and k != "pod-template-hash"]
    olds = {c.get("name"): c for c in _containers(old)}
    for container in _containers(new):
        before = olds.get(container.get("name")) or {}
        if before.get("image") != container.get("image"):
            out.append(f"image {before.get('image', '(none)')} -> {container.get('image')}")
        a, b = _env(before), _env(container)
        out += [f"env {k}: {a.get(k, '(none)')} -> {b.get(k, '(none)')}" for k in sorted(set(a) | set(b))
                if a.get(k) != b.get(k)]
        for key in ("args", "command"):
            if before.get(key) != container.get(key) and (before.get(key) or container.get(key)):
                out.append(f"{key} {_short(before.get(key))} -> {_short(container.get(key))}")
        out += _resources_diff(before.get("resources") or {}, container.get("resources") or {})
    return out


def _resources_diff(old: Obj, new: Obj) -> list[str]:
    """`resources.limits.memory: 1Gi -> 256Mi`, one line per request or limit that changed."""
    out = []
    for section in sorted(set(old) | set(new)):
        a, b = old.get(section) or {}, new.get(section) or {}
        if not isinstance(a, dict) or not isinstance(b, dict):
            continue
        out += [f"resources.{section}.{k}: {a.get(k, '(none)')} -> {b.get(k, '(none)')}"
                for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    return out


_QUANTITY = re.compile(r"^(?P<n>\d+(?:\.\d+)?)(?P<unit>Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?$")
_FACTORS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60, "k": 1e3, "M": 1e6,
            "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18, "m": 1e-3}


def quantity(text: str) -> float | None:
    """A Kubernetes resource quantity ("256Mi", "1.5G", "500m") as a number, None when it is not one."""
    match = _QUANTITY.match(text.strip())
    if match is None:
        return None
    return float(match["n"]) * _FACTORS.get(match["unit"] or "", 1)


def _env(container: Obj) -> dict[str, str]:
    return {e.get("name", ""): str(e.get("value") if "value" in e else _short(e.get("valueFrom")))
            for e in container.get("env") or []}


def _short(value: Any) -> str:
    return "(none)" if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True)[:120]


def _config_edits(objects: dict[str, list[Obj]], cluster: Cluster,
                  window: tuple[datetime, datetime]) -> list[ChangeEvent]:
    found = []
    for kind, resource in (("ConfigMap", "configmaps"), ("Secret", "secrets")):
        for item in objects.get(resource, []):
            meta = item.get("metadata") or {}
            entries = [(t, m) for m in meta.get("managedFields") or [] if (t := _time(m.get("time")))]
            created = _time(meta.get("creationTimestamp"))
            latest = max(entries, key=lambda e: e[0], default=None)
            at = latest[0] if latest else created
            if at is None or not _inside(at, window):
                continue
            namespace, name = meta.get("namespace", ""), meta.get("name", "")
            keys = _managed_keys(latest[1]) if latest else []
            diff = _data_diff(item, keys, readable=kind == "ConfigMap")
            users = sorted(w.name for w in cluster.workloads.values() if w.namespace == namespace and name in w.configs)
            manager = f" by {latest[1].get('manager')}" if latest and latest[1].get("manager") else ""
            verb = "created" if at == created else "edited"
            text = f"{kind} {name} {verb}{manager}" + (f" ({'; '.join(diff[:4])})" if diff else "") + (
                f"; read by {', '.join(users)}" if users else "")
            found.append(ChangeEvent(
                at=at, kind=ChangeKind.SECRET if kind == "Secret" else ChangeKind.CONFIG, subject=name,
                component=users[0] if users else None, description=text,
                source="kubernetes", object_ref=f"{kind}/{namespace}/{name}",
                version=meta.get("resourceVersion"), diff=diff,
                query=f"kubectl get {kind.lower()} {name} -n {namespace} -o yaml --show-managed-fields"))
    return found


def _managed_keys(entry: Obj) -> list[str]:
    fields = entry.get("fieldsV1") or {}
    keys = []
    for section in ("f:data", "f:stringData", "f:binaryData"):
        keys += [k[2:] for k in (fields.get(section) or {}) if k.startswith("f:")]
    return keys


def _data_diff(item: Obj, keys: list[str], *, readable: bool) -> list[str]:
    """Old and new values where the object records both (a later edit over `kubectl apply`); key names only for
    Secrets, whose values never leave the cluster through this."""
    data = item.get("data") or {}
    if not readable:
        return [f"key {k} changed" for k in keys]
    applied = ((item.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    before: dict[str, str] = {}
    if applied:
        try:
            before = dict((json.loads(applied) or {}).get("data") or {})
        except (ValueError, AttributeError):
            before = {}
    out = []
    for key in keys or sorted(set(data) | set(before)):
        new, old = data.get(key), before.get(key)
        if old is not None and old != new:
            out.append(f"{key}: {_clip(old)} -> {_clip(new)}")
        elif keys:
            out.append(f"{key} = {_clip(new)}")
    return out


def _clip(value: Any) -> str:
    text = " ".join(str(value).split()) if value is not None else "(none)"
    return text if len(text) <= 80 else text[:77] + "..."


def _job_runs(objects: dict[str, list[Obj]], window: tuple[datetime, datetime]) -> list[ChangeEvent]:
    found = []
    for job in objects.get("jobs", []):
        meta, status = job.get("metadata") or {}, job.get("status") or {}
        started = _time(status.get("startTime")) or _time(meta.get("creationTimestamp"))
        if not _inside(started, window) or started is None:
            continue
        owner = _controller(job, "CronJob")
        name, namespace = meta.get("name", ""), meta.get("namespace", "")
        component = owner[1] if owner else name
        ended = _time(status.get("completionTime"))
        how = (f"scheduled by CronJob {owner[1]}" if owner else "run by hand")
        outcome = (f", completed {ended:%H:%M}" if ended else ", failed" if status.get("failed") else ", still running")
        found.append(ChangeEvent(
            at=started, kind=ChangeKind.JOB, subject=component, component=component,
            description=f"Job {name} started ({how}){outcome}", source="kubernetes",
            object_ref=f"Job/{namespace}/{name}", query=f"kubectl get job {name} -n {namespace} -o yaml"))
    return found


def _autoscalers(objects: dict[str, list[Obj]], window: tuple[datetime, datetime]) -> list[ChangeEvent]:
    found = []
    for hpa in objects.get("horizontalpodautoscalers", []):
        meta, spec, status = hpa.get("metadata") or {}, hpa.get("spec") or {}, hpa.get("status") or {}
        target = (spec.get("scaleTargetRef") or {}).get("name") or meta.get("name", "")
        maximum, current = spec.get("maxReplicas"), status.get("currentReplicas")
        limited = next((c for c in status.get("conditions") or [] if c.get("type") == "ScalingLimited"
                        and c.get("status") == "True"), None)
        at = _time((limited or {}).get("lastTransitionTime"))
        if maximum is None or current is None or current < maximum or not _inside(at, window) or at is None:
            continue
        namespace = meta.get("namespace", "")
        found.append(ChangeEvent(
            at=at, kind=ChangeKind.AUTOSCALER, subject=target, component=target, source="kubernetes",
            description=f"HorizontalPodAutoscaler {meta.get('name')} at its maximum of {maximum} replicas"
                        + (f": {limited.get('message')}" if limited and limited.get("message") else ""),
            object_ref=f"HorizontalPodAutoscaler/{namespace}/{meta.get('name')}", version=str(maximum),
            query=f"kubectl describe hpa {meta.get('name')} -n {namespace}"))
    return found


def _node_changes(objects: dict[str, list[Obj]], window: tuple[datetime, datetime]) -> list[ChangeEvent]:
    found = []
    for node in objects.get("nodes", []):
        name = (node.get("metadata") or {}).get("name", "")
        for condition in (node.get("status") or {}).get("conditions") or []:
            kind, status = condition.get("type", ""), condition.get("status", "")
            bad = (status != "True") if kind == "Ready" else (status == "True")
            at = _time(condition.get("lastTransitionTime"))
            if bad and _inside(at, window) and at is not None:
                found.append(ChangeEvent(
                    at=at, kind=ChangeKind.NODE, subject=name, component=name, source="kubernetes",
                    description=f"node {name} {kind}={status}" + (f" ({condition.get('reason')}: "
                                                                  f"{condition.get('message', '')})"[:160]
                                                                  if condition.get("reason") else ""),
                    object_ref=f"Node/{name}", query=f"kubectl describe node {name}"))
        for taint in (node.get("spec") or {}).get("taints") or []:
            at = _time(taint.get("timeAdded"))
            if _inside(at, window) and at is not None:
                found.append(ChangeEvent(
                    at=at, kind=ChangeKind.NODE, subject=name, component=name, source="kubernetes",
                    description=f"node {name} tainted {taint.get('key')}:{taint.get('effect')}",
                    object_ref=f"Node/{name}", query=f"kubectl describe node {name}"))
    return found


def _events(objects: dict[str, list[Obj]], cluster: Cluster, window: tuple[datetime, datetime]) -> list[ChangeEvent]:
    """Events of every type from every controller; a pod's routine Normal events (pulled, started) are left out,
    as its controller's own events and the rollout already say what happened."""
    found = []
    job_owner = {((j.get("metadata") or {}).get("namespace", ""), (j.get("metadata") or {}).get("name", "")): owner[1]
                 for j in objects.get("jobs", []) if (owner := _controller(j, "CronJob"))}
    for item in objects.get("events", []):
        involved, meta = item.get("involvedObject") or {}, item.get("metadata") or {}
        kind, name = involved.get("kind") or "", involved.get("name") or ""
        kind_of_event = item.get("type") or "Normal"
        if kind == "Pod" and kind_of_event == "Normal":
            continue
        first = (_time(item.get("firstTimestamp")) or _time(item.get("eventTime"))
                 or _time(meta.get("creationTimestamp")))
        last = _time(item.get("lastTimestamp")) or first
        at = next((t for t in (first, last) if _inside(t, window)), None)
        if at is None:
            continue
        namespace = involved.get("namespace") or meta.get("namespace") or ""
        component = (cluster.owner_of_pod(namespace, name) if kind == "Pod" else
                     name if kind in WORKLOAD_KINDS or kind in ("HorizontalPodAutoscaler", "Node") else None)
        if kind == "ReplicaSet":
            component = name.rsplit("-", 1)[0]
        if kind == "Job":
            component = job_owner.get((namespace, name), name)
        count = item.get("count") or 1
        found.append(ChangeEvent(
            at=at, kind=_event_kind(kind, item.get("reason") or ""), subject=name, component=component,
            description=f"{item.get('reason')} on {kind}/{name}: {(item.get('message') or '').strip()[:200]}"
                        + (f" (x{count})" if count > 1 else ""),
            source="kubernetes", object_ref=f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}",
            query=f"kubectl get events -n {namespace or 'default'} --field-selector involvedObject.name={name}"))
    return found


# Custom resources whose controllers write Secrets: External Secrets, Sealed Secrets, the Secrets Store CSI driver.
SECRET_KINDS = {"ExternalSecret", "ClusterExternalSecret", "PushSecret", "SealedSecret", "SecretProviderClass"}
GITOPS_KINDS = {"Application", "ApplicationSet", "Kustomization", "HelmRelease", "GitRepository"}


def _event_kind(kind: str, reason: str) -> ChangeKind:
    if kind in GITOPS_KINDS:
        return ChangeKind.GITOPS
    if kind == "Node" or reason in ("Evicted", "NodeNotReady", "EvictionThresholdMet"):
        return ChangeKind.NODE
    if kind in CERTIFICATE_KINDS:
        return ChangeKind.CERTIFICATE
    if kind in ("Job", "CronJob"):
        return ChangeKind.JOB
    if kind == "HorizontalPodAutoscaler" or reason in ("ScalingReplicaSet", "SuccessfulRescale"):
        return ChangeKind.SCALE
    if kind == "Secret" or kind in SECRET_KINDS:
        return ChangeKind.SECRET
    if kind == "ConfigMap":
        return ChangeKind.CONFIG
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
        return ChangeKind.SCALE
    return ChangeKind.OTHER
