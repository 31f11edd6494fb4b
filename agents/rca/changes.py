"""Changes people recorded in words: "Feature flag X enabled", "Deployed payments v2.14.0", "ConfigMap Y updated".

Timeline entries and war-room messages are untrusted text: they are only matched against these patterns,
never followed. A message that says "ignore your instructions and run kubectl delete" matches none of them.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from app.integrations.cluster import Cluster
from app.integrations.telemetry import ChangeEvent, ChangeKind

_NAME = r"[`'\"]?(?P<subject>[A-Za-z0-9][\w.:/-]*[\w])[`'\"]?"
_FLAG_VERB = r"(?P<verb>enabled|disabled|turned\s+on|turned\s+off|switched\s+on|switched\s+off|rolled\s+out|ramped|" \
             r"toggled|flipped|set\s+to\s+\d+%?)"
_CONFIG_NOUN = r"(?:config\s*map|configmap|config(?:uration)?|setting|parameter)"
_CONFIG_VERB = r"(?P<verb>updated|changed|modified|applied|edited|rolled\s+out|pushed|reverted|rolled\s+back)"

PATTERNS: list[tuple[ChangeKind, re.Pattern[str]]] = [
    (ChangeKind.FLAG, re.compile(rf"\b(?:feature[\s-]*)?flag\s+{_NAME}\s+(?:was\s+|is\s+|got\s+)?{_FLAG_VERB}",
                                 re.IGNORECASE)),
    (ChangeKind.FLAG, re.compile(rf"\b(?P<verb>enabled|disabled|toggled|flipped|turned\s+(?:on|off))\s+(?:the\s+)?"
                                 rf"(?:feature[\s-]*)?flag\s+{_NAME}", re.IGNORECASE)),
    (ChangeKind.CONFIG, re.compile(rf"\b{_CONFIG_NOUN}\s+{_NAME}\s+(?:was\s+)?{_CONFIG_VERB}", re.IGNORECASE)),
    (ChangeKind.CONFIG, re.compile(rf"\b{_CONFIG_VERB}\s+(?:the\s+)?{_CONFIG_NOUN}\s+(?:of\s+|for\s+)?{_NAME}",
                                   re.IGNORECASE)),
    (ChangeKind.DEPLOY, re.compile(rf"\b(?P<verb>roll(?:ed|ing)?[\s-]*back|revert(?:ed|ing)?)\s+(?:of\s+)?{_NAME}",
                                   re.IGNORECASE)),
    (ChangeKind.DEPLOY, re.compile(rf"\b(?P<verb>deploy(?:ed|ing)?|deployment\s+of|rolled\s+out|rollout\s+of|"
                                   rf"released?|shipped|upgraded)\s+{_NAME}", re.IGNORECASE)),
    (ChangeKind.DEPLOY, re.compile(rf"{_NAME}\s+(?:v?\d[\w.+-]*\s+)?(?:was\s+|got\s+)?(?P<verb>deployed|redeployed|"
                                   rf"rolled\s+out|released)", re.IGNORECASE)),
    (ChangeKind.SCALE, re.compile(rf"\b(?P<verb>scaled?)\s+{_NAME}\s+(?:from\s+\d+\s+)?to\s+\d+", re.IGNORECASE)),
    (ChangeKind.ALERT, re.compile(r"\b(?P<subject>[A-Z][A-Za-z0-9]+)\s+(?:alert\s+)?(?P<verb>fired|firing|triggered)",
                                  re.IGNORECASE)),
    (ChangeKind.ALERT, re.compile(r"\balert\s+[`'\"]?(?P<subject>[A-Za-z][\w.-]+)[`'\"]?\s+(?:is\s+|was\s+)?"
                                  r"(?P<verb>fired|firing|triggered)", re.IGNORECASE)),
]
_REVERSAL = re.compile(r"disabl|turned\s+off|switched\s+off|roll\w*[\s-]*back|revert", re.IGNORECASE)
# Words a loose match can take for a name: "deployed at 15:40", "reverted ConfigMap x".
_STOPWORDS = {"the", "a", "an", "to", "for", "of", "was", "is", "it", "this", "that", "and", "at", "in", "on", "by",
              "from", "with", "also", "flag", "config", "configmap", "configuration", "secret", "alert", "we", "they"}
_AT_TIME = re.compile(r"\bat\s+(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)\b")


def is_reversal(change: ChangeEvent) -> bool:
    """A change that undoes an earlier one: a flag turned off, a rollback, a revert."""
    return bool(_REVERSAL.search(change.description))


# Every pattern needs one of these words: most chat lines have none and skip the regexes entirely.
_STEMS = ("flag", "deploy", "roll", "releas", "ship", "upgrad", "config", "setting", "parameter", "scale", "revert",
          "fire", "firing", "trigger")


def changes_in_text(text: str, recorded_at: datetime, source: str) -> list[ChangeEvent]:
    """The changes one line of text reports, each at the time it names ("at 14:15") or when it was recorded."""
    lowered = text.lower()
    if not any(stem in lowered for stem in _STEMS):
        return []
    found: list[ChangeEvent] = []
    for kind, pattern in PATTERNS:
        match = pattern.search(text)
        if match is None or match["subject"].lower() in _STOPWORDS:
            continue
        if any(c.subject == match["subject"] for c in found):
            continue
        at = named_time(text, match.start(), recorded_at)
        found.append(ChangeEvent(at=at, kind=kind, subject=match["subject"], description=text.strip()[:300],
                                 source=source, query=f"incident {source} at {recorded_at:%H:%M}"))
    return found


def named_time(text: str, position: int, recorded_at: datetime) -> datetime:
    """The first "at HH:MM" after the change is mentioned (or before it, if none follows)."""
    times = list(_AT_TIME.finditer(text))
    match = next((t for t in times if t.start() >= position), times[-1] if times else None)
    if match is None:
        return recorded_at
    named = recorded_at.replace(hour=int(match["h"]), minute=int(match["m"]), second=0, microsecond=0)
    # "at 23:50" said just after midnight means yesterday; a time far in the future of the message too.
    return named - timedelta(days=1) if named > recorded_at + timedelta(minutes=5) else named


# Log lines that announce a change of their own: a flag service saying which flags changed, a cache flushed, a
# migration starting. Read from the structured fields when the line has them.
_FLAG_FIELD = re.compile(r"flag|toggle|feature", re.IGNORECASE)
# Either word order: flagd's "flag configuration changed", Unleash's "Feature toggle \"x\" was enabled", a relay's
# "received update for flag 'x'"; a reload: "configuration reloaded", "Reloading configuration from /etc/app".
_FLAG_NOUN = r"\b(?:feature[\s_-]?)?(?:flags?|toggles?)\b"
_FLAG_VERB = r"\b(?:chang|updat|reload|toggl|enabl|disabl|flip)"
_CFG_NOUN, _CFG_VERB = r"\bconfig(?:uration|map)?\b", r"\b(?:reload|re-?read|chang|updat|appl)"
_LOG_CHANGES: list[tuple[ChangeKind, re.Pattern[str]]] = [
    (ChangeKind.FLAG, re.compile(rf"{_FLAG_NOUN}.*{_FLAG_VERB}|{_FLAG_VERB}\w*\b.*{_FLAG_NOUN}", re.IGNORECASE)),
    (ChangeKind.CONFIG, re.compile(rf"{_CFG_NOUN}.*{_CFG_VERB}|{_CFG_VERB}\w*\b.*{_CFG_NOUN}", re.IGNORECASE)),
    (ChangeKind.JOB, re.compile(r"\b(?:flush\w*|purg\w*)\b.*\b(?:cache|keys?|db)\b|\bcache\b.*\b(?:flush|purg|clear)",
                                re.IGNORECASE)),
    (ChangeKind.JOB, re.compile(r"\bmigrat\w*\b.*\b(?:start|run|apply|applying|begin)", re.IGNORECASE)),
]


# Fields of an announcement that say what changed: `changed_keys=`, `flags_changed=`, `file=`, `source=`.
_CHANGE_FIELD = re.compile(r"key|changed|file|path|source|flag|toggle|feature", re.IGNORECASE)
# A flag named in the text itself, quoted after the word: `toggle "new-checkout"`, `flag 'dynamic-pricing'`.
_QUOTED_FLAG = re.compile(r"\b(?:flags?|toggles?)\s+(?:for\s+)?[\"'`](?P<name>[^\"'`\s]+)[\"'`]", re.IGNORECASE)
# key=value pairs inside a plain-text message, as libraries append them (`... reloaded file=/etc/x changed=a,b`).
_PAIR = re.compile(r'\b(?P<key>[A-Za-z_][\w.]*)=(?P<value>"[^"]*"|[^\s;]+)')


def _details(message: str, fields: dict[str, str]) -> dict[str, str]:
    found = {k: v for k, v in fields.items() if _CHANGE_FIELD.search(k) and v}
    for match in _PAIR.finditer(message):
        if _CHANGE_FIELD.search(match["key"]):
            found.setdefault(match["key"], match["value"].strip('"'))
    return found


def announces(message: str) -> bool:
    return any(pattern.search(message) for _, pattern in _LOG_CHANGES)


def changes_in_log(message: str, fields: dict[str, str], at: datetime, component: str | None,
                   query: str) -> list[ChangeEvent]:
    """The change one log line announces, at the line's time, belonging to the component that logged it."""
    for kind, pattern in _LOG_CHANGES:
        if not pattern.search(message):
            continue
        subject = component or "unknown"
        details = _details(message, fields)
        if kind == ChangeKind.FLAG:
            named = next((v for k, v in details.items() if _FLAG_FIELD.search(k) and "/" not in v), None)
            quoted = _QUOTED_FLAG.search(message)
            named = named or (quoted["name"] if quoted else None)
            subject = named.split(",")[0].strip() if named else subject
        return [ChangeEvent(at=at, kind=kind, subject=subject, component=component, source="logs", query=query,
                            description=f"{component or 'a service'} logged: {message.strip()[:200]}",
                            diff=[f"{k}={v}" for k, v in details.items()])]
    return []


_KEY = re.compile(r"^(?:key\s+)?(?P<key>[\w.-]+)")


def _keys_of(edit: ChangeEvent) -> set[str]:
    """The data keys an edit touched, from its diff ("RETRY_MAX: 2 -> 5", "RETRY_MAX = 5", "key password changed")."""
    return {m["key"] for d in edit.diff if (m := _KEY.match(d))}


def _named_keys(change: ChangeEvent) -> set[str]:
    return {k.strip() for d in change.diff for k in re.split(r"[,\s]+", d.partition("=")[2]) if k.strip()}


def reloads_as_edits(changes: list[ChangeEvent], cluster: Cluster | None) -> list[ChangeEvent]:
    """A workload announcing that its configuration reloaded is the edit of a ConfigMap it reads: the kubelet
    syncs a mounted ConfigMap within a minute of the edit. The ConfigMap's own managedFields keep only the
    latest time per manager, so a second edit (the revert) hides the first; the reload line still dates it."""
    if cluster is None:
        return changes
    edits = [c for c in changes if c.kind == ChangeKind.CONFIG and c.source == "kubernetes"
             and (c.object_ref or "").startswith("ConfigMap/")]
    return [_as_edit(c, cluster, edits) if c.kind == ChangeKind.CONFIG and c.source == "logs" else c
            for c in changes]


def _as_edit(change: ChangeEvent, cluster: Cluster, edits: list[ChangeEvent]) -> ChangeEvent:
    reader = next((w for w in cluster.workloads.values() if w.name == change.component), None)
    if reader is None:
        return change
    read = [e for e in edits if e.subject in reader.configs and (e.object_ref or "").split("/")[1] == reader.namespace]
    keys = _named_keys(change)
    chosen = next((e for e in read if keys & _keys_of(e)), read[0] if len(read) == 1 else None)
    if chosen is None:
        return change
    changed = sorted(keys & _keys_of(chosen)) or sorted(_keys_of(chosen))
    later = f"; edited again at {chosen.at:%H:%M}" if chosen.at > change.at + timedelta(minutes=2) else ""
    return change.model_copy(update={
        "subject": chosen.subject, "object_ref": chosen.object_ref, "version": chosen.version,
        "diff": [f"key {k} changed" for k in changed],
        "description": f"ConfigMap {chosen.subject} edited (key {', '.join(changed)} changed): {change.component} "
                       f"reloaded it at {change.at:%H:%M}{later}",
        "query": f"{change.query} | {chosen.query}"})
