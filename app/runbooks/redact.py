"""Keeping credentials out of what a step printed, before it is stored, posted or shown.

Redacts the service's own secrets, token shapes (Slack, Anthropic, GitHub, AWS, JWTs, bearer headers, private
keys) and the value of anything written as a password, token, secret or key (`password: hunter2`,
`--token=abc`, `"apiKey": "abc"`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[redacted]"
SHAPES = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.DOTALL),
    re.compile(r"\b(?:xox[abposre]-|xapp-|sk-ant-|sk-|ghp_|gho_|ghs_|github_pat_|glpat-)[A-Za-z0-9_-]{8,}"),
    re.compile(r"\bA(?:KIA|SIA)[A-Z0-9]{16}\b"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),
]
# key: value, key=value, "key": "value": the value goes, the key stays so the reader knows what was there.
NAMED = re.compile(
    r"""(?ix)
    (?P<key>["']?[a-z0-9_.-]*(?:password|passwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?)
       [a-z0-9_.-]*["']?)
    (?P<sep>\s*[:=]\s*)
    (?!\[redacted\])  # a value a token shape already replaced
    (?P<value>"[^"\n]*"|'[^'\n]*'|[^\s,;}\]"']+)
    """)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in sorted((s for s in secrets if len(s) >= 8), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    for shape in SHAPES:
        text = shape.sub(lambda m: (m.group(1) + " " + REDACTED) if m.groups() else REDACTED, text)
    return NAMED.sub(lambda m: f"{m.group('key')}{m.group('sep')}{REDACTED}", text)
