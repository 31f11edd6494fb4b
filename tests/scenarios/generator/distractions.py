"""Changes near an incident that did not cause it: they leave the same kinds of traces as causes (rollouts,
edits, Jobs, syncs, scaling, certificate renewals, flag flips, cordons, warning bursts) and nothing follows them."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from tests.scenarios.generator.build import Build
from tests.scenarios.generator.causes import _argo_sync, _job_run
from tests.scenarios.generator.spec import Distraction

Step = Callable[[Build, Distraction], None]
PLAN: dict[str, Step] = {}
EFFECTS: dict[str, Step] = {}


def _plan(kind: str) -> Callable[[Step], Step]:
    def register(fn: Step) -> Step:
        PLAN[kind] = fn
        return fn
    return register


def _effects(kind: str) -> Callable[[Step], Step]:
    def register(fn: Step) -> Step:
        EFFECTS[kind] = fn
        return fn
    return register


@_plan("deploy")
def _deploy(b: Build, d: Distraction) -> None:
    svc = b.spec.service(d.target)
    at = b.at(d.at)
    if "env" in d.params:
        b.rollout(d.target, at, env={k: str(v) for k, v in d.params["env"].items()})
    else:
        b.rollout(d.target, at, image=b.image(svc, d.params.get("version", "9.9.9")),
                  change_cause=d.params.get("change_cause"))


@_plan("rollback")
def _rollback(b: Build, d: Distraction) -> None:
    svc = b.spec.service(d.target)
    at = b.at(d.at)
    b.rollout(d.target, at, image=b.image(svc, d.params.get("version", "9.9.9")))
    back = at + timedelta(minutes=d.params.get("after_minutes", 12))
    b.rollout(d.target, back, back_to=len(b.revisions[d.target]) - 2,
              change_cause=f"kubectl rollout undo deployment/{d.target} --to-revision="
                           f"{b.revisions[d.target][-2].number}")


@_effects("configmap")
def _configmap(b: Build, d: Distraction) -> None:
    at = b.at(d.at)
    key, old, new = d.params["key"], str(d.params["old"]), str(d.params["new"])
    ns = d.params.get("namespace") or b.namespace(d.target)
    data = {"LOG_FORMAT": "json", key: old}
    b.configmap(d.params.get("name", f"{d.target}-config"), ns, data,
                edits=[{"at": at, "data": {**data, key: new}, "manager": d.params.get("manager", "kubectl-edit")}])


@_effects("secret")
def _secret(b: Build, d: Distraction) -> None:
    at = b.at(d.at)
    ns = d.params.get("namespace") or b.namespace(d.target)
    name = d.params.get("name", f"{d.target}-api-token")
    b.configmap(name, ns, {"token": b.digest("token", 0, length=32)}, secret=True, manager="external-secrets",
                edits=[{"at": at, "manager": "external-secrets", "data": {"token": b.digest("token", 1, length=32)}}])
    b.event(at - timedelta(seconds=1), "Updated", "Updated Secret", "ExternalSecret", name, namespace=ns,
            source="external-secrets", api_version="external-secrets.io/v1beta1")


@_plan("scale")
def _scale(b: Build, d: Distraction) -> None:
    at = b.at(d.at)
    replicas = d.params.get("replicas", b.replicas[d.target] + 2)
    b.scaling[d.target].append((at, replicas))
    b.replica_changes[d.target].append((at, replicas))
    b.k8s["hpas"].append({"name": d.target, "namespace": b.namespace(d.target), "target": d.target,
                          "min_replicas": b.replicas[d.target], "max_replicas": d.params.get("max", replicas + 6),
                          "created": b.start - timedelta(days=90),
                          "history": [{"at": b.start, "replicas": b.replicas[d.target]},
                                      {"at": at, "replicas": replicas}]})


@_effects("cronjob")
def _cronjob(b: Build, d: Distraction) -> None:
    at = b.at(d.at)
    name = f"{d.target}-{int(at.timestamp()) // 60}"  # the CronJob controller names runs by scheduled minute
    _job_run(b, name, at, at + timedelta(minutes=d.params.get("minutes", 6)),
             namespace=d.params.get("namespace") or b.namespace(b.spec.incident.service), cronjob=d.target,
             image=d.params.get("image", f"{d.target}:1.0.3"), failed=d.params.get("failed", False))


@_effects("cert-renewal")
def _cert_renewal(b: Build, d: Distraction) -> None:
    at = b.at(d.at)
    ns = d.params.get("namespace") or b.namespace(b.spec.incident.service)
    source = "cert-manager-certificates-issuing"
    b.event(at, "Issuing", "Renewing certificate as renewal was scheduled at "
            f"{at:%Y-%m-%d %H:%M:%S} +0000 UTC", "Certificate", d.target, namespace=ns,
            source="cert-manager-certificates-trigger", api_version="cert-manager.io/v1")
    b.event(at + timedelta(seconds=3), "Requested", f'Created new CertificateRequest resource "{d.target}-2"',
            "Certificate", d.target, namespace=ns, source="cert-manager-certificates-request-manager",
            api_version="cert-manager.io/v1")
    b.event(at + timedelta(seconds=41), "Issuing", "The certificate has been successfully issued", "Certificate",
            d.target, namespace=ns, source=source, api_version="cert-manager.io/v1")
    host = d.params.get("host")
    if host:
        before = float(int((at + timedelta(days=20)).timestamp()))  # renewed 20 days before expiry
        after = float(int((at + timedelta(days=90)).timestamp()))
        b.certificates[host] = [(b.start, before), (at + timedelta(seconds=40), before),
                                (at + timedelta(seconds=41), after)]


@_effects("gitops-sync")
def _gitops_sync(b: Build, d: Distraction) -> None:
    at = b.at(d.at)
    revision = b.digest("git", d.target, "distraction", length=40, alphabet="0123456789abcdef")
    _argo_sync(b, d.target, at, revision, None)


@_effects("flag")
def _flag(b: Build, d: Distraction) -> None:
    at = b.at(d.at)
    flag_service = d.params.get("flag_service", "flagd")
    b.burst(flag_service, at + timedelta(seconds=40), at + timedelta(seconds=55), 6,
            [{"message": f"flag configuration changed | source=/etc/flagd/flags.flagd.json flags_changed={d.target}",
              "level": "info"}])
    existing = b.find_config(f"{flag_service}-flags")
    doc = {"flags": {d.target: {"state": "ENABLED", "variants": {"on": True, "off": False},
                                "defaultVariant": "on"}}}
    if existing is None:
        off = {"flags": {d.target: {**doc["flags"][d.target], "defaultVariant": "off"}}}
        b.configmap(f"{flag_service}-flags", b.namespace(flag_service),
                    {"flags.flagd.json": json.dumps(off, indent=2, sort_keys=True)}, manager="argocd-controller",
                    edits=[{"at": at, "manager": "kubectl-edit",
                            "data": {"flags.flagd.json": json.dumps(doc, indent=2, sort_keys=True)}}])
    elif any(e["at"] > at for e in existing["edits"]):
        _flag_between_edits(existing, d.target, doc["flags"][d.target], at)
    else:
        last = json.loads((existing["edits"][-1]["data"] if existing["edits"] else existing["data"])
                          ["flags.flagd.json"])
        last["flags"][d.target] = doc["flags"][d.target]
        existing["edits"].append({"at": at, "manager": "kubectl-edit",
                                  "data": {"flags.flagd.json": json.dumps(last, indent=2, sort_keys=True)}})
        existing["edits"].sort(key=lambda e: e["at"])


def _flag_between_edits(config: dict[str, Any], flag: str, enabled: dict[str, Any], at: datetime) -> None:
    """A flag turned on before a later edit of the same flags file: off in the documents before `at`, on in the
    edit at `at` and in every later document (each edit writes the whole file)."""
    def rewrite(data: dict[str, str], state: dict[str, Any]) -> dict[str, str]:
        doc = json.loads(data["flags.flagd.json"])
        doc["flags"][flag] = state
        return {"flags.flagd.json": json.dumps(doc, indent=2, sort_keys=True)}

    disabled = {**enabled, "defaultVariant": "off"}
    config["data"] = rewrite(config["data"], disabled)
    edits = sorted(config["edits"], key=lambda e: e["at"])
    before = [e for e in edits if e["at"] <= at]
    for edit in before:
        edit["data"] = rewrite(edit["data"], disabled)
    base = before[-1]["data"] if before else config["data"]
    for edit in edits[len(before):]:
        edit["data"] = rewrite(edit["data"], enabled)
    config["edits"] = [*before, {"at": at, "manager": "kubectl-edit", "data": rewrite(base, enabled)},
                       *edits[len(before):]]


@_effects("node-cordon")
def _cordon(b: Build, d: Distraction) -> None:
    at = b.at(d.at)
    node = b.node(d.target)
    node.taints.append({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule", "at": at})
    node.unschedulable = True
    b.event(at, "NodeNotSchedulable", f"Node {node.name} status is now: NodeNotSchedulable", "Node", node.name,
            host=node.name)


@_effects("warning-burst")
def _warnings(b: Build, d: Distraction) -> None:
    at = b.at(d.at)
    b.burst(d.target, at, at + timedelta(minutes=d.params.get("minutes", 15)), d.params.get("per_minute", 12),
            [{"message": d.params.get("message", "deprecated API version used | api=v1beta1 client=legacy-sdk"),
              "level": d.params.get("level", "warn")}])


@_effects("flux-reconcile")
def _flux(b: Build, d: Distraction) -> None:
    """A Flux Kustomization applying a commit: kustomize-controller's events and the Kustomization's status."""
    at = b.at(d.at)
    revision = f"main@sha1:{b.digest('flux', d.target, length=40, alphabet='0123456789abcdef')}"
    changed = d.params.get("changed", f"ConfigMap/{d.params.get('namespace', 'flux-system')}/{d.target}-values")
    api = "kustomize.toolkit.fluxcd.io/v1"
    b.event(at, "Progressing", f"{changed} configured", "Kustomization", d.target, namespace="flux-system",
            source="kustomize-controller", api_version=api)
    b.event(at + timedelta(seconds=3), "ReconciliationSucceeded",
            "Reconciliation finished in 2.41s, next run in 10m0s", "Kustomization", d.target,
            namespace="flux-system", source="kustomize-controller", api_version=api)
    stamp = (at + timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    b.custom["kustomizations"].append({
        "apiVersion": api, "kind": "Kustomization",
        "metadata": {"name": d.target, "namespace": "flux-system", "uid": b.digest("ks", d.target, length=12),
                     "creationTimestamp": (b.start - timedelta(days=200)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "resourceVersion": "51234"},
        "spec": {"interval": "10m0s", "path": f"./clusters/prod/{d.target}", "prune": True,
                 "sourceRef": {"kind": "GitRepository", "name": "flux-system"}},
        "status": {"lastAppliedRevision": revision, "lastAttemptedRevision": revision,
                   "conditions": [{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded",
                                   "message": f"Applied revision: {revision}", "lastTransitionTime": stamp}]}})
