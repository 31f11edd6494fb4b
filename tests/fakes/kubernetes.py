"""A fake Kubernetes API server (read-only) served over loopback HTTP.

It serves the REST paths the official `kubernetes` client calls to list and get the core resources (pods,
nodes, events, configmaps, secrets, services, namespaces, persistentvolumeclaims), apps/v1 (deployments,
replicasets, statefulsets, daemonsets), batch/v1 (jobs, cronjobs), autoscaling/v2 (horizontalpodautoscalers),
events.k8s.io/v1 events (the core events in the newer schema) and the custom resources of Argo CD, cert-manager
and Flux, namespaced and across namespaces, plus API discovery (`/api`, `/apis`, `/apis/<group>/<version>`)
and a pod's log, with
`labelSelector` (`k=v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`), `fieldSelector` (`path=v`,
`path!=v` over any dotted field), `limit`/`continue`, and for logs `sinceTime`, `sinceSeconds`, `tailLines`
and `timestamps`. Errors are `Status` objects; a wrong bearer token gets 401 and any method but GET 405 (and
is recorded, so a test can prove nothing wrote). `forbid` makes a resource answer 403 with the API server's
RBAC `Status`, as for a service account without that permission. `write_kubeconfig` points a kubeconfig at it.

The `k8s_*` builders make realistic objects for tests: a Deployment and its ReplicaSets, Pods, Events, Nodes.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from tests.fakes.loopback import LoopbackFake

Obj = dict[str, Any]
# resource -> (group/version, kind, namespaced)
RESOURCES: dict[str, tuple[str, str, bool]] = {
    "events": ("v1", "Event", True), "pods": ("v1", "Pod", True), "nodes": ("v1", "Node", False),
    "configmaps": ("v1", "ConfigMap", True), "secrets": ("v1", "Secret", True),
    "services": ("v1", "Service", True), "namespaces": ("v1", "Namespace", False),
    "persistentvolumeclaims": ("v1", "PersistentVolumeClaim", True),
    "deployments": ("apps/v1", "Deployment", True), "replicasets": ("apps/v1", "ReplicaSet", True),
    "statefulsets": ("apps/v1", "StatefulSet", True), "daemonsets": ("apps/v1", "DaemonSet", True),
    "jobs": ("batch/v1", "Job", True), "cronjobs": ("batch/v1", "CronJob", True),
    "horizontalpodautoscalers": ("autoscaling/v2", "HorizontalPodAutoscaler", True),
    "applications": ("argoproj.io/v1alpha1", "Application", True),
    "certificates": ("cert-manager.io/v1", "Certificate", True),
    "kustomizations": ("kustomize.toolkit.fluxcd.io/v1", "Kustomization", True),
}
# Served from another resource's objects, converted: the events.k8s.io view of the core events.
VIEWS: dict[tuple[str, str], tuple[str, str]] = {("events.k8s.io/v1", "events"): ("events", "Event")}
SERVICE_ACCOUNT = "system:serviceaccount:incidentbot:incidentbot"


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message

    def response(self) -> Response:
        return status_response(self.code, self.reason, self.message)


def status_response(code: int, reason: str, message: str, details: Obj | None = None) -> Response:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, **({"details": details} if details else {}), "code": code}
    return JSONResponse(body, code)


def forbidden(verb: str, resource: str, group_version: str, namespace: str | None, name: str | None = None) -> Response:
    """The API server's RBAC refusal, word for word."""
    group = group_version.rpartition("/")[0]
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    subject = f'{resource} "{name}"' if name else resource
    message = (f'{subject} is forbidden: User "{SERVICE_ACCOUNT}" cannot {verb} resource "{resource}" '
               f'in API group "{group}" {scope}')
    return status_response(403, "Forbidden", message, {**({"name": name} if name else {}), "group": group,
                                                      "kind": resource})


# --- selectors ------------------------------------------------------------------------------------


def _split_requirements(selector: str) -> list[str]:
    """Commas separate requirements, except inside `in (...)` sets."""
    parts, depth, current = [], 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [p.strip() for p in [*parts, current] if p.strip()]


def label_selector_matches(selector: str | None, labels: dict[str, str]) -> bool:
    """Kubernetes label selector semantics; raises ApiError(400) for one the API server would refuse."""
    for requirement in _split_requirements(selector or ""):
        if match := re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", requirement):
            key, op, values = match.group(1), match.group(2), {v.strip() for v in match.group(3).split(",")}
            inside = key in labels and labels[key] in values
            ok = inside if op == "in" else not inside
        elif match := re.fullmatch(r"([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)", requirement):
            key, op, value = match.groups()
            ok = labels.get(key) == value if op != "!=" else labels.get(key) != value
        elif match := re.fullmatch(r"(!?)([\w./-]+)", requirement):
            ok = (match.group(2) in labels) != bool(match.group(1))
        else:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {requirement!r}")
        if not ok:
            return False
    return True


def _field(obj: Obj, path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def field_selector_matches(selector: str | None, obj: Obj) -> bool:
    for requirement in _split_requirements(selector or ""):
        match = re.fullmatch(r"([\w.]+)\s*(==|=|!=)\s*(.*)", requirement)
        if match is None:
            raise ApiError(400, "BadRequest", f"invalid field selector: {requirement!r}")
        path, op, value = match.groups()
        if (_field(obj, path) == value) == (op == "!="):
            return False
    return True


# --- time -------------------------------------------------------------------------------------------


def rfc3339(at: datetime) -> str:
    """Seconds precision, as metav1.Time is written."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_nano(at: datetime) -> str:
    """Go's RFC3339Nano: up to nine fraction digits, trailing zeros dropped, as the kubelet writes log times."""
    at = at.astimezone(UTC)
    fraction = f"{at.microsecond:06d}000".rstrip("0")
    return at.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def _parse_time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", value))
    except ValueError as exc:
        raise ApiError(400, "BadRequest", f"invalid sinceTime {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- the fake -------------------------------------------------------------------------------------


class FakeKubernetes(LoopbackFake):
    """`objects` maps "events", "pods", "deployments", "replicasets", "nodes" to raw API objects (namespaced
    ones with `metadata.namespace`); `pod_logs` maps (namespace, pod) to the `(time, line)` log of the pod's
    first container, and (namespace, pod, container) to a given container's."""

    service = "kubernetes"

    def __init__(self, objects: dict[str, list[Obj]],
                 pod_logs: dict[tuple[str, ...], list[tuple[datetime, str]]] | None = None,
                 token: str = "test-token", forbidden: Iterable[str] = ()) -> None:
        unknown = (set(objects) | set(forbidden)) - set(RESOURCES)
        if unknown:
            raise ValueError(f"unknown resources {sorted(unknown)}")
        self.objects = {resource: copy.deepcopy(objects.get(resource, [])) for resource in RESOURCES}
        self.pod_logs = {key: sorted(lines, key=lambda line: line[0]) for key, lines in (pod_logs or {}).items()}
        self.token = token
        self.forbidden: set[str] = set(forbidden)
        super().__init__()

    def forbid(self, *resources: str) -> None:
        """These resources answer 403 Forbidden from now on, as without an RBAC rule for them."""
        unknown = set(resources) - set(RESOURCES)
        if unknown:
            raise ValueError(f"unknown resources {sorted(unknown)}")
        with self._lock:
            self.forbidden.update(resources)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/version", self._version),
            Route("/api", self._core_versions),
            Route("/apis", self._groups),
            Route("/api/{version}", self._resource_list),
            Route("/apis/{group}/{version}", self._resource_list),
            Route("/api/v1/namespaces/{namespace}/pods/{name}/log", self._log),
            *(Route(f"{prefix}/{{resource}}", self._list) for prefix in ("/api/{version}", "/apis/{group}/{version}")),
            *(Route(f"{prefix}/namespaces/{{namespace}}/{{resource}}", self._list)
              for prefix in ("/api/{version}", "/apis/{group}/{version}")),
            *(Route(f"{prefix}/{{resource}}/{{name}}", self._get)
              for prefix in ("/api/{version}", "/apis/{group}/{version}")),
            *(Route(f"{prefix}/namespaces/{{namespace}}/{{resource}}/{{name}}", self._get)
              for prefix in ("/api/{version}", "/apis/{group}/{version}")),
            Route("/{path:path}", self._not_found),
        ]

    def intercept(self, request: Request) -> Response | None:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return status_response(401, "Unauthorized", "Unauthorized")
        if request.method != "GET":
            return status_response(405, "MethodNotAllowed",
                                   "the server does not allow this method on the requested resource")
        return None

    def write_kubeconfig(self, path: str | Path, *, namespace: str = "default") -> Path:
        """A kubeconfig whose current context reaches this fake with its bearer token."""
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": self.token}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": namespace}}],
        }
        target = Path(path)
        target.write_text(yaml.safe_dump(config))
        return target

    # --- handlers -------------------------------------------------------------------------------

    async def _version(self, _request: Request) -> Response:
        return JSONResponse({"major": "1", "minor": "31", "gitVersion": "v1.31.0-fake", "platform": "linux/amd64"})

    async def _not_found(self, _request: Request) -> Response:
        return status_response(404, "NotFound", "the server could not find the requested resource")

    async def _core_versions(self, _request: Request) -> Response:
        address = {"clientCIDR": "0.0.0.0/0", "serverAddress": "10.0.0.1:443"}
        return JSONResponse({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [address]})

    async def _groups(self, _request: Request) -> Response:
        versions = sorted({gv for gv, _, _ in RESOURCES.values() if "/" in gv} | {gv for gv, _ in VIEWS})
        groups = [{"name": gv.split("/")[0], "versions": [{"groupVersion": gv, "version": gv.split("/")[1]}],
                   "preferredVersion": {"groupVersion": gv, "version": gv.split("/")[1]}} for gv in versions]
        return JSONResponse({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})

    async def _resource_list(self, request: Request) -> Response:
        params = request.path_params
        group_version = f"{params['group']}/{params['version']}" if "group" in params else params["version"]
        served = [(name, kind, namespaced) for name, (gv, kind, namespaced) in RESOURCES.items() if gv == group_version]
        served += [(name, kind, True) for (gv, name), (_, kind) in VIEWS.items() if gv == group_version]
        if not served:
            return status_response(404, "NotFound", "the server could not find the requested resource")
        resources = [{"name": name, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind,
                      "verbs": ["get", "list", "watch"]} for name, kind, namespaced in served]
        return JSONResponse({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
                             "resources": resources})

    async def _list(self, request: Request) -> Response:
        try:
            resource, namespace, view = self._resource(request)
            version, kind = self._served_as(resource, view)
            if resource in self.forbidden:
                return forbidden("list", request.path_params["resource"], version, namespace)
            params = request.query_params
            with self._lock:
                objects = [_as_view(o, view) for o in self.objects[resource]]
                items = [o for o in objects
                         if (namespace is None or o["metadata"].get("namespace") == namespace)
                         and label_selector_matches(params.get("labelSelector"), o["metadata"].get("labels") or {})
                         and field_selector_matches(params.get("fieldSelector"), o)]
            page, more = _paginate(items, params.get("limit"), params.get("continue"))
        except ApiError as exc:
            return exc.response()
        metadata: Obj = {"resourceVersion": "1", **({"continue": more} if more else {})}
        for item in page:  # list items carry no kind/apiVersion on the wire
            item.pop("kind", None)
            item.pop("apiVersion", None)
        return JSONResponse({"kind": f"{kind}List", "apiVersion": version, "metadata": metadata, "items": page})

    async def _get(self, request: Request) -> Response:
        try:
            resource, namespace, view = self._resource(request)
            version, kind = self._served_as(resource, view)
            if resource in self.forbidden:
                return forbidden("get", request.path_params["resource"], version, namespace,
                                 request.path_params["name"])
            found = _as_view(self._find(resource, namespace, request.path_params["name"]), view)
        except ApiError as exc:
            return exc.response()
        return JSONResponse({"kind": kind, "apiVersion": version, **found})

    async def _log(self, request: Request) -> Response:
        namespace, name = request.path_params["namespace"], request.path_params["name"]
        try:
            pod = self._pod_or_none(namespace, name)
            if pod is None and not any(key[:2] == (namespace, name) for key in self.pod_logs):
                raise ApiError(404, "NotFound", f'pods "{name}" not found')
            container = request.query_params.get("container")
            _check_container(pod, name, container)
            lines = _log_window(self._container_log(pod, namespace, name, container), request.query_params)
        except ApiError as exc:
            return exc.response()
        stamped = request.query_params.get("timestamps") == "true"
        text = "".join(f"{rfc3339_nano(at)} {line}\n" if stamped else f"{line}\n" for at, line in lines)
        return PlainTextResponse(text)

    # --- lookups ----------------------------------------------------------------------------------

    def _resource(self, request: Request) -> tuple[str, str | None, str | None]:
        """The stored resource a path names, its namespace and the view it is served through (the group/version
        of a converted view, or None), refusing resources served under another group or scope."""
        params = request.path_params
        resource, namespace = params["resource"], params.get("namespace")
        group_version = f"{params['group']}/{params['version']}" if "group" in params else params["version"]
        if (group_version, resource) in VIEWS:
            return VIEWS[(group_version, resource)][0], namespace, group_version
        known = RESOURCES.get(resource)
        if known is None or known[0] != group_version or (namespace is not None and not known[2]):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return resource, namespace, None

    @staticmethod
    def _served_as(resource: str, view: str | None) -> tuple[str, str]:
        """(apiVersion, kind) of what the answer holds."""
        if view is not None:
            return view, RESOURCES[resource][1]
        return RESOURCES[resource][0], RESOURCES[resource][1]

    def _container_log(self, pod: Obj | None, namespace: str, name: str,
                       container: str | None) -> list[tuple[datetime, str]]:
        """A container's own log if given, else the pod's log, which belongs to its first container."""
        if container and (namespace, name, container) in self.pod_logs:
            return self.pod_logs[(namespace, name, container)]
        first = next(iter(c["name"] for c in ((pod or {}).get("spec") or {}).get("containers") or []), None)
        return self.pod_logs.get((namespace, name), []) if container in (None, first) else []

    def _pod_or_none(self, namespace: str, name: str) -> Obj | None:
        try:
            return self._find("pods", namespace, name)
        except ApiError:
            return None

    def _find(self, resource: str, namespace: str | None, name: str) -> Obj:
        with self._lock:
            found = next((o for o in self.objects[resource] if o["metadata"]["name"] == name
                          and (namespace is None or o["metadata"].get("namespace") == namespace)), None)
        if found is None:
            singular = RESOURCES[resource][1].lower() + "s"
            raise ApiError(404, "NotFound", f'{singular} "{name}" not found')
        return copy.deepcopy(found)


def _as_view(obj: Obj, view: str | None) -> Obj:
    """A copy of a stored object as the view serves it: core events become events.k8s.io/v1 events."""
    obj = copy.deepcopy(obj)
    if view != "events.k8s.io/v1":
        return obj
    source = obj.get("source") or {}
    converted: Obj = {
        # Legacy events have no eventTime; the official clients insist on one, so the first sighting stands in.
        "metadata": obj["metadata"], "eventTime": obj.get("eventTime") or _micro(obj.get("firstTimestamp")),
        "reportingController": obj.get("reportingComponent") or source.get("component", ""),
        "reportingInstance": obj.get("reportingInstance") or source.get("host", ""),
        "action": obj.get("action", ""), "reason": obj.get("reason"), "regarding": obj.get("involvedObject"),
        "note": obj.get("message"), "type": obj.get("type"), "deprecatedSource": source,
        "deprecatedFirstTimestamp": obj.get("firstTimestamp"), "deprecatedLastTimestamp": obj.get("lastTimestamp"),
        "deprecatedCount": obj.get("count"),
    }
    if (obj.get("count") or 1) > 1:
        converted["series"] = {"count": obj["count"], "lastObservedTime": _micro(obj.get("lastTimestamp"))}
    return converted


def _micro(stamp: str | None) -> str | None:
    """metav1.MicroTime: six fraction digits."""
    return stamp.replace("Z", ".000000Z") if stamp else None


def _paginate(items: list[Obj], limit: str | None, token: str | None) -> tuple[list[Obj], str | None]:
    offset = int(json.loads(base64.b64decode(token))["offset"]) if token else 0
    if not limit or int(limit) <= 0:
        return items[offset:], None
    end = offset + int(limit)
    more = base64.b64encode(json.dumps({"offset": end}).encode()).decode() if end < len(items) else None
    return items[offset:end], more


def _check_container(pod: Obj | None, name: str, container: str | None) -> None:
    """A pod with several containers needs `container`, as the API server insists."""
    names = [c["name"] for c in ((pod or {}).get("spec") or {}).get("containers") or []]
    if container is None and len(names) > 1:
        raise ApiError(400, "BadRequest",
                       f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]")
    if container is not None and names and container not in names:
        raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {name}")


def _log_window(lines: list[tuple[datetime, str]], params: Any) -> list[tuple[datetime, str]]:
    """sinceTime or sinceSeconds first, then the last tailLines of what is left."""
    if "sinceTime" in params and "sinceSeconds" in params:
        raise ApiError(422, "Invalid", "at most one of sinceTime or sinceSeconds may be specified")
    since = None
    if "sinceTime" in params:
        since = _parse_time(params["sinceTime"])
    elif "sinceSeconds" in params:
        since = datetime.now(UTC) - timedelta(seconds=int(params["sinceSeconds"]))
    kept = [(at, line) for at, line in lines if since is None or _aware(at) >= since]
    if params.get("tailLines") is None:
        return kept
    tail = int(params["tailLines"])
    return kept[-tail:] if tail > 0 else []


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


# --- builders for realistic objects ------------------------------------------------------------------


def _digest(*parts: Any) -> str:
    """Stable across runs (unlike hash()), so object names are the same every time."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _meta(name: str, namespace: str | None, created: datetime, **extra: Any) -> Obj:
    meta: Obj = {"name": name, "uid": f"uid-{namespace or 'cluster'}-{name}", "resourceVersion": "1",
                 "creationTimestamp": rfc3339(created), **{k: v for k, v in extra.items() if v}}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def _template(labels: dict[str, str], image: str) -> Obj:
    name = image.rsplit("/", 1)[-1].split(":", 1)[0]
    return {"metadata": {"labels": labels}, "spec": {"containers": [{"name": name, "image": image}]}}


def k8s_deployment(name: str, namespace: str, *, image: str, revision: int, created: datetime,
                   labels: dict[str, str] | None = None, replicas: int = 3, ready: int | None = None) -> Obj:
    labels = labels or {"app": name}
    return {
        "metadata": _meta(name, namespace, created, labels=labels, generation=revision,
                          annotations={"deployment.kubernetes.io/revision": str(revision)}),
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": _template(labels, image)},
        "status": {"observedGeneration": revision, "replicas": replicas, "updatedReplicas": replicas,
                   "readyReplicas": replicas if ready is None else ready,
                   "availableReplicas": replicas if ready is None else ready},
    }


def k8s_replicaset(deployment: str, namespace: str, *, revision: int, image: str, created: datetime,
                   labels: dict[str, str] | None = None, change_cause: str | None = None, replicas: int = 0) -> Obj:
    """The ReplicaSet a Deployment made for one revision: named `<deployment>-<pod-template-hash>`."""
    pod_hash = _digest(deployment, revision, image)[:10]
    labels = {**(labels or {"app": deployment}), "pod-template-hash": pod_hash}
    annotations = {"deployment.kubernetes.io/revision": str(revision), "deployment.kubernetes.io/desired-replicas": "3",
                   **({"kubernetes.io/change-cause": change_cause} if change_cause else {})}
    owner = {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment,
             "uid": f"uid-{namespace}-{deployment}", "controller": True, "blockOwnerDeletion": True}
    return {
        "metadata": _meta(f"{deployment}-{pod_hash}", namespace, created, labels=labels, annotations=annotations,
                          ownerReferences=[owner]),
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": _template(labels, image)},
        "status": {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas},
    }


def k8s_pod(name: str, namespace: str, *, labels: dict[str, str], image: str, started: datetime,
            node: str = "node-1", phase: str = "Running", restarts: int = 0,
            last_termination: tuple[str, datetime] | None = None, sidecars: tuple[str, ...] = ()) -> Obj:
    """`last_termination` is (reason, finished at) of the container's previous run, e.g. ("OOMKilled", t);
    `sidecars` are names of further containers (an "istio-proxy"...)."""
    container = image.rsplit("/", 1)[-1].split(":", 1)[0]
    status: Obj = {"name": container, "image": image, "imageID": f"{image}@sha256:{'0' * 64}", "ready": True,
                   "restartCount": restarts, "started": True, "state": {"running": {"startedAt": rfc3339(started)}},
                   "lastState": {}}
    if last_termination:
        reason, finished = last_termination
        status["lastState"] = {"terminated": {"reason": reason, "exitCode": 137 if reason == "OOMKilled" else 1,
                                              "finishedAt": rfc3339(finished), "startedAt": rfc3339(started)}}
    return {
        "metadata": _meta(name, namespace, started, labels=labels),
        "spec": {"nodeName": node, "containers": [{"name": container, "image": image},
                                                  *({"name": s, "image": f"sidecar/{s}:1"} for s in sidecars)]},
        "status": {"phase": phase, "startTime": rfc3339(started), "containerStatuses": [status]},
    }


def k8s_event(namespace: str, *, reason: str, message: str, kind: str, name: str, at: datetime,
              type: str = "Normal", count: int = 1, first: datetime | None = None) -> Obj:
    """A core/v1 Event about `kind`/`name`, as the controllers and the kubelet record them."""
    involved = {"kind": kind, "name": name, "apiVersion": "apps/v1" if kind in ("Deployment", "ReplicaSet") else "v1",
                **({"namespace": namespace} if kind != "Node" else {})}
    return {
        "metadata": _meta(f"{name}.{_digest(reason, at)[:12]}", namespace, at),
        "involvedObject": involved, "reason": reason, "message": message, "type": type, "count": count,
        "firstTimestamp": rfc3339(first or at), "lastTimestamp": rfc3339(at),
        "source": {"component": "kubelet" if kind in ("Node", "Pod") else "deployment-controller"},
        "reportingComponent": "", "reportingInstance": "",
    }


def k8s_node(name: str, *, created: datetime, conditions: dict[str, tuple[str, datetime]],
             unschedulable: bool = False) -> Obj:
    """`conditions` maps a type (Ready, MemoryPressure...) to (status, last transition time)."""
    return {
        "metadata": _meta(name, None, created, labels={"kubernetes.io/hostname": name}),
        "spec": {"unschedulable": True} if unschedulable else {},
        "status": {"conditions": [{"type": kind, "status": status, "lastTransitionTime": rfc3339(at),
                                   "lastHeartbeatTime": rfc3339(at), "reason": f"Kubelet{kind}", "message": ""}
                                  for kind, (status, at) in conditions.items()]},
    }
