"""What the observability clients return: metric series, log lines and change events, source-neutral.

Every value carries the query that produced it, so an analysis can cite its evidence.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, Field


def aware(at: datetime) -> datetime:
    """A naive time, as the clients accept it, is taken as UTC."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)


class Sample(BaseModel):
    at: datetime
    value: float


class Series(BaseModel):
    """One metric series from a Prometheus instant or range query."""

    metric: str
    labels: dict[str, str] = Field(default_factory=dict)
    samples: list[Sample] = Field(default_factory=list)
    query: str


class LogLine(BaseModel):
    """One log line from Loki, Datadog or a pod's log."""

    at: datetime
    message: str
    level: str | None = None  # "error", "warn", "info"... when the source says
    labels: dict[str, str] = Field(default_factory=dict)  # Loki stream labels, Datadog service/host/tags, pod
    source: str  # "loki", "datadog", "kubernetes"
    query: str


class ChangeKind(StrEnum):
    DEPLOY = "deploy"
    FLAG = "flag"
    CONFIG = "config"
    SECRET = "secret"  # a Secret edited (rotated by an operator such as External Secrets, or by hand)
    SCALE = "scale"
    NODE = "node"
    CERTIFICATE = "certificate"
    JOB = "job"  # a Job or CronJob run
    AUTOSCALER = "autoscaler"  # an autoscaler reaching its limit
    GITOPS = "gitops"  # a GitOps controller's sync (Argo CD Application, Flux Kustomization)
    ALERT = "alert"
    OTHER = "other"


class ChangeEvent(BaseModel):
    """Something that changed (a rollout, a flag, a node condition) or happened (an alert), at a time."""

    at: datetime
    kind: ChangeKind
    subject: str  # what changed: deployment name, flag name, node name, config key
    component: str | None = None  # the service it belongs to, when known
    description: str
    source: str  # "kubernetes", "timeline", "prometheus"...
    query: str  # how it was found, to cite
    object_ref: str | None = None  # Deployment/payments, ConfigMap/shop/payments-config
    version: str | None = None  # the revision, image tag or resourceVersion it produced
    diff: list[str] = Field(default_factory=list)  # "env DB_POOL_SIZE: 20 -> 5", "data key: old -> new"


class ToolUnavailable(Exception):
    """A tool that is not configured (its URL or credentials unset): reported as unavailable, not an error."""


class ToolFailed(Exception):
    """A configured tool that answered with an error or not at all; the message says which and why."""
