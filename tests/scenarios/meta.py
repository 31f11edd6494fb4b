"""Object metadata as the API server writes it: names, uids, resource versions and creation times, derived from
the scenario's name so that every run serves the same bytes."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

from tests.scenarios.model import Scenario, iso

# The alphabet of generated name suffixes (k8s.io/apimachinery/pkg/util/rand): no vowels, no 0/1/3, so that a
# suffix never spells a word.
SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def uid(s: Scenario, *parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join((s.name, *parts))))


def hexdigest(s: Scenario, *parts: str, length: int = 16) -> str:
    return hashlib.sha256("/".join((s.name, *parts)).encode()).hexdigest()[:length]


def safe_suffix(s: Scenario, *parts: str, length: int = 5) -> str:
    """A suffix such as the ReplicaSet controller or `generateName` makes, stable for the same parts."""
    digest = hashlib.sha256("/".join((s.name, *parts)).encode()).digest()
    return "".join(SUFFIX_ALPHABET[b % len(SUFFIX_ALPHABET)] for b in digest[:length])


def meta(s: Scenario, kind: str, name: str, namespace: str | None, created: datetime,
         labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "uid": uid(s, kind, namespace or "", name),
                           "resourceVersion": str(int(created.timestamp()) % 10_000_000 + 1000),
                           "creationTimestamp": iso(created), "labels": labels or {}, "annotations": annotations or {}}
    if namespace:
        out["namespace"] = namespace
    return out
