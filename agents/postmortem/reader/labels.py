"""Labelled facts inside lines: "Root cause: ...", "customers: ~2,600 accounts ...", "impact was APAC only",
"Went poorly: a; b; c". A label opens a line or follows the end of a sentence; its value runs to the next label,
or, for a label inside a line, to the end of its sentence."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Template fields that give a moment: "Started: 14:02", "Acknowledged: 14:05", "Resolved: 15:10".
_MOMENTS = (r"(?:impact\s+)?start(?:ed)?|began|(?:impact\s+)?end(?:ed)?|recovered|detected|acknowledged|acked|"
            r"mitigated|resolved|closed")
MOMENT_KEYS = {"t_start", "t_end", "t_detected", "t_ack", "t_mitigated", "t_resolved"}
_LABEL = (rf"{_MOMENTS}|root\s*ca\w+|(?:the\s+)?cause|trigger|impact\s+window(?:\s+for\s+(?:the\s+)?\w+)?|"
          r"impact\s+for\s+the\s+\w+|impact|error\s+rates?|failure\s+rates?|customers?\s+affected|customer\s+impact|"
          r"customers?|(?:users?|clients?|merchants?|accounts?)\s+affected|"
          r"revenue(?:\s+impact)?|regions?|when|what\s+was\s+(?:not\s+)?(?:good|bad|great|ok)|"
          r"what\s+(?:worked|did(?:n'?t| not) work|hurt|helped)|"
          r"(?:what\s+)?went\s+(?:well|ok|poorly|badly|bad|wrong)|not\s+good|good|bad|"
          r"(?:what\s+)?did(?:n'?t| not)\s+go\s+well|positives?|negatives?|"
          r"(?:where\s+we\s+got\s+)?lucky|lessons?(?:\s+learned)?|todo|action\s+items?|severity|summary|what\s+happened|"
          r"why|how\s+many|how\s+bad|what")
LABEL = re.compile(rf"(?P<lead>^|[.;!?]\s+|\s[-–—]\s)(?P<label>{_LABEL})\s*"
                   r"(?P<sep>:|\s[-–—]\s|(?<=window)\s|(?<=impact)\s+was\b)\s*", re.IGNORECASE)
ONLY_AT_START = {"good", "bad", "not good", "when", "severity", "lucky", "why", "how many", "how bad", "what"}
# A full stop that ends a sentence, not an abbreviation ("approx.", "est. $18k", "e.g.", "vs.").
SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)(?<!approx)(?<!\best)(?<!\bca)(?<!\bvs)(?<!\betc)(?<!\bno)"
                          r"\.(?:\s|$)")
KEYS = [
    (re.compile(r"^(?:impact\s+)?start|^began", re.I), "t_start"),
    (re.compile(r"^(?:impact\s+)?end|^recovered", re.I), "t_end"), (re.compile(r"^detected", re.I), "t_detected"),
    (re.compile(r"^ack", re.I), "t_ack"), (re.compile(r"^mitigated", re.I), "t_mitigated"),
    (re.compile(r"^(?:resolved|closed)", re.I), "t_resolved"),
    (re.compile(r"^(?:error|failure)\s+rates?$", re.I), "error_rate"),
    (re.compile(r"root|cause|^why$", re.I), "root_cause"), (re.compile(r"^how\s+(?:many|bad)$", re.I), "impact"),
    (re.compile(r"trigger", re.I), "trigger"),
    (re.compile(r"window", re.I), "window"), (re.compile(r"customer impact", re.I), "impact"),
    (re.compile(r"customer|users?|clients?|merchants?|accounts?", re.I), "customers"),
    (re.compile(r"impact", re.I), "impact"), (re.compile(r"revenue", re.I), "revenue"),
    (re.compile(r"region", re.I), "regions"), (re.compile(r"when", re.I), "when"),
    (re.compile(r"poorly|bad|wrong|not good|n'?t go|not go|negative|n'?t work|not work|hurt", re.I), "went_poorly"),
    (re.compile(r"well|ok|\bgood\b|positive|great|worked|helped", re.I), "went_well"),
    (re.compile(r"lucky", re.I), "lucky"), (re.compile(r"lesson", re.I), "lessons"),
    (re.compile(r"todo|action", re.I), "actions"), (re.compile(r"severity", re.I), "severity"),
    (re.compile(r"summary|what happened|^what$", re.I), "summary"),
]


@dataclass(frozen=True)
class Labelled:
    key: str
    value: str
    start: int  # where the value starts in the line
    end: int
    at_line_start: bool


def key_of(label: str) -> str:
    label = " ".join(label.lower().split())
    return next(key for pattern, key in KEYS if pattern.search(label))


def labelled(text: str) -> list[Labelled]:
    """Every labelled value in one line, in order."""
    found = []
    matches = [m for m in LABEL.finditer(text)
               if m.start("label") == 0 or (" ".join(m["label"].lower().split()) not in ONLY_AT_START
                                            and key_of(m["label"]) not in MOMENT_KEYS)]
    for i, m in enumerate(matches):
        stop = matches[i + 1].start("label") if i + 1 < len(matches) else len(text)
        at_start = m.start("label") == 0
        value_start = m.end()
        if not at_start:
            end = SENTENCE_END.search(text, value_start)
            stop = min(stop, end.start() if end else stop)
        value = text[value_start:stop].strip(" .;")
        if value:
            found.append(Labelled(key_of(m["label"]), value, value_start, stop, at_start))
    return found
