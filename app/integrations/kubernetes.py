"""Read-only Kubernetes client: events, pods, deployments, rollout history, nodes, pod logs and the changes
(rollouts, scaling, node trouble, warnings) in a time window.

It uses the official `kubernetes` client for configuration, authentication and transport, with its own
ApiClient per kubeconfig (never the process-wide default), and asks for raw JSON (`_preload_content=False`):
the client's generated model classes differ between releases (`V1Event` became `CoreV1Event`), and the log
endpoint answers plain text that the client would otherwise try to deserialize. The client is synchronous,
so every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import urllib3
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from pydantic import BaseModel, Field

from app.integrations.logs import line_level
from app.integrations.telemetry import ChangeEvent, ChangeKind, LogLine, ToolFailed, ToolUnavailable, aware

NAME = "Kubernetes"
REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
COMPONENT_LABELS = ("app.kubernetes.io/name", "app", "service")
SCALE_REASONS = frozenset({"ScalingReplicaSet", "SuccessfulRescale"})
# The kubelet's own reasons (it reports memory pressure as NodeHasInsufficientMemory).
NODE_REASONS = frozenset({"NodeNotReady", "NodeHasDiskPressure", "NodeHasInsufficientMemory", "NodeHasMemoryPressure",
                          "NodeHasInsufficientPID", "Evicted", "EvictionThresholdMet", "Rebooted"})
Obj = dict[str, Any]
# Every kind the analysis reads, by its REST path (group/version, plural, namespaced). Read-only: only lists.
PATHS: dict[str, tuple[str, bool]] = {
    "events": ("api/v1", True), "pods": ("api/v1", True), "nodes": ("api/v1", False),
    "services": ("api/v1", True), "configmaps": ("api/v1", True), "secrets": ("api/v1", True),
    "persistentvolumeclaims": ("api/v1", True),
    "deployments": ("apis/apps/v1", True), "replicasets": ("apis/apps/v1", True),
    "statefulsets": ("apis/apps/v1", True), "daemonsets": ("apis/apps/v1", True),
    "controllerrevisions": ("apis/apps/v1", True),
    "jobs": ("apis/batch/v1", True), "cronjobs": ("apis/batch/v1", True),
    "horizontalpodautoscalers": ("apis/autoscaling/v2", True),
}
# The generated client's method names: list_namespaced_<singular>, list_<singular>_for_all_namespaces.
SINGULAR = {"events": "event", "pods": "pod", "nodes": "node", "services": "service", "configmaps": "config_map",
            "persistentvolumeclaims": "persistent_volume_claim",
            "secrets": "secret", "deployments": "deployment", "replicasets": "replica_set",
            "statefulsets": "stateful_set", "daemonsets": "daemon_set", "controllerrevisions": "controller_revision",
            "jobs": "job", "cronjobs": "cron_job", "horizontalpodautoscalers": "horizontal_pod_autoscaler"}


class K8sEvent(BaseModel):
    at: datetime | None  # lastTimestamp, else eventTime, else firstTimestamp
    type: str  # "Normal" or "Warning"
    reason: str
    message: str
    object_kind: str
    object_name: str
    namespace: str | None = None
    count: int = 1
    first_at: datetime | None = None  # firstTimestamp (or eventTime): when it began, if it repeated


class PodInfo(BaseModel):
    name: str
    namespace: str
    node: str | None = None
    phase: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    containers: list[str] = Field(default_factory=list)  # names, the main one first, as the spec lists them
    restarts: int = 0  # over all containers
    last_termination_reason: str | None = None  # the latest container termination: "OOMKilled", "Error"...
    start_time: datetime | None = None


class DeploymentInfo(BaseModel):
    name: str
    namespace: str
    labels: dict[str, str] = Field(default_factory=dict)
    images: list[str] = Field(default_factory=list)
    revision: int | None = None
    replicas: int = 0
    ready_replicas: int = 0


class Revision(BaseModel):
    """One entry of `kubectl rollout history`: a ReplicaSet the deployment owns."""

    revision: int
    created: datetime | None = None
    images: list[str] = Field(default_factory=list)
    change_cause: str | None = None
    replicaset: str
    replicas: int = 0  # pods it runs now: the live revision has them, old ones have 0


class NodeCondition(BaseModel):
    type: str  # Ready, MemoryPressure, DiskPressure, PIDPressure, NetworkUnavailable...
    status: str  # "True", "False", "Unknown"
    last_transition_time: datetime | None = None


class NodeInfo(BaseModel):
    name: str
    conditions: list[NodeCondition] = Field(default_factory=list)
    unschedulable: bool = False  # cordoned


class KubernetesClient:
    """Reads one cluster through the kubeconfig given (its current context unless `context` is set)."""

    def __init__(self, kubeconfig: str | Path, *, context: str | None = None, timeout: float = 10.0) -> None:
        path = Path(kubeconfig).expanduser()
        if not path.is_file():
            raise ToolUnavailable(f"{NAME}: kubeconfig {path} not found")
        try:  # persist_config=False: a token refresh must not rewrite the operator's file
            self._api = k8s_config.new_client_from_config(str(path), context=context, persist_config=False)
        except (k8s_config.ConfigException, yaml.YAMLError, ValueError, KeyError, TypeError) as exc:
            raise ToolFailed(f"{NAME}: kubeconfig {path} unusable: {' '.join(str(exc).split())}") from exc
        self.timeout = timeout
        self._core, self._apps = k8s.CoreV1Api(self._api), k8s.AppsV1Api(self._api)
        self._groups = {"api/v1": self._core, "apis/apps/v1": self._apps, "apis/batch/v1": k8s.BatchV1Api(self._api),
                        "apis/autoscaling/v2": k8s.AutoscalingV2Api(self._api)}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await asyncio.to_thread(self._api.close)

    # --- reads --------------------------------------------------------------------------------

    async def events(self, namespace: str | None = None) -> list[K8sEvent]:
        return [_event(item) for item in await self._list("events", namespace)]

    async def pods(self, namespace: str | None, label_selector: str | None = None) -> list[PodInfo]:
        """The namespace's pods, or every namespace's with None."""
        return [_pod(item) for item in await self._list("pods", namespace, label_selector)]

    async def deployments(self, namespace: str | None, label_selector: str | None = None) -> list[DeploymentInfo]:
        return [_deployment(item) for item in await self._list("deployments", namespace, label_selector)]

    async def rollout_history(self, namespace: str, deployment: str) -> list[Revision]:
        """The deployment's revisions, oldest first, from the ReplicaSets it owns (as kubectl does)."""
        owned = [rs for rs in await self._list("replicasets", namespace) if _owner(rs, "Deployment") == deployment]
        return sorted((_revision(rs) for rs in owned if _revision_number(rs) is not None),
                      key=lambda r: r.revision)

    async def nodes(self) -> list[NodeInfo]:
        return [_node(item) for item in await self._list("nodes", None)]

    async def pod_logs(
        self, namespace: str, pod: str, since: datetime | None = None, tail_lines: int | None = None,
        *, container: str | None = None,
    ) -> list[LogLine]:
        """The pod's log lines (from `since`, the last `tail_lines`), each timestamped by the kubelet.
        A pod with several containers needs `container`.

        The API takes `sinceSeconds` (the generated client has no `sinceTime`), so the request asks for a
        little more and lines before `since` are dropped here.
        """
        params: dict[str, Any] = {"timestamps": True, "container": container, "tail_lines": tail_lines}
        if since is not None:
            params["since_seconds"] = max(1, math.ceil((datetime.now(UTC) - aware(since)).total_seconds()) + 1)
        raw = await self._call(self._core.read_namespaced_pod_log, pod, namespace,
                               **{k: v for k, v in params.items() if v is not None})
        query = _kubectl_logs(namespace, pod, since, tail_lines, container)
        labels = {"namespace": namespace, "pod": pod, **({"container": container} if container else {})}
        lines = [_log_line(text, labels, query) for text in raw.decode("utf-8", "replace").splitlines()]
        return [line for line in lines if since is None or line.at >= aware(since)]

    # --- changes ------------------------------------------------------------------------------

    async def change_events(self, namespace: str | None, start: datetime, end: datetime) -> list[ChangeEvent]:
        """Rollouts (ReplicaSet revisions created in the window), scaling, node trouble and other warnings."""
        replicasets, deployments, events = await asyncio.gather(
            self._list("replicasets", namespace), self._list("deployments", namespace),
            self._list("events", namespace))
        window = (aware(start), aware(end))
        index = _Index(replicasets, deployments)
        found = [*_rollouts(replicasets, index, window, namespace),
                 *(c for e in events if (c := _event_change(e, index, window, namespace)) is not None)]
        return sorted(found, key=lambda c: c.at)

    async def objects(self, resource: str, namespace: str | None = None) -> list[Obj]:
        """The raw JSON items of any kind in PATHS, in one namespace or all (lists only, never a write)."""
        return await self._list(resource, namespace)

    # --- transport ----------------------------------------------------------------------------

    async def _list(self, what: str, namespace: str | None, label_selector: str | None = None) -> list[Obj]:
        api = self._groups[PATHS[what][0]]
        singular = SINGULAR[what]
        kwargs = {"label_selector": label_selector} if label_selector else {}
        if not PATHS[what][1]:
            raw = await self._call(getattr(api, f"list_{singular}"), **kwargs)
        elif namespace:
            raw = await self._call(getattr(api, f"list_namespaced_{singular}"), namespace, **kwargs)
        else:
            raw = await self._call(getattr(api, f"list_{singular}_for_all_namespaces"), **kwargs)
        return list(json.loads(raw).get("items") or [])

    async def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> bytes:
        """The raw body of one API call, in a worker thread; failures become a one-line ToolFailed."""
        def call() -> bytes:
            response = method(*args, _preload_content=False, _request_timeout=self.timeout, **kwargs)
            return bytes(response.data)

        try:
            return await asyncio.to_thread(call)
        except ApiException as exc:
            if not exc.status:  # the client reports TLS failures as status 0: no answer came
                raise ToolFailed(f"{NAME} at {self._api.configuration.host} unreachable: {exc.reason}") from exc
            raise ToolFailed(f"{NAME}: {exc.status} {exc.reason}: {_status_message(exc.body)}") from exc
        except urllib3.exceptions.HTTPError as exc:
            host = self._api.configuration.host
            raise ToolFailed(f"{NAME} at {host} unreachable: {_transport_reason(exc, self.timeout)}") from exc


# --- JSON objects to models ------------------------------------------------------------------


def _event(item: Obj) -> K8sEvent:
    involved, meta = item.get("involvedObject") or {}, item.get("metadata") or {}
    last = _time(item.get("lastTimestamp")) or _time(item.get("eventTime")) or _time(item.get("firstTimestamp"))
    first = _time(item.get("firstTimestamp")) or _time(item.get("eventTime")) or last
    return K8sEvent(at=last or _time(meta.get("creationTimestamp")), type=item.get("type") or "",
                    reason=item.get("reason") or "", message=(item.get("message") or "").strip(),
                    object_kind=involved.get("kind") or "", object_name=involved.get("name") or "",
                    namespace=involved.get("namespace") or meta.get("namespace"), count=item.get("count") or 1,
                    first_at=first)


def _pod(item: Obj) -> PodInfo:
    meta, spec, status = item.get("metadata") or {}, item.get("spec") or {}, item.get("status") or {}
    statuses = status.get("containerStatuses") or []
    return PodInfo(name=meta.get("name", ""), namespace=meta.get("namespace", ""), node=spec.get("nodeName"),
                   phase=status.get("phase"), labels=meta.get("labels") or {},
                   containers=[c["name"] for c in spec.get("containers") or [] if c.get("name")],
                   restarts=sum(s.get("restartCount") or 0 for s in statuses),
                   last_termination_reason=_last_termination(statuses), start_time=_time(status.get("startTime")))


def _last_termination(statuses: list[Obj]) -> str | None:
    """The reason of the most recent termination of any container, current or previous."""
    ended = [t for s in statuses for t in ((s.get("state") or {}).get("terminated"),
                                           (s.get("lastState") or {}).get("terminated")) if t]
    ended.sort(key=lambda t: _time(t.get("finishedAt")) or datetime.min.replace(tzinfo=UTC))
    return ended[-1].get("reason") if ended else None


def _deployment(item: Obj) -> DeploymentInfo:
    meta, spec, status = item.get("metadata") or {}, item.get("spec") or {}, item.get("status") or {}
    return DeploymentInfo(name=meta.get("name", ""), namespace=meta.get("namespace", ""),
                          labels=meta.get("labels") or {}, images=_images(spec), revision=_revision_number(item),
                          replicas=spec.get("replicas", 1), ready_replicas=status.get("readyReplicas") or 0)


def _revision(rs: Obj) -> Revision:
    meta = rs.get("metadata") or {}
    cause = (meta.get("annotations") or {}).get(CHANGE_CAUSE)
    return Revision(revision=_revision_number(rs) or 0, created=_time(meta.get("creationTimestamp")),
                    images=_images(rs.get("spec") or {}), change_cause=cause,
                    replicaset=meta.get("name", ""), replicas=(rs.get("status") or {}).get("replicas") or 0)


def _node(item: Obj) -> NodeInfo:
    conditions = [NodeCondition(type=c.get("type", ""), status=c.get("status", ""),
                                last_transition_time=_time(c.get("lastTransitionTime")))
                  for c in (item.get("status") or {}).get("conditions") or []]
    return NodeInfo(name=(item.get("metadata") or {}).get("name", ""), conditions=conditions,
                    unschedulable=bool((item.get("spec") or {}).get("unschedulable")))


def _images(spec: Obj) -> list[str]:
    """Container images of a Deployment's or ReplicaSet's pod template."""
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    return [c["image"] for c in containers if c.get("image")]


def _revision_number(item: Obj) -> int | None:
    value = ((item.get("metadata") or {}).get("annotations") or {}).get(REVISION)
    return int(value) if value and str(value).isdigit() else None


def _owner(item: Obj, kind: str) -> str | None:
    """The name of the object of `kind` controlling this one (a ReplicaSet's Deployment)."""
    refs = (item.get("metadata") or {}).get("ownerReferences") or []
    return next((r.get("name") for r in refs if r.get("kind") == kind and r.get("controller", True)), None)


def _log_line(text: str, labels: dict[str, str], query: str) -> LogLine:
    """`<RFC3339Nano> <message>`, as the kubelet writes it when asked for timestamps."""
    stamp, _, message = text.partition(" ")
    at = _time(stamp)
    if at is None:  # not a timestamp after all: keep the whole line
        at, message = datetime.fromtimestamp(0, UTC), text
    return LogLine(at=at, message=message, level=line_level(message), labels=labels, source="kubernetes",
                   query=query)


# --- changes -----------------------------------------------------------------------------------


class _Index:
    """Who owns what: the deployment behind a ReplicaSet or pod, and the service it belongs to."""

    def __init__(self, replicasets: list[Obj], deployments: list[Obj]) -> None:
        self.deployments = {_key(d): d for d in deployments}
        self.rs_owner = {_key(rs): _owner(rs, "Deployment") for rs in replicasets}
        self.replicasets = replicasets

    def deployment_of(self, kind: str, name: str, namespace: str) -> str | None:
        if kind in ("Deployment", "HorizontalPodAutoscaler"):
            return name
        if kind == "ReplicaSet":
            return self.rs_owner.get((namespace, name))
        if kind == "Pod":  # <replicaset>-<suffix>
            return self.rs_owner.get((namespace, name.rsplit("-", 1)[0]))
        return None

    def component(self, deployment: str | None, namespace: str, fallback: Obj | None = None) -> str | None:
        if deployment is None:
            return None
        for item in (self.deployments.get((namespace, deployment)), fallback):
            labels = ((item or {}).get("metadata") or {}).get("labels") or {}
            found = next((labels[k] for k in COMPONENT_LABELS if labels.get(k)), None)
            if found:
                return str(found)
        return deployment


def _rollouts(replicasets: list[Obj], index: _Index, window: tuple[datetime, datetime],
              namespace: str | None) -> list[ChangeEvent]:
    changes = []
    for rs in replicasets:
        meta, number, deployment = rs.get("metadata") or {}, _revision_number(rs), _owner(rs, "Deployment")
        created = _time(meta.get("creationTimestamp"))
        if number is None or deployment is None or created is None or not window[0] <= created <= window[1]:
            continue
        ns = meta.get("namespace", namespace or "")
        changes.append(ChangeEvent(
            at=created, kind=ChangeKind.DEPLOY, subject=deployment, component=index.component(deployment, ns, rs),
            description=_rollout_text(rs, deployment, number, _previous(index.replicasets, rs, deployment, number)),
            source="kubernetes", query=f"kubectl rollout history deployment/{deployment} -n {ns} --revision={number}"))
    return changes


def _previous(replicasets: list[Obj], rs: Obj, deployment: str, number: int) -> Obj | None:
    """The same deployment's revision just before `number`, if its ReplicaSet is still kept."""
    namespace = _key(rs)[0]
    older = [r for r in replicasets if _owner(r, "Deployment") == deployment and _key(r)[0] == namespace
             and (_revision_number(r) or 0) < number]
    return max(older, key=lambda r: _revision_number(r) or 0, default=None)


def _rollout_text(rs: Obj, deployment: str, number: int, previous: Obj | None) -> str:
    """Reads like: payments rolled out revision 7 (image reg/payments:v2.14.0, was reg/payments:v2.13.1;
    change-cause ...)."""
    images = ", ".join(_images(rs.get("spec") or {})) or "unknown"
    details = [f"image {images}"]
    old = ", ".join(_images(previous.get("spec") or {})) if previous else ""
    if old and old != images:
        details[0] += f", was {old}"
    cause = ((rs.get("metadata") or {}).get("annotations") or {}).get(CHANGE_CAUSE)
    if cause:
        details.append(f"change-cause {cause}")
    return f"{deployment} rolled out revision {number} ({'; '.join(details)})"


def _event_change(item: Obj, index: _Index, window: tuple[datetime, datetime],
                  namespace: str | None) -> ChangeEvent | None:
    """Scaling and node trouble of any type, and any other Warning, first seen (or last seen) in the window."""
    event = _event(item)
    if event.reason in SCALE_REASONS:
        kind = ChangeKind.SCALE
    elif event.reason in NODE_REASONS:
        kind = ChangeKind.NODE
    elif event.type == "Warning":
        kind = ChangeKind.OTHER
    else:
        return None
    at = next((t for t in (event.first_at, event.at) if t and window[0] <= t <= window[1]), None)
    if at is None:
        return None
    ns = event.namespace or namespace or ""
    deployment = index.deployment_of(event.object_kind, event.object_name, ns)
    repeat = f" (x{event.count})" if event.count > 1 else ""
    where = f"-n {ns}" if ns else "-A"
    return ChangeEvent(
        at=at, kind=kind, subject=event.object_name, component=index.component(deployment, ns),
        description=f"{event.reason} on {event.object_kind}/{event.object_name}: {event.message}{repeat}",
        source="kubernetes",
        query=f"kubectl get events {where} --field-selector reason={event.reason},"
              f"involvedObject.name={event.object_name}")


# --- small parsers ------------------------------------------------------------------------------


def _key(item: Obj) -> tuple[str, str]:
    meta = item.get("metadata") or {}
    return meta.get("namespace", ""), meta.get("name", "")


def _time(value: Any) -> datetime | None:
    """RFC 3339 as the API server and kubelet write it (up to nanoseconds, `Z`), as an aware datetime."""
    if not value or not isinstance(value, str):
        return None
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.strip())  # microseconds are as fine as datetime goes
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)



def _status_message(body: Any) -> str:
    """The `message` of the Status object an API server error carries."""
    try:
        status = json.loads(body or "")
    except (TypeError, ValueError):
        return " ".join(str(body or "").split())[:200] or "no message"
    return str(status.get("message") or status.get("reason") or "no message") if isinstance(status, dict) else "?"


def _transport_reason(exc: urllib3.exceptions.HTTPError, timeout: float) -> str:
    """'connection refused', 'timed out after 10s'... from urllib3's nested retry errors."""
    cause = getattr(exc, "reason", None) or exc
    # NewConnectionError subclasses ConnectTimeoutError, yet a refused connection did not time out.
    errors = urllib3.exceptions
    if isinstance(cause, errors.TimeoutError) and not isinstance(cause, errors.NewConnectionError):
        return f"timed out after {timeout:g}s"
    match = re.search(r"\[Errno -?\d+\]\s*([^'\")]+)", str(cause))
    text = match.group(1).strip() if match else type(cause).__name__
    return text[:1].lower() + text[1:]


def _kubectl_logs(namespace: str, pod: str, since: datetime | None, tail: int | None, container: str | None) -> str:
    parts = [f"kubectl logs -n {namespace} {pod}", "--timestamps"]
    parts += [f"-c {container}"] if container else []
    parts += [f"--since-time={aware(since).isoformat().replace('+00:00', 'Z')}"] if since else []
    parts += [f"--tail={tail}"] if tail is not None else []
    return " ".join(parts)
